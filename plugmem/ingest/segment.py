"""Event segmentation: cut a stream of steps into events, each a contiguous run about one thing.

Boundaries, strongest first: a new session, a pause longer than `gap_minutes`, a new user
goal after a tool sequence, a finished tool sequence, and a topic shift. A topic shift is a
dip in similarity between the windows of steps either side of a gap, judged against the
stream's own distribution (mean − k·std) rather than a fixed constant: conversations
differ in how much adjacent turns overlap, so only the stream knows what a dip is.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

from plugmem.ingest.entities import EntityIndex
from plugmem.ingest.summarize import condense, summarize_steps
from plugmem.model import Event, Step
from plugmem.namespace import NamespaceKey
from plugmem.text import content_words, cosine, counter_cosine, short_hash

Vector = Sequence[float]


def event_id(namespace: NamespaceKey, first_step_id: str) -> str:
    """Deterministic: an event is named after where it starts."""
    return "ev-" + short_hash(namespace, first_step_id)


@dataclass(slots=True)
class _ToolState:
    """Where an agent episode is: tools were used; their results were answered."""

    used: bool = False
    answered: bool = False

    def feed(self, s: Step) -> None:
        if s.tool_calls or s.role == "tool":
            self.used = True
            self.answered = False
        elif s.role == "assistant" and self.used and s.content.strip():
            self.answered = True


def _hard_reason(prev: Step, cur: Step, state: _ToolState, gap_minutes: float) -> str | None:
    if cur.session_id != prev.session_id:
        return "session"
    if (cur.timestamp - prev.timestamp).total_seconds() > gap_minutes * 60:
        return "time_gap"
    if cur.role == "user" and state.used:
        return "new_goal"
    if state.answered and cur.role != "tool":
        return "tool_done"
    return None


def _is_tool_step(s: Step) -> bool:
    return bool(s.tool_calls) or s.role == "tool"


class _Features:
    """Window similarity over step vectors, or over term counts when there are none."""

    def __init__(self, steps: Sequence[Step], vectors: Sequence[Vector] | None) -> None:
        self.vectors = vectors
        self.bags = None if vectors is not None else [Counter(content_words(self._text(s))) for s in steps]

    @staticmethod
    def _text(s: Step) -> str:
        calls = " ".join(c.name for c in s.tool_calls)
        return f"{s.content} {calls}"

    def similarity(self, left: range, right: range) -> float:
        if self.vectors is not None:
            lv = _mean([self.vectors[i] for i in left])
            rv = _mean([self.vectors[i] for i in right])
            return cosine(lv, rv)
        assert self.bags is not None
        lb: Counter[str] = Counter()
        rb: Counter[str] = Counter()
        for i in left:
            lb.update(self.bags[i])
        for i in right:
            rb.update(self.bags[i])
        return counter_cosine(lb, rb)


def _mean(vs: Sequence[Vector]) -> list[float]:
    n = len(vs)
    return [sum(v[d] for v in vs) / n for d in range(len(vs[0]))]


@dataclass(slots=True)
class _Stream:
    """The steps one call segments: the open event's known steps, then the new ones."""

    steps: list[Step]
    vectors: list[Vector] | None  # one per step, or None: similarity is then lexical
    n_prev: int  # how many of `steps` belong to the open event already

    def __len__(self) -> int:
        return len(self.steps)


def _stream(
    steps: Sequence[Step],
    vectors: Sequence[Vector] | None,
    previous: Event | None,
    previous_steps: Sequence[Step],
    previous_vectors: Sequence[Vector] | None,
) -> _Stream:
    """Join the open event's steps (same session only) to the new ones, with vectors when all have one."""
    prev_steps = list(previous_steps) if previous is not None else []
    if previous is not None and prev_steps and prev_steps[-1].session_id != steps[0].session_id:
        prev_steps = []
    all_steps = [*prev_steps, *steps]
    n_prev = len(prev_steps)
    use_vectors = (
        vectors is not None and len(vectors) == len(steps) and (n_prev == 0 or previous_vectors is not None)
    )
    all_vectors: list[Vector] | None = None
    if use_vectors and vectors is not None:
        all_vectors = [*(previous_vectors or [])[:n_prev], *vectors]
        if len(all_vectors) != len(all_steps):
            all_vectors = None
    return _Stream(all_steps, all_vectors, n_prev)


def _junction_reason(previous: Event | None, stream: _Stream, gap_minutes: float) -> str | None:
    """Why the first step starts a new event, judged from the open event alone (its steps unseen)."""
    if previous is None:
        return "start"
    if stream.n_prev:
        return None
    first = stream.steps[0]
    if first.session_id != previous.session_id:
        return "session"
    if (first.timestamp - previous.end).total_seconds() > gap_minutes * 60:
        return "time_gap"
    return None


