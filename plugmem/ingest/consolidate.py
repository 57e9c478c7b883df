"""Consolidation: new knowledge meets old. Duplicates merge, changed facts supersede, nothing is deleted.

Why bi-temporal: "Where did Caroline live in 2022?" still needs the fact that is no longer
true. A newer fact with the same subject and a *functional* relation (one value at a
time: lives in, works at, is married to, favorite X is, has N kids) and a different
object closes the old one (valid_until = the new one's valid_from, superseded_by = its id).
Non-functional relations (likes, went to, visited) accumulate instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from plugmem.ingest.dates import MIN_TIME
from plugmem.ingest.extract import normalize_statement
from plugmem.ingest.summarize import words
from plugmem.model import Edge, Entity, Knowledge

# predicate (lowercased, adverbs dropped) → relation key; anything that means the same slot
_FUNCTIONAL_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), key)
    for p, key in (
        (
            r"^(?:now\s+)?(?:lives?|is\s+living|has\s+been\s+living|resides?|is\s+based)\s+(?:in|at)$",
            "lives_in",
        ),
        (r"^(?:just\s+)?(?:moved|has\s+moved|relocated|is\s+moving)\s+(?:to|in)$", "lives_in"),
        (
            r"^(?:works?|is\s+working|has\s+been\s+working|started\s+working|is\s+employed|got\s+a\s+job)\s+(?:at|for)$",
            "works_at",
        ),
        (r"^(?:works?|is\s+working|is\s+employed)\s+as$", "works_as"),
        (r"^(?:is\s+married|got\s+married|has\s+been\s+married)\s+to$", "spouse"),
        (r"^(?:is\s+)?married$", "spouse"),
        (r"^(?:is\s+engaged|got\s+engaged)\s+to$", "fiance"),
        (r"^(?:is\s+dating|is\s+seeing|is\s+going\s+out\s+with)$", "partner"),
        (
            r"^(?:husband|wife|partner|boyfriend|girlfriend|spouse)(?:'s\s+name)?\s+(?:is|was)$",
            "partner_name",
        ),
        (r"^(?:favou?rite\s+(?P<x>[a-z ]+?))\s+(?:is|are|was)$", "favorite:{x}"),
        (r"^(?P<x>[a-z ]+?)(?:'s|’s)\s+name\s+(?:is|was)$", "name:{x}"),
        (r"^name\s+is$", "name"),
        (r"^age\s+is$", "age"),
        (r"^(?:is\s+studying|studies|majors?\s+in|is\s+majoring\s+in)$", "studies"),
        (r"^(?:drives|is\s+driving)$", "car"),
        (r"^(?:is\s+)?(?:currently\s+)?reading$", "reading"),
    )
)
_NUMBER = re.compile(r"^(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|no)\s+(?P<noun>[a-z]+)")
_AGE = re.compile(r"^(?:\d+|[a-z]+-?[a-z]*)\s+years?\s+old$")
_ADVERBS = re.compile(r"\b(?:just|now|currently|really|also|finally|still|actually|recently|already|so)\b\s*")


def relation_key(predicate: str | None, obj: str | None) -> str | None:
    """The functional slot a (predicate, object) fills, or None when many values can coexist."""
    if not predicate:
        return None
    p = _ADVERBS.sub("", predicate.lower().replace("(with others) ", "")).strip()
    p = " ".join(p.split())
    o = (obj or "").lower().strip()
    for rx, key in _FUNCTIONAL_PATTERNS:
        m = rx.match(p)
        if m:
            return key.format(**{k: v.strip() for k, v in m.groupdict().items() if v})
    if p in ("has", "have", "has got") and o:
        m = _NUMBER.match(o)
        if m:
            noun = m.group("noun").rstrip("s")
            return f"count:{noun}"
    if p in ("is", "turned", "just turned") and _AGE.match(o):
        return "age"
    return None


def _norm(text: str | None) -> str:
    return " ".join(w for w in words(text or "") if w not in ("a", "an", "the"))


_TAIL = re.compile(
    r"\s+(?:for|with|because|since|after|before|from|to|at|on|and|but|so|when|while)\s.*$", re.I
)


_ANAPHORIC = re.compile(r"^(?:this|that|these|those|it|them|one|some|something|same)\b")


def object_head(obj: str | None) -> str:
    """The value a functional slot holds: "Denver for a job at Acme" → "denver"."""
    return _norm(_TAIL.sub("", obj or ""))


@dataclass(slots=True)
class Consolidation:
    """What to write: new items, closed old ones, merged duplicates, and `supersedes` edges."""

    to_add: list[Knowledge] = field(default_factory=list)
    to_close: list[Knowledge] = field(default_factory=list)  # existing items, closed (same id)
    merged: list[Knowledge] = field(default_factory=list)  # existing items with merged provenance (same id)
    edges: list[Edge] = field(default_factory=list)
    merged_ids: dict[str, str] = field(default_factory=dict)  # new id → id it was merged into


def _when(k: Knowledge) -> datetime | None:
    return k.valid_from or k.event_time


def _dup_keys(k: Knowledge) -> list[str]:
    keys = [f"{k.kind}|text|{normalize_statement(k.statement)}"]
    if k.kind == "proposition" and k.subject and k.predicate and k.object:
        keys.append(f"spo|{_norm(k.subject)}|{_norm(k.predicate)}|{_norm(k.object)}")
    if k.kind == "prescription" and k.goal and k.steps:
        keys.append(f"proc|{_norm(k.goal)}|" + "|".join(_norm(s) for s in k.steps))
    return keys


def _merge_into(target: Knowledge, dup: Knowledge) -> Knowledge:
    return replace(
        target,
        source_ids=list(dict.fromkeys([*target.source_ids, *dup.source_ids])),
        entities=list(dict.fromkeys([*target.entities, *dup.entities])),
        confidence=max(target.confidence, dup.confidence),
        event_time=target.event_time or dup.event_time,
        valid_from=min((t for t in (target.valid_from, dup.valid_from) if t is not None), default=None),
        conditions=list(dict.fromkeys([*target.conditions, *dup.conditions])),
    )


def consolidate(new: Sequence[Knowledge], existing: Sequence[Knowledge]) -> Consolidation:
    """Fold `new` knowledge into `existing`; inputs are not mutated.

    Items are taken in time order, so within one batch "lives in Boston" then "moved to
    Denver" closes Boston. A fact that arrives late (older than the one it conflicts
    with) is added already closed, superseded by the newer one.
    """
    out = Consolidation()
    current: dict[str, Knowledge] = {k.id: k for k in existing}
    is_new: set[str] = set()
    changed_existing: dict[str, str] = {}  # id → "close" | "merge"
    dup_index: dict[str, str] = {}
    slot_index: dict[tuple[str, str], list[str]] = {}

    def index(k: Knowledge) -> None:
        for key in _dup_keys(k):
            held = dup_index.get(key)
            if held is None or (current[held].valid_until is not None and k.valid_until is None):
                dup_index[key] = k.id
        rk = relation_key(k.predicate, k.object) if k.kind == "proposition" and k.subject else None
        if rk is not None and k.subject:
            slot_index.setdefault((_norm(k.subject), rk), []).append(k.id)

    for k in existing:
        index(k)
    order = sorted(new, key=lambda k: (_when(k) or MIN_TIME, k.id))
    for k in order:
        if k.id in current and k.id not in is_new:
            continue  # re-extraction of something already stored: idempotent
        target_id = next((dup_index[key] for key in _dup_keys(k) if key in dup_index), None)
        if target_id is not None:
            closed_at = current[target_id].valid_until
            t = _when(k)
            if closed_at is not None and t is not None and t >= closed_at:
                target_id = None  # true again after it was superseded: a new fact, not a duplicate
        if target_id is not None:
            merged = _merge_into(current[target_id], k)
            current[target_id] = merged
            out.merged_ids[k.id] = target_id
            if target_id not in is_new:
                changed_existing.setdefault(target_id, "merge")
            continue
        item = replace(k)
        rk = (
            relation_key(item.predicate, item.object) if item.kind == "proposition" and item.subject else None
        )
        if rk is not None and item.subject:
            for other_id in slot_index.get((_norm(item.subject), rk), []):
                other = current[other_id]
                if other.valid_until is not None or object_head(other.object) == object_head(item.object):
                    continue
                if _ANAPHORIC.match(object_head(item.object)):
                    continue  # "is reading this book": which book is unknown, so no change is known
                t_new, t_old = _when(item), _when(other)
                if t_new is not None and t_old is not None and t_new < t_old:
                    # the incoming fact is the older one: store it closed by the newer
                    item = replace(item, valid_until=t_old, superseded_by=other.id)
                    out.edges.append(Edge(other.id, item.id, "supersedes"))
                    continue
                closed_at = t_new or t_old
                current[other_id] = replace(other, valid_until=closed_at, superseded_by=item.id)
                out.edges.append(Edge(item.id, other_id, "supersedes"))
                if other_id not in is_new:
                    changed_existing[other_id] = "close"
        current[item.id] = item
        is_new.add(item.id)
        index(item)
    out.to_add = [current[i] for i in current if i in is_new]
    for i, what in changed_existing.items():
        (out.to_close if what == "close" else out.merged).append(current[i])
    return out


@dataclass(slots=True)
class EntityConsolidation:
    """Entities to upsert, and ids folded into another entity (old id → surviving id)."""

    upsert: list[Entity] = field(default_factory=list)
    merged: dict[str, str] = field(default_factory=dict)


def consolidate_entities(new: Sequence[Entity], existing: Sequence[Entity]) -> EntityConsolidation:
    """Merge entities whose names are another's alias; aliases only exist where evidence was seen.

    Never merges on name similarity: "Jon" and "John" stay two people unless an alias says otherwise.
    """
    out = EntityConsolidation()
    by_id: dict[str, Entity] = {e.id: replace(e, aliases=list(e.aliases)) for e in existing}
    changed: set[str] = set()
    for e in new:
        if e.id in by_id:
            cur = by_id[e.id]
            aliases = list(dict.fromkeys([*cur.aliases, *e.aliases]))
            kind = cur.kind if cur.kind != "thing" else e.kind
            if aliases != cur.aliases or kind != cur.kind:
                by_id[e.id] = replace(cur, aliases=aliases, kind=kind)
                changed.add(e.id)
        else:
            by_id[e.id] = replace(e, aliases=list(e.aliases))
            changed.add(e.id)
    # an entity whose name is someone else's alias folds into them
    names = {ent.name.lower(): i for i, ent in by_id.items()}
    for i, ent in list(by_id.items()):
        for alias in ent.aliases:
            other = names.get(alias.lower())
            if other is None or other == i or other in out.merged or i in out.merged:
                continue
            folded = by_id[other]
            by_id[i] = replace(
                by_id[i],
                aliases=list(dict.fromkeys([*by_id[i].aliases, *folded.aliases])),
                kind=by_id[i].kind if by_id[i].kind != "thing" else folded.kind,
            )
            out.merged[other] = i
            changed.add(i)
    out.upsert = [by_id[i] for i in by_id if i in changed and i not in out.merged]
    return out
