"""Knowledge extraction with an LLM: one call per batch of events, JSON validated by pydantic.

Why batches: one call per message would cost a call per turn; a batch of events gives
the model enough context to resolve who "she" is and what "it" refers to, at a fraction
of the calls. Why the fallback: an LLM that answers garbage must not cost us the memory.
After the retries are spent the failure is recorded and the rule extractor covers the
batch, so raw steps and rule knowledge still exist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ConfigDict, Field

from plugmem.ingest.dates import as_utc, parse_datetime
from plugmem.ingest.entities import EntityIndex, entity_id
from plugmem.ingest.extract import RuleExtractor, knowledge_id
from plugmem.ingest.summarize import clip
from plugmem.llm import LLMJSONError, invoke_json
from plugmem.model import Edge, Entity, Event, Extraction, ExtractionFailure, Knowledge, LLMUsage, Step
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
    confidence: float = Field(default=0.7, ge=0.0, le=1.0)
    source_ids: list[str] = Field(min_length=1)
    event_id: str | None = None
    entities: list[str] = Field(default_factory=list)


class PrescriptionOut(BaseModel):
    model_config = ConfigDict(extra="ignore")
    goal: str = Field(min_length=2)
    steps: list[str] = Field(min_length=1)
    conditions: list[str] = Field(default_factory=list)
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


SYSTEM_PROMPT = """You turn an agent's episodes into long-term memory.
For the events below, extract:
- propositions: facts worth remembering about people, places, plans, preferences and the world. Make each
  statement self-contained: names instead of pronouns ("I" is the speaker), relative dates resolved to absolute
  dates using the timestamps. Skip greetings, chit-chat and questions.
- prescriptions: procedures that worked or were advised: a goal, ordered steps (tool names with key
  arguments for tool sequences), and conditions.
- entities: people, places, organisations, titles; aliases only when the text says two names are the same.
- relations between events: cause, elaboration or update (src and dst are event ids).
- summaries: one or two sentences per event.
Every source_ids entry must be a step id shown in brackets; every event id must be one shown.
Answer with only a JSON object of this shape:
{"propositions": [{"statement": str, "subject": str, "predicate": str, "object": str, "event_time": "YYYY-MM-DD"|null,
  "confidence": 0..1, "source_ids": [step id], "event_id": event id, "entities": [name]}],
 "prescriptions": [{"goal": str, "steps": [str], "conditions": [str], "source_ids": [step id], "event_id": event id,
  "confidence": 0..1}],
 "entities": [{"name": str, "aliases": [str], "kind": "person"|"place"|"org"|"thing"}],
 "relations": [{"src": event id, "dst": event id, "label": "cause"|"elaboration"|"update"}],
 "summaries": [{"event_id": event id, "summary": str}]}"""


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
    ) -> None:
        self.llm = llm
        self.max_retries = max_retries
        self.batch_events = max(1, batch_events)
        self.known = list(entities)
        self.tokens = tokens
        self.fallback = fallback or RuleExtractor(entities=entities)

    def extract(self, events: Sequence[Event], steps: Mapping[str, Step]) -> Extraction:
        """Never raises: a batch the model cannot do is recorded as a failure and done by rules."""
        out = Extraction()
        entity_ids: set[str] = set()
        for i in range(0, len(events), self.batch_events):
            batch = list(events[i : i + self.batch_events])
            part = self._batch(batch, steps)
            out.knowledge.extend(part.knowledge)
            out.edges.extend(part.edges)
            out.failures.extend(part.failures)
            out.usage.add(part.usage)
            out.event_summaries.update(part.event_summaries)
            for e in part.entities:
                if e.id not in entity_ids:
                    entity_ids.add(e.id)
                    out.entities.append(e)
        return out

    def messages(self, batch: Sequence[Event], steps: Mapping[str, Step]) -> list[BaseMessage]:
        return [SystemMessage(SYSTEM_PROMPT), HumanMessage(render_batch(batch, steps))]

    def _batch(self, batch: Sequence[Event], steps: Mapping[str, Step]) -> Extraction:
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

        try:
            answer, usage = invoke_json(
                self.llm,
                self.messages(batch, steps),
                ExtractionOut,
                retries=self.max_retries,
                validate=validate,
                counter=self.tokens,
            )
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
        return result

    def _convert(
        self, answer: ExtractionOut, batch: Sequence[Event], steps: Mapping[str, Step]
    ) -> Extraction:
        out = Extraction()
        namespace = batch[0].namespace
        index = EntityIndex(namespace, self.known)
        index.observe([steps[sid] for ev in batch for sid in ev.step_ids if sid in steps])
        for e in answer.entities:
            index.add(e.name, e.kind)
            for alias in e.aliases:
                index.merge(alias, e.name, "LLM")
        event_of = {sid: ev.id for ev in batch for sid in ev.step_ids}
        used: dict[str, None] = {}

        def canon(name: str) -> str:
            c = index.canonical(name) or index.add(name.strip())
            used[c] = None
            return c

        def when(ids: Sequence[str]) -> datetime | None:
            ts = [steps[i].timestamp for i in ids if i in steps]
            return min(ts) if ts else None

        for p in answer.propositions:
            ids = list(dict.fromkeys(p.source_ids))
            event_time = parse_datetime(p.event_time) if p.event_time else None
            k = Knowledge(
                id=knowledge_id(namespace, "proposition", p.statement, ids),
                namespace=namespace,
                kind="proposition",
                statement=p.statement.strip(),
                source_ids=ids,
                event_id=p.event_id or event_of.get(ids[0]),
                subject=canon(p.subject) if p.subject else None,
                predicate=p.predicate,
                object=p.object,
                event_time=as_utc(event_time) if event_time else None,
                valid_from=when(ids),
                confidence=p.confidence,
                entities=[canon(x) for x in p.entities],
            )
            out.knowledge.append(k)
        for r in answer.prescriptions:
            ids = list(dict.fromkeys(r.source_ids))
            statement = clip(f"To {r.goal.strip().rstrip('.')}: " + " → ".join(r.steps), 400)
            out.knowledge.append(
                Knowledge(
                    id=knowledge_id(namespace, "prescription", statement, ids),
                    namespace=namespace,
                    kind="prescription",
                    statement=statement,
                    source_ids=ids,
                    event_id=r.event_id or event_of.get(ids[0]),
                    valid_from=when(ids),
                    confidence=r.confidence,
                    entities=[canon(x) for x in index.mentions(r.goal)],
                    goal=r.goal.strip(),
                    steps=list(r.steps),
                    conditions=list(r.conditions),
                )
            )
        for k in out.knowledge:
            out.edges.extend(Edge(k.id, sid, "derived_from") for sid in k.source_ids)
            out.edges.extend(Edge(k.id, entity_id(namespace, name), "mentions") for name in k.entities)
        for ev in batch:
            for name in ev.entities:
                out.edges.append(Edge(ev.id, entity_id(namespace, canon(name)), "mentions"))
            for who in ev.participants:
                canon(who)
        for rel in answer.relations:
            if rel.src != rel.dst:
                out.edges.append(Edge(rel.src, rel.dst, "relates", rel.label))
        for s in answer.summaries:
            out.event_summaries[s.event_id] = s.summary.strip()
        for ent_out in answer.entities:
            canon(ent_out.name)
        for name in used:
            ent = index.entity(name)
            if ent is not None:
                out.entities.append(ent)
        return out
