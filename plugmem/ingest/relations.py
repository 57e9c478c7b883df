"""Event graph edges: time order, shared entities, and the relations an LLM found.

Why: retrieval that can walk from an event to what came next, to other events about the
same person or place, or to the event that caused or updated it, finds answers that
similarity search alone misses (CompassMem). Fan-out is bounded so popular entities do
not turn the graph into a hairball.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import pairwise

from plugmem.model import Edge, Event, Summary

LLM_LABELS = frozenset({"cause", "elaboration", "update", "contradiction", "temporal"})


def next_edges(new: Sequence[Event], existing: Sequence[Event] = ()) -> list[Edge]:
    """`next` between consecutive events of a namespace (by start time) where one of them is new."""
    new_ids = {e.id for e in new}
    by_ns: dict[str, dict[str, Event]] = {}
    for e in [*existing, *new]:
        by_ns.setdefault(e.namespace, {})[e.id] = e  # a re-emitted (extended) event replaces its old copy
    out: list[Edge] = []
    for events in by_ns.values():
        ordered = sorted(events.values(), key=lambda e: (e.start, e.end, e.id))
        for a, b in pairwise(ordered):
            if a.id in new_ids or b.id in new_ids:
                out.append(Edge(a.id, b.id, "next"))
    return out


def shared_entity_edges(
    new: Sequence[Event], existing: Sequence[Event] = (), *, max_fanout: int = 5, max_share: float = 0.5
) -> list[Edge]:
    """`relates`/shared_entity from each new event to the most recent earlier events naming the same entities.

    Participants (the speakers) are not evidence of relatedness: they are in every event.
    Entities that appear in more than `max_share` of the events are ignored for the same
    reason. Each new event gets at most `max_fanout` such edges, strongest (rarest shared
    entities, then most recent) first; weight is the summed rarity, capped at 1.
    """
    pool: dict[str, Event] = {e.id: e for e in [*existing, *new]}
    events = sorted(pool.values(), key=lambda e: (e.start, e.id))

    def ents(e: Event) -> set[str]:
        parts = {p.lower() for p in e.participants}
        return {x.lower() for x in e.entities if x.lower() not in parts}

    df: Counter[str] = Counter()
    for e in events:
        df.update(ents(e))
    n = len(events)
    limit = max(2, int(max_share * n)) if n >= 4 else n
    rare = {x for x, c in df.items() if c <= limit}
    position = {e.id: i for i, e in enumerate(events)}
    out: list[Edge] = []
    for e in new:
        mine = ents(e) & rare
        if not mine:
            continue
        scored: list[tuple[float, int, str]] = []
        for other in events[: position[e.id]]:
            if other.namespace != e.namespace:
                continue
            shared = mine & ents(other)
            if shared:
                score = sum(math.log(1 + n / df[x]) for x in shared)
                scored.append((score, position[other.id], other.id))
        scored.sort(key=lambda t: (-t[0], -t[1]))
        top = max((s for s, _, _ in scored), default=1.0) or 1.0
        for score, _, oid in scored[:max_fanout]:
            out.append(Edge(e.id, oid, "relates", "shared_entity", round(min(1.0, score / top), 3)))
    return out


def llm_relation_edges(edges: Iterable[Edge], known_event_ids: Iterable[str]) -> list[Edge]:
    """LLM-found cause/elaboration/update relations, kept only between events that exist."""
    known = set(known_event_ids)
    out: list[Edge] = []
    for e in edges:
        if (
            e.kind == "relates"
            and e.label in LLM_LABELS
            and e.src in known
            and e.dst in known
            and e.src != e.dst
        ):
            out.append(e)
    return out


def event_edges(
    new: Sequence[Event],
    existing: Sequence[Event] = (),
    *,
    llm_edges: Iterable[Edge] = (),
    max_fanout: int = 5,
) -> list[Edge]:
    """All event-graph edges for `new` events: next, shared_entity, and LLM relations passed through."""
    known = [e.id for e in existing] + [e.id for e in new]
    out = [*next_edges(new, existing), *shared_entity_edges(new, existing, max_fanout=max_fanout)]
    out.extend(llm_relation_edges(llm_edges, known))
    seen: set[tuple[str, str, str, str | None]] = set()
    unique: list[Edge] = []
    for e in out:
        key = (e.src, e.dst, e.kind, e.label)
        if key not in seen:
            seen.add(key)
            unique.append(e)
    return unique


def tree_edges(summaries: Sequence[Summary]) -> list[Edge]:
    """`part_of` from each child (event or lower summary) to its summary node."""
    return [Edge(child, s.id, "part_of") for s in summaries for child in s.child_ids]
