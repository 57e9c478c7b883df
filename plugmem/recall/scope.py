"""Time-scoped questions: "last week", "in May", "since I moved", "before the marathon".

The window is resolved against the memory's clock (`mem.clock()`), or against when an event in
memory happened ("since I moved" → the time of the move). Items inside the window are lifted,
items said before it lowered; items said after it keep their rank, because a turn is dated by when
it was said, not by what it tells: "I missed two fun runs in March" said in April belongs to March
(lowering those cost LongMemEval-S temporal questions 4 points of evidence at 500 tokens). A soft
filter either way: a wrong guess about the window must not empty the context. A broad look back ("what did I do last week?") gets the temporal tree's summaries
of the window as items, the coarsest that fit inside it first (TiMem), with their turns after.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from plugmem.dates import MAX_TIME, MIN_TIME, TimeRange, find_dates, parse_time_constraints
from plugmem.index.catalog import Catalog, Doc
from plugmem.recall.context import Scored
from plugmem.recall.intent import is_broad

INSIDE = 1.5
BEFORE = 0.75  # said before the window: at most a plan for it
AFTER = 1.0  # said after the window: may well tell what happened in it (see the module docstring)
OUTSIDE_BROAD = 0.1  # "what did I do last week?": what happened before is barely part of the answer
LEVELS = ("week", "day", "session")  # coarsest first
MAX_SUMMARIES = 6
_ANCHORED = re.compile(r"\b(?P<rel>since|before|after)\s+(?P<phrase>[^?.,;!]{3,60})", re.I)

Anchor = Callable[[str], datetime | None]


@dataclass(frozen=True, slots=True)
class TimeScope:
    ranges: list[TimeRange]
    broad: bool
    label: str  # what was resolved, for `Recall.reason`

    def contains(self, ts: datetime) -> bool:
        return any(r.start <= ts <= r.end for r in self.ranges)

    def foretells(self, ts: datetime) -> bool:
        """Said before every range began: it can only announce what the window holds, not tell it."""
        return all(ts < r.start for r in self.ranges)


def _anchored(query: str, now: datetime, anchor: Anchor) -> list[TimeRange]:
    """ "since I moved" → from the move to now; "before the marathon" → up to the marathon."""
    out: list[TimeRange] = []
    for m in _ANCHORED.finditer(query):
        phrase = m.group("phrase").strip()
        if find_dates(phrase, now):
            continue  # a date ("since May") is parse_time_constraints' business
        when = anchor(phrase)
        if when is None:
            continue
        rel = m.group("rel").lower()
        if rel == "before":
            out.append(TimeRange(MIN_TIME, when, "before", m.group(0), m.span()))
        else:
            out.append(TimeRange(when, max(now, when), "after", m.group(0), m.span()))
    return out


def time_scope(query: str, now: datetime, anchor: Anchor) -> TimeScope | None:
    anchored = _anchored(query, now, anchor)
    ranges = [*parse_time_constraints(query, now), *anchored]
    if not ranges:
        return None
    label = "; ".join(f"{r.text!r} → {r.label()}" for r in ranges)
    # the dating clause stays in the search: "how did she feel after the accident" is about the accident
    return TimeScope(ranges, is_broad(query), label)


def _span(doc: Doc) -> tuple[datetime, datetime] | None:
    end = doc.extra.get("end")
    if doc.timestamp is None:
        return None
    return doc.timestamp, end if isinstance(end, datetime) else doc.timestamp


def _window_summaries(cat: Catalog, scope: TimeScope) -> list[Doc]:
    """Summaries lying inside the window, coarsest level first, most recent first within a level."""
    bounded = [r for r in scope.ranges if r.start > MIN_TIME or r.end < MAX_TIME]
    inside: list[tuple[int, datetime, Doc]] = []
    for doc in cat.of_kind("summary"):
        span = _span(doc)
        level = doc.extra.get("level")
        if span is None or level not in LEVELS:
            continue
        if any(r.start <= span[0] and span[1] <= r.end for r in bounded):
            inside.append((LEVELS.index(str(level)), span[0], doc))
    inside.sort(key=lambda t: (t[0], -t[1].timestamp()))
    if not inside:
        return []
    coarsest = inside[0][0]
    return [d for lvl, _, d in inside if lvl == coarsest][:MAX_SUMMARIES]


def _factor(ts: datetime | None, scope: TimeScope) -> float:
    if ts is None:
        return 1.0
    if scope.contains(ts):
        return INSIDE
    if scope.broad:
        return OUTSIDE_BROAD
    return BEFORE if scope.foretells(ts) else AFTER


def apply_scope(ranked: Sequence[Scored], scope: TimeScope, cat: Catalog) -> list[Scored]:
    """Lift what falls inside the window, lower what falls outside; lead with its summaries if broad."""
    out: list[Scored] = []
    for s in ranked:
        s.score *= _factor(s.doc.timestamp, scope)
        out.append(s)
    if scope.broad:
        top = max((s.score for s in out), default=0.0)
        have = {s.doc.id: s for s in out}
        for i, doc in enumerate(_window_summaries(cat, scope)):
            item = have.get(doc.id)
            score = top + 1.0 - i * 1e-3
            if item is None:
                out.append(Scored(doc, score))
            else:
                item.score = score
    out.sort(key=lambda s: -s.score)
    return out
