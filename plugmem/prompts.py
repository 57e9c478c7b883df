"""Every prompt plugmem sends to a chat model, in one place, versioned, overridable per memory.

Why one module: a prompt is part of the behaviour, like a constant; when a prompt changes,
`PROMPTS_VERSION` changes with it, so a stored result or a benchmark can say which prompts
produced it. Why overridable: users of small or local models need to reword prompts for
their model without forking plugmem (`PlugMem.open(prompts={"reason": ...})` or a policy's
`prompts`). An overridden set reports the version `"<version>+custom"`.

Prompts are plain strings; the user message that carries the data (events, recalled items,
the question) is built by the module that owns the data, not here.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

from plugmem.errors import InvalidInputError
from plugmem.ingest.slots import RELATIONS

PROMPTS_VERSION = "2026.12.2"  # .2: facts carry a relation from the shared slot vocabulary

EXTRACT = """You turn an agent's episodes into long-term memory.
For the events below, extract:
- propositions: facts worth remembering about people, places, plans, preferences and the world. Make each
  statement self-contained: names instead of pronouns ("I" is the speaker), relative dates resolved to absolute
  dates using the timestamps. Skip greetings, chit-chat and questions. When a fact fills one of these slots (one
  value at a time), give its relation and value; set "ends" when the fact says the slot no longer holds ("I left
  Globex", "I'm not vegetarian anymore"): {relations}.
- prescriptions: procedures that worked or were advised: a goal, ordered steps (tool names with key
  arguments for tool sequences), and conditions.
- entities: people, places, organisations, titles; aliases only when the text says two names are the same.
- relations between events: cause, elaboration or update (src and dst are event ids).
- summaries: one or two sentences per event.
Every source_ids entry must be a step id shown in brackets; every event id must be one shown.
Answer with only a JSON object of this shape:
{"propositions": [{"statement": str, "subject": str, "predicate": str, "object": str, "event_time": "YYYY-MM-DD"|null,
  "relation": slot|null, "value": str|null, "ends": bool,
  "confidence": 0..1, "source_ids": [step id], "event_id": event id, "entities": [name]}],
 "prescriptions": [{"goal": str, "steps": [str], "conditions": [str], "lessons": [what failed and why],
  "outcome": str|null, "tools": [tool name], "source_ids": [step id], "event_id": event id, "confidence": 0..1}],
 "entities": [{"name": str, "aliases": [str], "kind": "person"|"place"|"org"|"thing"}],
 "relations": [{"src": event id, "dst": event id, "label": "cause"|"elaboration"|"update"}],
 "summaries": [{"event_id": event id, "summary": str}]}"""

# the slot vocabulary the rule extractor uses, so both extractors label facts the same way
EXTRACT = EXTRACT.replace("{relations}", "; ".join(f"{k}: {v}" for k, v in RELATIONS.items()))

PLAN = (
    "You plan memory lookups. Split the question into at most 3 simpler sub-questions, list the entities it "
    'names and any time constraints. Answer only JSON: {"sub_questions": [...], "entities": [...], '
    '"time_constraints": [...]}'
)

WALK = (
    "You explore a memory graph to answer a question. Given what is gathered and candidate memories linked to it, "
    'choose the ids worth following (at most 5). Answer only JSON: {"expand": ["id", ...]}'
)

REFLECT = (
    "Decide whether the gathered memories are enough to answer the question. Answer only JSON: "
    '{"enough": true|false, "missing": "what to look for next, if anything"}'
)

REASON = (
    "You help an agent with its current step using its long-term memory. Below are numbered memories "
    "recalled for the agent's query. If some are relevant, write short guidance for the current step "
    "(at most 3 sentences, facts and steps to follow, with dates where they matter) using only those "
    "memories, and list the numbers of the memories you used. If none is relevant, set relevant to false "
    'and leave guidance empty. Answer only JSON: {"relevant": true|false, "guidance": "...", "used": [1, 2]}'
)


class Prompts(BaseModel):
    """The prompt set one memory uses; build it with `Prompts.with_overrides`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    extract: str = EXTRACT
    plan: str = PLAN
    walk: str = WALK
    reflect: str = REFLECT
    reason: str = REASON
    version: str = PROMPTS_VERSION

    @classmethod
    def names(cls) -> list[str]:
        """The prompts a user may override."""
        return [n for n in cls.model_fields if n != "version"]

    @classmethod
    def with_overrides(cls, *layers: Mapping[str, str] | None) -> Prompts:
        """The defaults with each layer's prompts applied in order (later layers win).

        Unknown names and empty prompts are a clear error: a typo would otherwise
        silently keep the default.
        """
        merged: dict[str, str] = {}
        for layer in layers:
            if not layer:
                continue
            check_overrides(layer)
            merged.update(layer)
        if not merged:
            return cls()
        return cls(**merged, version=f"{PROMPTS_VERSION}+custom")


def check_overrides(overrides: Mapping[str, str]) -> None:
    """Raise `InvalidInputError` unless every key names a prompt and every value is non-empty text."""
    known = Prompts.names()
    for name, text in overrides.items():
        if name not in known:
            raise InvalidInputError(f"unknown prompt {name!r}; the prompts are {', '.join(known)}")
        if not isinstance(text, str) or not text.strip():
            raise InvalidInputError(f"prompt {name!r} must be non-empty text")
