"""Current knowledge first: what memory knows was superseded is marked, ranked below its replacement.

Why: a memory that knows "Sam moved to Bristol" closed "Sam lives in Leeds", and still hands
the agent Leeds first and unmarked, is worse than plain search. Stale items are superseded
facts and turns whose every fact was superseded. Each gets a `Stale` note naming what replaced
it; the replacement is pulled into the ranking (if the search missed it) just above it. Whether
stale items are then shown marked, dropped, or left alone is `MemoryPolicy.stale`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from plugmem.index.catalog import Catalog, Doc
from plugmem.recall.context import Scored, Stale

MIN_TS = datetime(1, 1, 2, tzinfo=UTC)
EPS = 1e-6
LOOK = 120  # only the head of the ranking can reach a context; marking the tail is wasted work
MAX_CHAIN = 16  # supersession chains are short; this only guards against a cycle in damaged data


def current_of(cat: Catalog, doc: Doc) -> Doc | None:
    """Follow `superseded_by` to the fact that holds now (None if the chain ends nowhere)."""
    d = doc
    for _ in range(MAX_CHAIN):
        if d.superseded_by is None:
            return d if d.valid_until is None else None
        nxt = cat.docs.get(d.superseded_by)
        if nxt is None:
            return None
        d = nxt
    return None


def _facts(cat: Catalog, turn: Doc) -> list[Doc]:
    return [f for sid in turn.source_ids for f in cat.facts_from(sid) if f.extra.get("kind") == "proposition"]


def _turn_closed(cat: Catalog, turn: Doc) -> tuple[list[Doc], bool]:
    """A turn's superseded facts, and whether it said anything that still holds (partly stale)."""
    facts = _facts(cat, turn)
    closed = [f for f in facts if f.valid_until is not None]
    return closed, len(closed) < len(facts)


def _closed(cat: Catalog, doc: Doc) -> tuple[list[Doc], bool]:
    """The superseded facts that make `doc` stale, and whether it is only partly stale: a fact
    itself, a turn's facts, the facts of an event's quoted turns, a fact's quoted turn (its quote
    may repeat what no longer holds)."""
    if doc.kind == "knowledge" and doc.valid_until is not None:
        return [doc], False
    if doc.kind == "knowledge" and doc.extra.get("kind") == "proposition" and doc.source_ids:
        quoted = cat.docs.get("t:" + doc.source_ids[0])
        return (_turn_closed(cat, quoted)[0], True) if quoted is not None else ([], False)
    if doc.kind == "turn":
        return _turn_closed(cat, doc)
    if doc.kind == "event":
        turns = (cat.docs.get("t:" + sid) for sid in doc.source_ids)
        return [f for t in turns if t is not None for f in _turn_closed(cat, t)[0]], True
    return [], False


def replacements(cat: Catalog, fact: Doc) -> list[Doc]:
    """What holds now in the fact's place: the current facts filling its slots for its subject
    (newest first), else the end of its supersession chain. "User left Globex" ended the job,
    "User is an ML engineer at Northwind" is what the agent should read instead."""
    slots = fact.extra.get("slots")
    subject = fact.extra.get("subject")
    found = {
        d.id: d
        for rel in (slots if isinstance(slots, list) else [])
        for d in cat.with_slot(rel)
        if d.valid_until is None and d.extra.get("subject") == subject and d.id != fact.id
    }
    if found:
        return sorted(found.values(), key=lambda d: d.valid_from or d.timestamp or MIN_TS, reverse=True)
    cur = current_of(cat, fact)
    return [cur] if cur is not None else []


def stale_note(cat: Catalog, doc: Doc) -> Stale | None:
    """Why `doc` no longer holds, or None (see `_closed`)."""
    closed, partly = _closed(cat, doc)
    if not closed:
        return None
    current = [c for f in closed for c in replacements(cat, f) if c.id != doc.id]
    since = min((f.valid_until for f in closed if f.valid_until is not None), default=None)
    by_ids = list(dict.fromkeys(c.id for c in current))
    carriers = by_ids + ["t:" + c.source_ids[0] for c in current if c.source_ids]
    text = current[0].text if current else ""
    return Stale(since=since, by_ids=by_ids, by_text=text, partly=partly, carriers=carriers)


def apply_currency(ranked: Sequence[Scored], cat: Catalog, mode: str, *, pull: bool = True) -> list[Scored]:
    """Mark stale items and rank each replacement just above what it replaced.

    `mode` "keep" leaves the ranking as it is (stale knowledge shown like any other item).
    Without `pull` (the full history, already complete) replacements are not added, only marked.
    """
    if mode == "keep":
        return list(ranked)
    by_id = {s.doc.id: s for s in ranked}
    out = list(ranked)
    for item in ranked[:LOOK]:
        note = stale_note(cat, item.doc)
        if note is None:
            continue
        item.stale = note
        for cid in dict.fromkeys([*note.by_ids, *note.carriers]):
            cur = by_id.get(cid)
            if cur is None and (not pull or note.partly or cid not in note.by_ids):
                continue  # a partly stale item only raises what is already there
            if cur is None:
                cur = Scored(cat.docs[cid], item.score + EPS)
                by_id[cid] = cur
                out.append(cur)
            elif cur.score <= item.score:
                cur.score = item.score + EPS
    out.sort(key=lambda s: -s.score)
    return out
