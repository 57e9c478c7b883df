"""Consolidation: new knowledge meets old. Duplicates merge, changed facts supersede, nothing is deleted.

Why bi-temporal: "Where did Caroline live in 2022?" still needs the fact that is no longer
true. A newer fact about the same subject that fills the same *slot* (a functional relation,
one value at a time: residence, employer, partner, diet, … see `plugmem.ingest.slots`) with a
different value, or that ends the slot ("I left Globex"), closes the old one (valid_until =
the new one's valid_from, superseded_by = its id). Other facts (went to, visited) accumulate.
Procedures that worked again with the same calls merge and count their successes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from plugmem.dates import MIN_TIME
from plugmem.ingest.extract import normalize_statement
from plugmem.ingest.slots import predicate_slot
from plugmem.model import Edge, Entity, Knowledge
from plugmem.text import short_hash, words


def _norm(text: str | None) -> str:
    return " ".join(w for w in words(text or "") if w not in ("a", "an", "the"))


def slots_of(k: Knowledge) -> dict[str, str]:
    """The slots a fact fills: its own, else what its predicate says (facts stored before slots)."""
    if k.slots or k.kind != "proposition":
        return k.slots
    legacy = predicate_slot(k.predicate, k.object)
    return {legacy.relation: legacy.value} if legacy is not None and legacy.value else {}


def _conflicts(new: Knowledge, old: Knowledge) -> bool:
    """True when `new` makes `old` untrue: same slot, another value; or `new` ends that slot."""
    old_slots = slots_of(old)
    for rel, value in slots_of(new).items():
        if rel in old_slots and old_slots[rel] != value and not _ANAPHORIC.match(value):
            return True
    return any(rel in old_slots and value in ("", old_slots[rel]) for rel, value in new.ends.items())


_ANAPHORIC = re.compile(r"^(?:this|that|these|those|it|them|one|some|something|same)\b")


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
    if k.kind == "prescription" and k.tools:
        keys.append("tools|" + "|".join(k.tools))  # the same calls worked again: one procedure, counted
    elif k.kind == "prescription" and k.goal and k.steps:
        keys.append(f"proc|{_norm(k.goal)}|" + "|".join(_norm(s) for s in k.steps))
    return keys


def _slot_key(subject: str, relation: str) -> str:
    return f"slot|{_norm(subject)}|{relation}"


def _hashed(keys: list[str]) -> list[str]:
    return list(dict.fromkeys(short_hash(k, size=16) for k in keys))


def match_keys(k: Knowledge) -> list[str]:
    """The keys a stored fact is found by: its duplicate keys and, while current, the slots it fills.

    Why stored: consolidating a batch needs only the facts it may repeat or supersede, and
    reading them by key (`Store.knowledge_matching`) keeps a batch's cost flat as memory grows.
    A closed fact can no longer be superseded, so it drops its slot keys.
    """
    keys = _dup_keys(k)
    if k.subject and k.valid_until is None:
        keys += [_slot_key(k.subject, rel) for rel in slots_of(k)]
    return _hashed(keys)


def lookup_keys(k: Knowledge) -> list[str]:
    """The keys of the stored facts `k` may duplicate, or supersede by filling or ending their slot."""
    keys = _dup_keys(k)
    if k.subject:
        keys += [_slot_key(k.subject, rel) for rel in [*slots_of(k), *k.ends]]
    return _hashed(keys)


def _merge_into(target: Knowledge, dup: Knowledge) -> Knowledge:
    """One item for both; a procedure seen working again counts the success and keeps the newer call."""
    newer = dup if (_when(dup) or MIN_TIME) >= (_when(target) or MIN_TIME) else target
    procedure = target.kind == "prescription" and bool(target.tools)
    return replace(
        target,
        source_ids=list(dict.fromkeys([*target.source_ids, *dup.source_ids])),
        entities=list(dict.fromkeys([*target.entities, *dup.entities])),
        confidence=max(target.confidence, dup.confidence),
        event_time=target.event_time or dup.event_time,
        valid_from=min((t for t in (target.valid_from, dup.valid_from) if t is not None), default=None),
        conditions=list(dict.fromkeys([*target.conditions, *dup.conditions])),
        lessons=list(dict.fromkeys([*target.lessons, *dup.lessons])),
        successes=target.successes + dup.successes if procedure else target.successes,
        steps=list(newer.steps) if procedure else target.steps,
        outcome=newer.outcome or target.outcome,
    )


class _Folder:
    """The state of one consolidation: what is current, and the indexes that find duplicates and slots."""

    def __init__(self, existing: Sequence[Knowledge]) -> None:
        self.out = Consolidation()
        self.current: dict[str, Knowledge] = {k.id: k for k in existing}
        self.is_new: set[str] = set()
        self.changed: dict[str, str] = {}  # existing id → "close" | "merge"
        self.dups: dict[str, str] = {}
        self.by_slot: dict[str, list[str]] = {}
        for k in existing:
            self._index(k)

    def _index(self, k: Knowledge) -> None:
        for key in _dup_keys(k):
            held = self.dups.get(key)
            if held is None or (self.current[held].valid_until is not None and k.valid_until is None):
                self.dups[key] = k.id
        if k.subject:
            for rel in slots_of(k):
                self.by_slot.setdefault(_slot_key(k.subject, rel), []).append(k.id)

    def duplicate_of(self, k: Knowledge) -> str | None:
        """The stored item `k` repeats, unless that one was superseded before `k` was said."""
        target = next((self.dups[key] for key in _dup_keys(k) if key in self.dups), None)
        if target is None:
            return None
        closed_at, t = self.current[target].valid_until, _when(k)
        if closed_at is not None and t is not None and t >= closed_at:
            return None  # true again after it was superseded: a new fact, not a duplicate
        return target

    def merge(self, k: Knowledge, target: str) -> None:
        self.current[target] = _merge_into(self.current[target], k)
        self.out.merged_ids[k.id] = target
        if target not in self.is_new:
            self.changed.setdefault(target, "merge")

    def rivals(self, k: Knowledge) -> list[Knowledge]:
        """Current facts about the same subject that `k` contradicts (same slot, other value, or ended)."""
        if not k.subject:
            return []
        ids = {i for rel in [*slots_of(k), *k.ends] for i in self.by_slot.get(_slot_key(k.subject, rel), [])}
        found = (self.current[i] for i in sorted(ids))
        return [o for o in found if o.id != k.id and o.valid_until is None and _conflicts(k, o)]

    def add(self, k: Knowledge) -> None:
        item = replace(k)
        for other in self.rivals(item):
            t_new, t_old = _when(item), _when(other)
            if t_new is not None and t_old is not None and t_new < t_old:
                # the incoming fact is the older one: store it closed by the newer
                item = replace(item, valid_until=t_old, superseded_by=other.id)
                self.out.edges.append(Edge(other.id, item.id, "supersedes"))
                continue
            self.current[other.id] = replace(other, valid_until=t_new or t_old, superseded_by=item.id)
            self.out.edges.append(Edge(item.id, other.id, "supersedes"))
            if other.id not in self.is_new:
                self.changed[other.id] = "close"
        self.current[item.id] = item
        self.is_new.add(item.id)
        self._index(item)

    def result(self) -> Consolidation:
        self.out.to_add = [self.current[i] for i in self.current if i in self.is_new]
        for i, what in self.changed.items():
            (self.out.to_close if what == "close" else self.out.merged).append(self.current[i])
        return self.out


def consolidate(new: Sequence[Knowledge], existing: Sequence[Knowledge]) -> Consolidation:
    """Fold `new` knowledge into `existing`; inputs are not mutated.

    `existing` needs only the stored facts sharing a `lookup_keys` key with `new` (or an id):
    the others can neither be repeated nor superseded by it.

    Items are taken in time order, so within one batch "lives in Boston" then "moved to
    Denver" closes Boston. A fact that arrives late (older than the one it conflicts
    with) is added already closed, superseded by the newer one.
    """
    folder = _Folder(existing)
    for k in sorted(new, key=lambda k: (_when(k) or MIN_TIME, k.id)):
        if k.id in folder.current and k.id not in folder.is_new:
            continue  # re-extraction of something already stored: idempotent
        target = folder.duplicate_of(k)
        if target is not None:
            folder.merge(k, target)
        else:
            folder.add(k)
    return folder.result()


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
    by_id: dict[str, Entity] = {e.id: e for e in existing}  # replaced, never mutated in place
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
