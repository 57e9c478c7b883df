"""Plain data that flows through the pipeline.

Dataclasses inside the pipeline (cheap, explicit); pydantic only at the public
boundary (`Recall`, `RecallItem`, `Stats` live in `plugmem.results`).
All datetimes are timezone-aware UTC. Ids of steps are exactly what the caller
gave; everything else gets a deterministic id derived from its content/origin so
that re-running the pipeline is idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from plugmem.namespace import NamespaceKey

Role = Literal["user", "assistant", "system", "tool"]
KnowledgeKind = Literal["proposition", "prescription"]
SummaryLevel = Literal["session", "day", "week"]
EdgeKind = Literal["next", "part_of", "mentions", "derived_from", "supersedes", "relates"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool invocation requested by an assistant step."""

    id: str
    name: str
    args: dict[str, Any]


@dataclass(slots=True)
class Step:
    """One message or tool call/result, as the agent lived it."""

    id: str
    namespace: NamespaceKey  # namespace key (see plugmem.namespace.ns_key)
    session_id: str
    seq: int  # total order within the namespace, assigned by the store
    role: Role
    content: str
    timestamp: datetime  # event time: when it was said, never ingest time
    name: str | None = None  # speaker name when known ("Caroline")
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None  # for role == "tool"
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Event:
    """A contiguous run of steps about one thing (CompassMem's event)."""

    id: str
    namespace: NamespaceKey
    session_id: str
    step_ids: list[str]
    start: datetime
    end: datetime
    summary: str
    participants: list[str] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)  # canonical entity names
    boundary: str = "start"  # why it starts here: start|session|time_gap|topic_shift|new_goal|tool_done
    quoted: list[str] = field(default_factory=list)  # step ids the summary quotes (its sources)


@dataclass(slots=True)
class Knowledge:
    """A proposition (fact) or prescription (procedure) distilled from events."""

    id: str
    namespace: NamespaceKey
    kind: KnowledgeKind
    statement: str
    source_ids: list[str]  # step ids it was derived from, exactly as given
    event_id: str | None = None
    subject: str | None = None
    predicate: str | None = None
    object: str | None = None
    event_time: datetime | None = None  # when the fact happened (resolved date), if known
    valid_from: datetime | None = None  # when it became true / was stated
    valid_until: datetime | None = None  # closed when superseded; never deleted
    superseded_by: str | None = None
    confidence: float = 0.5
    entities: list[str] = field(default_factory=list)
    # functional relations this fact fills or ends (plugmem.ingest.slots): relation → value key
    slots: dict[str, str] = field(default_factory=dict)
    ends: dict[str, str] = field(default_factory=dict)  # "" as value: ends whatever value it had
    # prescriptions only
    goal: str | None = None
    steps: list[str] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)
    lessons: list[str] = field(default_factory=list)  # what failed and why ("month must be YYYY-MM-DD")
    outcome: str | None = None  # what the procedure achieved the last time it worked
    tools: list[str] = field(default_factory=list)  # tool names of the calls that worked, in order
    successes: int = 1  # times this procedure was seen to work (merged duplicates add up)


@dataclass(slots=True)
class Entity:
    """A canonical name with aliases, linked to what mentions it."""

    id: str
    namespace: NamespaceKey
    name: str
    aliases: list[str] = field(default_factory=list)
    kind: str = "thing"  # person|place|org|thing|date|...


@dataclass(slots=True)
class Summary:
    """A node of the temporal tree: session, day or week."""

    id: str
    namespace: NamespaceKey
    level: SummaryLevel
    key: str  # session id, ISO date, or ISO week ("2023-W19")
    start: datetime
    end: datetime
    text: str
    child_ids: list[str] = field(default_factory=list)
    source_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Edge:
    """A typed link between two nodes (step, event, knowledge, entity, summary)."""

    src: str
    dst: str
    kind: EdgeKind
    label: str | None = None  # for relates: cause|elaboration|update|shared_entity|...
    weight: float = 1.0


@dataclass(slots=True)
class ExtractionFailure:
    """An extraction that could not be done; recorded, never silently dropped."""

    event_ids: list[str]
    extractor: str
    error: str
    attempts: int


@dataclass(slots=True)
class LLMUsage:
    """LLM calls and tokens spent by one operation, and how its answers fared.

    `parsed` answers were used; `retried` counts calls that repeated a question after an
    unusable answer; `truncated` answers were cut at the model's output limit; `fallbacks`
    counts times the rules (or the extractive/deterministic path) did the work instead.
    """

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    parsed: int = 0
    retried: int = 0
    truncated: int = 0
    fallbacks: int = 0

    def add(self, other: LLMUsage) -> None:
        self.calls += other.calls
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.parsed += other.parsed
        self.retried += other.retried
        self.truncated += other.truncated
        self.fallbacks += other.fallbacks

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(slots=True)
class Extraction:
    """What an extractor produced for a batch of events."""

    knowledge: list[Knowledge] = field(default_factory=list)
    entities: list[Entity] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    failures: list[ExtractionFailure] = field(default_factory=list)
    usage: LLMUsage = field(default_factory=LLMUsage)
    event_summaries: dict[str, str] = field(default_factory=dict)  # event id → better summary (LLM)
