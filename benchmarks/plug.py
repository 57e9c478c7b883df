"""Driving plugmem from a benchmark: ingest haystacks, read rankings off a `Recall`."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby

from benchmarks.common import Stopwatch, progress
from benchmarks.data import Conversation
from benchmarks.metrics import dedupe
from plugmem import PlugMem, Recall


def namespace(conv: Conversation) -> tuple[str, str]:
    return ("bench", conv.id)


def ingest(mem: PlugMem, convs: Sequence[Conversation], desc: str) -> dict[str, float]:
    """Add every session as one call (the way an agent logs a finished exchange), then flush.

    Timed end to end: durable logging, segmentation, extraction, embedding and indexing.
    """
    turns = sum(len(c.turns) for c in convs)
    clock = Stopwatch()
    add_s = 0.0
    for conv in progress(convs, desc):
        for session, group in groupby(conv.turns, key=lambda t: t.session):
            batch = list(group)
            t0 = Stopwatch()
            mem.add([t.message() for t in batch], namespace=namespace(conv), session_id=session)
            add_s += t0.s
    mem.flush()
    total = clock.s
    return {
        "turns": turns,
        "seconds": round(total, 2),
        "turns_per_s": round(turns / total, 1),
        "add_ms_per_turn": round(add_s * 1000 / turns, 3),
    }


def ranked_ids(recall: Recall) -> list[str]:
    """Message ids in order of the items' scores (an item cites the turns it came from)."""
    items = sorted(recall.items, key=lambda it: -it.score)
    return dedupe(s for it in items for s in it.source_ids)
