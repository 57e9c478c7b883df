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
from collections.abc import Sequence
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
    feats = _Features(all_steps, all_vectors)
    index = entities if entities is not None else EntityIndex(steps[0].namespace)
    index.observe(all_steps)

    # 1. hard boundaries (index into all_steps → reason)
    reasons: dict[int, str] = {}
    state = _ToolState()
    for s in prev_steps:
        state.feed(s)
    if previous is None:
        reasons[0] = "start"
    elif not prev_steps:
        first = steps[0]
        if first.session_id != previous.session_id:
            reasons[0] = "session"
        elif (first.timestamp - previous.end).total_seconds() > gap_minutes * 60:
            reasons[0] = "time_gap"
    for i in range(max(1, n_prev), len(all_steps)):
        if i == n_prev and 0 in reasons:
            state = _ToolState()
            state.feed(all_steps[i])
            continue
        r = _hard_reason(all_steps[i - 1], all_steps[i], state, gap_minutes)
        if r is not None:
            reasons[i] = r
            state = _ToolState()
        state.feed(all_steps[i])
    if n_prev and previous is not None and n_prev not in reasons:
        gap = (all_steps[n_prev].timestamp - previous.end).total_seconds()
        if gap > gap_minutes * 60:
            reasons[n_prev] = "time_gap"

    # steps of the open event that this call cannot see still count towards its length
    offset = len(previous.step_ids) if previous is not None and not prev_steps and 0 not in reasons else 0

    # 2. hard segments, then similarity at every inner gap
    bounds = [*sorted({0, *reasons}), len(all_steps)]
    sims: dict[int, float] = {}
    for a, b in pairwise(bounds):
        for i in range(a + 1, b):
            if _is_tool_step(all_steps[i]) or _is_tool_step(all_steps[i - 1]):
                continue
            left = range(max(a, i - window), i)
            right = range(i, min(b, i + window))
            sims[i] = feats.similarity(left, right)

    # 3. topic shifts: dips below mean − k·std of this stream, local minima, min length both sides
    topic: set[int] = set()
    values = list(sims.values())
    if len(values) >= min_samples:
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
        threshold = mean - k * std
        if std > 1e-6:
            cands = [
                i
                for i, v in sims.items()
                if i >= n_prev
                and v < threshold
                and v <= sims.get(i - 1, math.inf)
                and v <= sims.get(i + 1, math.inf)
            ]
            for i in sorted(cands, key=lambda i: (sims[i], i)):
                if _fits(i, bounds, topic, len(all_steps), min_steps, offset):
                    topic.add(i)
    for i in topic:
        reasons[i] = "topic_shift"

    # 4. cap event length: split overlong runs at their weakest gap
    starts = sorted({0, *reasons})
    changed = True
    while changed:
        changed = False
        ends = [*starts[1:], len(all_steps)]
        for a, b in zip(starts, ends, strict=True):
            if b - a + (offset if a == 0 else 0) <= max_steps:
                continue
            lo, hi = max(a + min_steps - (offset if a == 0 else 0), n_prev, a + 1), b - min_steps
            options = [i for i in range(lo, hi + 1) if i in sims] or [
                max(a + 1, min(b - 1, lo + max_steps - min_steps))
            ]
            if not options:
                continue
            cut = min(options, key=lambda i: (sims.get(i, 0.0), i))
            reasons[cut] = "max_length"
            starts = sorted({*starts, cut})
            changed = True
            break

    # 5. events
    starts = sorted({0, *reasons})
    out: list[Event] = []
    for a, b in zip(starts, [*starts[1:], len(all_steps)], strict=True):
        if b <= n_prev:
            continue  # the open event, unchanged: a boundary right at the junction
        run = all_steps[a:b]
        run_vectors = list(all_vectors[a:b]) if all_vectors is not None else None
        if a == 0 and previous is not None and 0 not in reasons:
            ev = _extend(previous, run[n_prev:], run, run_vectors, index, has_prev_steps=bool(prev_steps))
        else:
            ev = _event(run, run_vectors, index, reasons.get(a, "start"))
        out.append(ev)
    return out


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
