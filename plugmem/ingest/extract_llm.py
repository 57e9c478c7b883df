"""Knowledge extraction with an LLM: one call per batch of events, validated by pydantic.

Why batches: one call per message would cost a call per turn; a batch of events gives
the model enough context to resolve who "she" is and what "it" refers to, at a fraction
of the calls. Batches are cut to fit the model's context window when its profile gives one.
Why the fallbacks: an LLM that answers garbage must not cost us the memory. An answer cut at
the model's output limit is retried as two half batches; after the retries are spent (or for
a single event that still does not fit) the failure is recorded, counted, and the rule
extractor covers the batch, so raw steps and rule knowledge still exist.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ConfigDict, Field

from plugmem.dates import as_utc, parse_datetime
from plugmem.errors import LLMJSONError, LLMTruncatedError
from plugmem.ingest.entities import EntityIndex, entity_id
from plugmem.ingest.extract import RuleExtractor, knowledge_id
from plugmem.ingest.slots import RELATIONS, value_key
from plugmem.llm import WINDOW_HEADROOM, invoke_structured, max_input_tokens
from plugmem.model import Edge, Entity, Event, Extraction, ExtractionFailure, Knowledge, LLMUsage, Step
from plugmem.prompts import EXTRACT, Prompts
from plugmem.text import clip
from plugmem.tokens import TokenCounter


class PropositionOut(BaseModel):
    model_config = ConfigDict(extra="ignore")
    statement: str = Field(
        min_length=3, description="self-contained fact, names not pronouns, dates absolute"
    )
    subject: str | None = None
    predicate: str | None = None
    object: str | None = None
    event_time: str | None = Field(default=None, description="ISO date the fact happened, if known")
    relation: str | None = Field(
        default=None, description="the slot the fact fills: " + ", ".join(RELATIONS) + " (topic after ':')"
    )
    value: str | None = Field(default=None, description="the slot's value (a city, a company, a diet, ...)")
    ends: bool = Field(default=False, description="the fact says the slot no longer holds")
    confidence: float = Field(default=0.7, ge=0.0, le=1.0)
    source_ids: list[str] = Field(min_length=1)
    event_id: str | None = None
    entities: list[str] = Field(default_factory=list)

    def slot(self) -> tuple[str, str] | None:
        """(relation, value key) in the shared vocabulary, or None for a relation it does not know."""
        rel = (self.relation or "").strip().lower()
        if not rel or rel.split(":", 1)[0] not in RELATIONS:
            return None
        return rel, value_key(self.value or "")


def _slots(p: PropositionOut) -> tuple[dict[str, str], dict[str, str]]:
    """The fact's (slots, ends) as `Knowledge` keeps them: filled, or ended ("" when no value is named)."""
    slot = p.slot()
    if slot is None:
        return {}, {}
    rel, value = slot
    if p.ends:
        return {}, {rel: value}
    return ({rel: value} if value else {}), {}


class PrescriptionOut(BaseModel):
    model_config = ConfigDict(extra="ignore")
    goal: str = Field(min_length=2)
    steps: list[str] = Field(min_length=1)
    conditions: list[str] = Field(default_factory=list)
    lessons: list[str] = Field(
        default_factory=list, description="what failed and why, and what worked instead"
    )
    outcome: str | None = None
    tools: list[str] = Field(
        default_factory=list, description="tool names of the calls that worked, in order"
    )
    source_ids: list[str] = Field(min_length=1)
    event_id: str | None = None
    confidence: float = Field(default=0.7, ge=0.0, le=1.0)