def _hard_boundaries(stream: _Stream, previous: Event | None, gap_minutes: float) -> dict[int, str]:
    """Session, time gap, new goal, finished tool sequence: index into the stream → reason."""
    reasons: dict[int, str] = {}
    first = _junction_reason(previous, stream, gap_minutes)
    if first is not None:
        reasons[0] = first
    state = _ToolState()
    for s in stream.steps[: stream.n_prev]:
        state.feed(s)
    for i in range(max(1, stream.n_prev), len(stream)):
        if i == stream.n_prev and 0 in reasons:
            state = _ToolState()
            state.feed(stream.steps[i])
            continue
        r = _hard_reason(stream.steps[i - 1], stream.steps[i], state, gap_minutes)
        if r is not None:
            reasons[i] = r
            state = _ToolState()
        state.feed(stream.steps[i])
    n_prev = stream.n_prev
    if n_prev and previous is not None and n_prev not in reasons:
        gap = (stream.steps[n_prev].timestamp - previous.end).total_seconds()
        if gap > gap_minutes * 60:
            reasons[n_prev] = "time_gap"
    return reasons


def _gap_similarities(stream: _Stream, bounds: Sequence[int], window: int) -> dict[int, float]:
    """Similarity of the windows either side of every gap inside a hard segment (tool steps skipped)."""
    feats = _Features(stream.steps, stream.vectors)
    sims: dict[int, float] = {}
    for a, b in pairwise(bounds):
        for i in range(a + 1, b):
            if _is_tool_step(stream.steps[i]) or _is_tool_step(stream.steps[i - 1]):
                continue
            left = range(max(a, i - window), i)
            right = range(i, min(b, i + window))
            sims[i] = feats.similarity(left, right)
    return sims


def _topic_shifts(
    sims: Mapping[int, float],
    bounds: Sequence[int],
    stream: _Stream,
    *,
    k: float,
    min_samples: int,
    min_steps: int,
    offset: int,
) -> set[int]:
    """Dips below mean − k·std of this stream that are local minima, with `min_steps` both sides."""
    topic: set[int] = set()
    values = list(sims.values())
    if len(values) < min_samples:
        return topic
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    threshold = mean - k * std
    if std <= 1e-6:
        return topic
    cands = [
        i
        for i, v in sims.items()
        if i >= stream.n_prev
        and v < threshold
        and v <= sims.get(i - 1, math.inf)
        and v <= sims.get(i + 1, math.inf)
    ]
    for i in sorted(cands, key=lambda i: (sims[i], i)):
        if _fits(i, bounds, topic, len(stream), min_steps, offset):
            topic.add(i)
    return topic


def _overlong_cut(
    a: int, b: int, sims: Mapping[int, float], stream: _Stream, *, offset: int, min_steps: int, max_steps: int
) -> int | None:
    """Where to split the run [a, b) when it is longer than `max_steps`: its weakest gap."""
    carried = offset if a == 0 else 0
    if b - a + carried <= max_steps:
        return None
    lo, hi = max(a + min_steps - carried, stream.n_prev, a + 1), b - min_steps
    options = [i for i in range(lo, hi + 1) if i in sims] or [
        max(a + 1, min(b - 1, lo + max_steps - min_steps))
    ]
    return min(options, key=lambda i: (sims.get(i, 0.0), i))


def _cap_lengths(
    reasons: dict[int, str],
    sims: Mapping[int, float],
    stream: _Stream,
    *,
    offset: int,
    min_steps: int,
    max_steps: int,
) -> None:
    """Split overlong runs at their weakest gap, one cut at a time, until every run fits."""
    starts = sorted({0, *reasons})
    changed = True
    while changed:
        changed = False
        ends = [*starts[1:], len(stream)]
        for a, b in zip(starts, ends, strict=True):
            cut = _overlong_cut(a, b, sims, stream, offset=offset, min_steps=min_steps, max_steps=max_steps)
            if cut is None:
                continue
            reasons[cut] = "max_length"
            starts = sorted({*starts, cut})
            changed = True
            break


def _build_events(
    stream: _Stream, reasons: Mapping[int, str], previous: Event | None, index: EntityIndex
) -> list[Event]:
    """One event per run between boundaries; the open event's run extends it (same id)."""
    starts = sorted({0, *reasons})
    out: list[Event] = []
    for a, b in zip(starts, [*starts[1:], len(stream)], strict=True):
        if b <= stream.n_prev:
            continue  # the open event, unchanged: a boundary right at the junction
        run = stream.steps[a:b]
        run_vectors = list(stream.vectors[a:b]) if stream.vectors is not None else None
        if a == 0 and previous is not None and 0 not in reasons:
            new = run[stream.n_prev :]
            ev = _extend(previous, new, run, run_vectors, index, has_prev_steps=bool(stream.n_prev))
        else:
            ev = _event(run, run_vectors, index, reasons.get(a, "start"))
        out.append(ev)
    return out


