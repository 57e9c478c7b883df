"""Public result types returned by `PlugMem` (pydantic at the boundary)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Tier = Literal["full", "fast", "deep"]
ItemKind = Literal["turn", "event", "knowledge", "summary"]


class RecallItem(BaseModel):
    """One piece of recalled memory, traceable to what was actually said."""

    id: str
    text: str
    kind: ItemKind
    score: float
    timestamp: datetime | None = None
    source_ids: list[str] = Field(default_factory=list)  # message ids exactly as given
    session_id: str | None = None
    tier: Tier = "fast"
    tokens: int = 0
    # knowledge: when it held; for a superseded fact, or a turn whose facts were all superseded,
    # when it stopped and the ids of the items that replaced it
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    superseded_by: list[str] = Field(default_factory=list)


class Guidance(BaseModel):
    """Short guidance for the agent's current step, distilled from recalled items (`PlugMem.reason`).

    `llm` says whether a model wrote it or it was picked extractively (no model, or the model
    failed); `source_ids` are the message ids behind the items it used, `item_ids` those items.
    """

    text: str
    source_ids: list[str] = Field(default_factory=list)
    item_ids: list[str] = Field(default_factory=list)
    llm: bool = False


class Recall(BaseModel):
    """What `recall` returns: a prompt-ready context plus the items behind it."""

    query: str
    context: str
    items: list[RecallItem]
    tokens: int
    budget_tokens: int
    tier: Tier
    reason: str
    latency_ms: float
    llm_calls: int = 0
    llm_tokens: int = 0
    guidance: Guidance | None = None  # set by `reason`; None when nothing recalled is relevant

    @property
    def source_ids(self) -> list[str]:
        """The stored message ids the recalled items come from, each once, in item order."""
        seen: dict[str, None] = {}
        for it in self.items:
            for s in it.source_ids:
                seen.setdefault(s, None)
        return list(seen)


class Stats(BaseModel):
    """Counts and health of one memory (optionally one namespace)."""

    namespaces: int
    steps: int
    sessions: int
    events: int
    propositions: int
    prescriptions: int
    entities: int
    summaries: int
    pending: int  # logged but not yet processed
    failures: int  # extraction/indexing failures recorded
    retries: int
    quarantined: int = 0  # steps set aside after failing alone; retried with backoff, on flush and on open
    ingest_paused: str | None = None  # why background ingest waits (e.g. a full disk), else None
    recalls: dict[str, int] = Field(default_factory=dict)  # per tier
    escalation_rate: float = 0.0  # share of `auto` recalls (that could not use full history) sent deep
    llm_calls: dict[str, int] = Field(default_factory=dict)  # per role: extract, plan, reason
    llm_tokens: dict[str, int] = Field(default_factory=dict)
    # per role: answers parsed, calls retried, answers truncated, fallbacks to rules/extractive/deterministic
    llm_outcomes: dict[str, dict[str, int]] = Field(default_factory=dict)
    prompts_version: str = ""
    lexical_only: bool = False