class EntityOut(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    kind: str = "thing"


class RelationOut(BaseModel):
    model_config = ConfigDict(extra="ignore")
    src: str
    dst: str
    label: Literal["cause", "elaboration", "update"]


class SummaryOut(BaseModel):
    model_config = ConfigDict(extra="ignore")
    event_id: str
    summary: str = Field(min_length=1)


class ExtractionOut(BaseModel):
    """The whole answer for one batch."""

    model_config = ConfigDict(extra="ignore")
    propositions: list[PropositionOut] = Field(default_factory=list)
    prescriptions: list[PrescriptionOut] = Field(default_factory=list)
    entities: list[EntityOut] = Field(default_factory=list)
    relations: list[RelationOut] = Field(default_factory=list)
    summaries: list[SummaryOut] = Field(default_factory=list)


SYSTEM_PROMPT = EXTRACT  # the default; a memory may override it (plugmem.prompts)


def _speaker(step: Step) -> str:
    if step.name and step.role in ("user", "assistant"):
        return step.name
    return step.role


def render_batch(events: Sequence[Event], steps: Mapping[str, Step], *, max_step_chars: int = 1200) -> str:
    """The events as the model sees them: ids in brackets, timestamps, speakers, tool calls."""
    blocks: list[str] = []
    for ev in events:
        lines = [f"## Event {ev.id} (session {ev.session_id}, {ev.start:%Y-%m-%d %H:%M} UTC)"]
        for sid in ev.step_ids:
            s = steps.get(sid)
            if s is None:
                continue
            text = clip(s.content, max_step_chars)
            if s.tool_calls:
                calls = "; ".join(f"call {c.name}({c.args})" for c in s.tool_calls)
                text = f"{text} {calls}".strip()
            lines.append(f"[{s.id}] {s.timestamp:%Y-%m-%d %H:%M} {_speaker(s)}: {text}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _id_checker(batch: Sequence[Event], steps: Mapping[str, Step]) -> Callable[[ExtractionOut], None]:
    """A validator that rejects step and event ids the batch does not hold (fed back to the model)."""
    step_ids = {sid for ev in batch for sid in ev.step_ids if sid in steps}
    event_ids = {ev.id for ev in batch}

    def validate(answer: ExtractionOut) -> None:
        cited = {sid for p in answer.propositions for sid in p.source_ids}
        cited |= {sid for r in answer.prescriptions for sid in r.source_ids}
        bad_steps = sorted(cited - step_ids)
        named = [
            *(p.event_id for p in answer.propositions if p.event_id),
            *(p.event_id for p in answer.prescriptions if p.event_id),
            *(r.src for r in answer.relations),
            *(r.dst for r in answer.relations),
            *(s.event_id for s in answer.summaries),
        ]
        bad_events = sorted(set(named) - event_ids)
        problems = []
        if bad_steps:
            problems.append(f"unknown step ids in source_ids: {bad_steps[:10]}")
        if bad_events:
            problems.append(f"unknown event ids: {bad_events[:10]}")
        if problems:
            raise ValueError("; ".join(problems) + f". Valid step ids: {sorted(step_ids)[:60]}")

    return validate


def _merge(out: Extraction, part: Extraction) -> None:
    """Add one batch's extraction to the running result (entities once each)."""
    out.knowledge.extend(part.knowledge)
    out.edges.extend(part.edges)
    out.failures.extend(part.failures)
    out.usage.add(part.usage)
    out.event_summaries.update(part.event_summaries)
    seen = {e.id for e in out.entities}
    out.entities.extend(e for e in part.entities if e.id not in seen)


class _Conversion:
    """One batch's answer turned into knowledge: entity names made canonical, in the order met
    (the order `entities_used` returns them in), ids and times taken from the batch's steps."""

    def __init__(
        self,
        batch: Sequence[Event],
        steps: Mapping[str, Step],
        known: Sequence[Entity],
        entities: Sequence[EntityOut],
    ) -> None:
        self.namespace = batch[0].namespace
        self.steps = steps
        self.index = EntityIndex(self.namespace, known)
        self.index.observe([steps[sid] for ev in batch for sid in ev.step_ids if sid in steps])
        for e in entities:
            self.index.add(e.name, e.kind)
            for alias in e.aliases:
                self.index.merge(alias, e.name, "LLM")
        self.event_of = {sid: ev.id for ev in batch for sid in ev.step_ids}
        self.used: dict[str, None] = {}

    def canon(self, name: str) -> str:
        c = self.index.canonical(name) or self.index.add(name.strip())
        self.used[c] = None
        return c

    def when(self, ids: Sequence[str]) -> datetime | None:
        ts = [self.steps[i].timestamp for i in ids if i in self.steps]
        return min(ts) if ts else None

    def proposition(self, p: PropositionOut) -> Knowledge:
        ids = list(dict.fromkeys(p.source_ids))
        event_time = parse_datetime(p.event_time) if p.event_time else None
        return Knowledge(
            id=knowledge_id(self.namespace, "proposition", p.statement, ids),
            namespace=self.namespace,
            kind="proposition",
            statement=p.statement.strip(),
            source_ids=ids,
            event_id=p.event_id or self.event_of.get(ids[0]),
            subject=self.canon(p.subject) if p.subject else None,
            predicate=p.predicate,
            object=p.object,
            event_time=as_utc(event_time) if event_time else None,
            valid_from=self.when(ids),
            confidence=p.confidence,
            entities=[self.canon(x) for x in p.entities],
            slots=_slots(p)[0],
            ends=_slots(p)[1],
        )

    def prescription(self, r: PrescriptionOut) -> Knowledge:
        ids = list(dict.fromkeys(r.source_ids))
        statement = clip(f"To {r.goal.strip().rstrip('.')}: " + " → ".join(r.steps), 400)
        return Knowledge(
            id=knowledge_id(self.namespace, "prescription", statement, ids),
            namespace=self.namespace,
            kind="prescription",
            statement=statement,
            source_ids=ids,
            event_id=r.event_id or self.event_of.get(ids[0]),
            valid_from=self.when(ids),
            confidence=r.confidence,
            entities=[self.canon(x) for x in self.index.mentions(r.goal)],
            goal=r.goal.strip(),
            steps=list(r.steps),
            conditions=list(r.conditions),
            lessons=list(r.lessons),
            outcome=r.outcome,
            tools=list(r.tools),
        )

    def edges(
        self, knowledge: Sequence[Knowledge], batch: Sequence[Event], relations: Sequence[RelationOut]
    ) -> list[Edge]:
        """Provenance and mentions of the knowledge, the events' mentions, and the answer's relations."""
        ns = self.namespace
        out: list[Edge] = []
        for k in knowledge:
            out.extend(Edge(k.id, sid, "derived_from") for sid in k.source_ids)
            out.extend(Edge(k.id, entity_id(ns, name), "mentions") for name in k.entities)
        for ev in batch:
            for name in ev.entities:
                out.append(Edge(ev.id, entity_id(ns, self.canon(name)), "mentions"))
            for who in ev.participants:
                self.canon(who)
        out.extend(Edge(rel.src, rel.dst, "relates", rel.label) for rel in relations if rel.src != rel.dst)
        return out

    def entities_used(self) -> list[Entity]:
        return [ent for name in self.used if (ent := self.index.entity(name)) is not None]


class LLMExtractor:
    """Extraction by a LangChain chat model, with validation, retries, accounting and a rule fallback."""

    name = "llm"

    def __init__(
        self,
        llm: BaseChatModel,
        *,
        max_retries: int = 2,
        batch_events: int = 8,
        entities: Sequence[Entity] = (),
        tokens: TokenCounter | None = None,
        fallback: RuleExtractor | None = None,
        prompts: Prompts | None = None,
        window_tokens: int | None = None,
    ) -> None:
        self.llm = llm
        self.max_retries = max_retries
        self.batch_events = max(1, batch_events)
        self.known = list(entities)
        self.tokens = tokens or TokenCounter()
        self.fallback = fallback or RuleExtractor(entities=entities)
        self.prompts = prompts or Prompts()
        # the prompt size the model takes (its profile's max_input_tokens, e.g. a local model's)
        self.window_tokens = window_tokens or max_input_tokens(llm)

    def extract(self, events: Sequence[Event], steps: Mapping[str, Step]) -> Extraction:
        """Never raises: a batch the model cannot do is recorded as a failure and done by rules."""
        out = Extraction()
        for batch in self.batches(events, steps):
            _merge(out, self._batch(batch, steps))
        return out

    def messages(self, batch: Sequence[Event], steps: Mapping[str, Step]) -> list[BaseMessage]:
        return [SystemMessage(self.prompts.extract), HumanMessage(render_batch(batch, steps))]

    def prompt_tokens(self, batch: Sequence[Event], steps: Mapping[str, Step]) -> int:
        """The batch's prompt size as the model will see it (tiktoken count with headroom)."""
        n = sum(self.tokens.count(str(m.content)) for m in self.messages(batch, steps))
        return int(n * WINDOW_HEADROOM)

    def batches(self, events: Sequence[Event], steps: Mapping[str, Step]) -> list[list[Event]]:
        """Events in order, at most `batch_events` a batch, each batch within the model's window.

        An event too large for the window on its own still gets its own batch: the model
        call fails, and that failure is counted and covered by the rules like any other.
        """
        out: list[list[Event]] = []
        current: list[Event] = []
        for ev in events:
            fits = (
                self.window_tokens is None or self.prompt_tokens([*current, ev], steps) <= self.window_tokens
            )
            if current and (len(current) >= self.batch_events or not fits):
                out.append(current)
                current = []
            current.append(ev)
        if current:
            out.append(current)
        return out

    def _batch(self, batch: Sequence[Event], steps: Mapping[str, Step]) -> Extraction:
        try:
            answer, usage = invoke_structured(
                self.llm,
                self.messages(batch, steps),
                ExtractionOut,
                retries=self.max_retries,
                validate=_id_checker(batch, steps),
                counter=self.tokens,
            )
        except LLMTruncatedError as exc:
            if len(batch) == 1:
                return self._fall_back(batch, steps, str(exc), exc.attempts, exc.usage)
            half = len(batch) // 2
            result = Extraction(usage=exc.usage)
            _merge(result, self._batch(batch[:half], steps))
            _merge(result, self._batch(batch[half:], steps))
            return result
        except LLMJSONError as exc:
            return self._fall_back(batch, steps, str(exc), exc.attempts, exc.usage)
        except Exception as exc:  # transport or provider error: same treatment, never raised out
            return self._fall_back(batch, steps, f"{type(exc).__name__}: {exc}", 1, LLMUsage(calls=1))
        result = self._convert(answer, batch, steps)
        result.usage.add(usage)
        return result

    def _fall_back(
        self, batch: Sequence[Event], steps: Mapping[str, Step], error: str, attempts: int, usage: LLMUsage
    ) -> Extraction:
        result = self.fallback.extract(batch, steps)
        result.failures.append(
            ExtractionFailure(
                event_ids=[e.id for e in batch], extractor=self.name, error=error, attempts=attempts
            )
        )
        result.usage.add(usage)
        result.usage.fallbacks += 1
        return result

    def _convert(
        self, answer: ExtractionOut, batch: Sequence[Event], steps: Mapping[str, Step]
    ) -> Extraction:
        out = Extraction()
        conv = _Conversion(batch, steps, self.known, answer.entities)
        out.knowledge.extend(conv.proposition(p) for p in answer.propositions)
        out.knowledge.extend(conv.prescription(r) for r in answer.prescriptions)
        out.edges.extend(conv.edges(out.knowledge, batch, answer.relations))
        for s in answer.summaries:
            out.event_summaries[s.event_id] = s.summary.strip()
        for ent_out in answer.entities:
            conv.canon(ent_out.name)
        out.entities.extend(conv.entities_used())
        return out