def segment(
    steps: Sequence[Step],
    vectors: Sequence[Vector] | None,
    *,
    gap_minutes: float = 30,
    previous: Event | None = None,
    previous_steps: Sequence[Step] = (),
    previous_vectors: Sequence[Vector] | None = None,
    entities: EntityIndex | None = None,
    window: int = 3,
    k: float = 1.0,
    min_steps: int = 4,
    max_steps: int = 40,
    min_samples: int = 6,
) -> list[Event]:
    """Cut `steps` (in stream order) into events.

    `previous` is the still-open last event of the same session; when the first new
    steps continue it, it is returned extended (same id). Pass its steps as
    `previous_steps` (and their vectors as `previous_vectors`) so the agent-goal rules
    and the topic-shift test can see across the junction and its summary covers all of
    it; without them the junction only breaks on session, time gap or a new goal visible
    in the new steps. Without `vectors`, similarity is lexical (TF cosine).
    """
    if not steps:
        return []
    stream = _stream(steps, vectors, previous, previous_steps, previous_vectors)
    index = entities if entities is not None else EntityIndex(steps[0].namespace)
    index.observe(stream.steps)
    # 1. hard boundaries
    reasons = _hard_boundaries(stream, previous, gap_minutes)
    # steps of the open event that this call cannot see still count towards its length
    offset = len(previous.step_ids) if previous is not None and not stream.n_prev and 0 not in reasons else 0
    # 2. hard segments, then similarity at every inner gap
    bounds = [*sorted({0, *reasons}), len(stream)]
    sims = _gap_similarities(stream, bounds, window)
    # 3. topic shifts
    shifts = _topic_shifts(
        sims, bounds, stream, k=k, min_samples=min_samples, min_steps=min_steps, offset=offset
    )
    for i in shifts:
        reasons[i] = "topic_shift"
    # 4. cap event length
    _cap_lengths(reasons, sims, stream, offset=offset, min_steps=min_steps, max_steps=max_steps)
    # 5. events
    return _build_events(stream, reasons, previous, index)


def _fits(i: int, bounds: Sequence[int], chosen: set[int], n: int, min_steps: int, offset: int) -> bool:
    """Would a cut at `i` leave at least `min_steps` steps on both sides?

    The open tail of the stream only needs 2: more steps may still arrive and extend it.
    """
    edges = {*bounds, *chosen}
    left = max((e for e in edges if e < i), default=0)
    right = min((e for e in edges if e > i), default=n)
    need_right = min(2, min_steps) if right == n else min_steps
    return i - left + (offset if left == 0 else 0) >= min_steps and right - i >= need_right


def _participants(run: Sequence[Step], index: EntityIndex) -> list[str]:
    out: list[str] = []
    for s in run:
        if s.role in ("user", "assistant"):
            who = index.speaker_label(s)
            if who not in out:
                out.append(who)
    return out


def _entities(run: Sequence[Step], index: EntityIndex) -> list[str]:
    out: list[str] = []
    for s in run:
        if s.role in ("user", "assistant"):
            for name in index.mentions(s.content):
                if name not in out:
                    out.append(name)
    return out


def _event(run: Sequence[Step], vectors: Sequence[Vector] | None, index: EntityIndex, reason: str) -> Event:
    first = run[0]
    summ = summarize_steps(run, vectors)
    return Event(
        id=event_id(first.namespace, first.id),
        namespace=first.namespace,
        session_id=first.session_id,
        step_ids=[s.id for s in run],
        start=min(s.timestamp for s in run),
        end=max(s.timestamp for s in run),
        summary=summ.text,
        participants=_participants(run, index),
        entities=_entities(run, index),
        boundary=reason,
        quoted=summ.step_ids,
    )


def _extend(
    previous: Event,
    new: Sequence[Step],
    run: Sequence[Step],
    vectors: Sequence[Vector] | None,
    index: EntityIndex,
    *,
    has_prev_steps: bool,
) -> Event:
    """The open event with the new steps appended; summary redone over all its steps when known."""
    if has_prev_steps:
        whole = summarize_steps(run, vectors)
        summary, quoted = whole.text, whole.step_ids
    else:
        addition = summarize_steps(new)
        summary = previous.summary if not addition.text else f"{previous.summary} {addition.text}".strip()
        summary = condense(summary, 480)
        quoted = list(dict.fromkeys([*previous.quoted, *addition.step_ids]))
    step_ids = list(dict.fromkeys([*previous.step_ids, *(s.id for s in new)]))
    participants = list(dict.fromkeys([*previous.participants, *_participants(new, index)]))
    entities = list(dict.fromkeys([*previous.entities, *_entities(new, index)]))
    return Event(
        id=previous.id,
        namespace=previous.namespace,
        session_id=previous.session_id,
        step_ids=step_ids,
        start=min([previous.start, *(s.timestamp for s in new)]),
        end=max([previous.end, *(s.timestamp for s in new)]),
        summary=summary,
        participants=participants,
        entities=entities,
        boundary=previous.boundary,
        quoted=quoted,
    )
