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

    @property
    def source_ids(self) -> list[str]:
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
    llm_calls: dict[str, int] = Field(default_factory=dict)  # per operation
    llm_tokens: dict[str, int] = Field(default_factory=dict)
    lexical_only: bool = False
