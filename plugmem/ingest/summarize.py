"""Extractive summaries for events, and the temporal tree (session → day → week) built from them.

Why extractive: it needs no LLM, never invents a fact, and every sentence it keeps can be
traced to the step it quotes. Why a tree: "what happened last week" needs a node to land on
(TiMem); each node keeps one line per child so it can be updated in place as events arrive.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from plugmem.dates import format_date
from plugmem.model import Event, Step, Summary, SummaryLevel
from plugmem.namespace import NamespaceKey
from plugmem.text import clip, content_words, cosine, counter_cosine, is_chitchat, sentences, short_hash


# -- event summaries ------------------------------------------------------------------
@dataclass(slots=True)
class EventSummary:
    """An extractive summary and the step ids it quotes (its real provenance)."""

    text: str
    step_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Unit:
    step_id: str
    speaker: str
    text: str
    order: int
    step_index: int


def speaker_of(step: Step) -> str:
    """The label a step is attributed to: the speaker's name, else its role."""
    if step.name and step.role in ("user", "assistant"):
        return step.name
    return step.role.capitalize() if step.role in ("user", "assistant") else step.role


def _tfidf(units: Sequence[str]) -> list[Counter[str]]:
    bags = [Counter(content_words(u)) for u in units]
    df: Counter[str] = Counter()
    for b in bags:
        df.update(set(b))
    n = len(bags)
    return [Counter({w: c * math.log(1 + n / df[w]) for w, c in b.items()}) for b in bags]


def centrality(texts: Sequence[str], vectors: Sequence[Sequence[float]] | None = None) -> list[float]:
    """How representative each text is of the whole set: mean similarity to the others."""
    n = len(texts)
    if n <= 1:
        return [1.0] * n
    if vectors is not None and len(vectors) == n:
        dims = len(vectors[0])
        mean = [sum(v[i] for v in vectors) / n for i in range(dims)]
        return [cosine(v, mean) for v in vectors]
    bags = _tfidf(texts)
    return [sum(counter_cosine(bags[i], bags[j]) for j in range(n) if j != i) / (n - 1) for i in range(n)]


def _informativeness(sentence: str) -> float:
    if is_chitchat(sentence):
        return 0.15
    n = len(set(content_words(sentence)))
    score = min(1.0, 0.35 + n / 10)
    if sentence.rstrip().endswith("?"):
        score *= 0.5
    if re.search(r"\b[A-Z][a-z]+|\d", sentence[1:]):
        score *= 1.15
    return score


def _tool_summary(steps: Sequence[Step], max_chars: int) -> EventSummary:
    """Agent episodes read best as goal → tools → answer."""
    goal = next((s for s in steps if s.role == "user" and s.content.strip()), None)
    tools: list[str] = []
    for s in steps:
        for c in s.tool_calls:
            if c.name not in tools:
                tools.append(c.name)
    answer = next(
        (s for s in reversed(steps) if s.role == "assistant" and not s.tool_calls and s.content.strip()), None
    )
    parts: list[str] = []
    quoted: list[str] = []
    if goal is not None:
        parts.append(f"{speaker_of(goal)}: {clip(goal.content, max_chars // 3)}")
        quoted.append(goal.id)
    if tools:
        parts.append("tools: " + ", ".join(tools))
        quoted.extend(s.id for s in steps if s.tool_calls)
    if answer is not None:
        parts.append(f"{speaker_of(answer)}: {clip(answer.content, max_chars // 3)}")
        quoted.append(answer.id)
    return EventSummary(clip(" → ".join(parts), max_chars), quoted)


def summarize_steps(
    steps: Sequence[Step],
    vectors: Sequence[Sequence[float]] | None = None,
    *,
    max_chars: int = 320,
    max_sentences: int = 3,
) -> EventSummary:
    """Pick the few most central, informative sentences, keep their speakers, in the order said.

    With step vectors, centrality is semantic (per step); without, TF-IDF over sentences.
    """
    if not steps:
        return EventSummary("")
    if any(s.tool_calls for s in steps):
        return _tool_summary(steps, max_chars)
    units: list[_Unit] = []
    for i, s in enumerate(steps):
        if s.role not in ("user", "assistant") or not s.content.strip():
            continue
        for sent in sentences(s.content):
            units.append(_Unit(s.id, speaker_of(s), sent, len(units), i))
    if not units:
        return EventSummary("")
    lexical = centrality([u.text for u in units])
    if vectors is not None and len(vectors) == len(steps):
        step_c = centrality([s.content for s in steps], vectors)
        central = [0.5 * lexical[k] + 0.5 * step_c[u.step_index] for k, u in enumerate(units)]
    else:
        central = lexical
    scores = [(0.2 + c) * _informativeness(u.text) for c, u in zip(central, units, strict=True)]
    ranked = sorted(range(len(units)), key=lambda k: (-scores[k], k))
    picked: list[int] = []
    used = 0
    for k in ranked:
        if len(picked) >= max_sentences:
            break
        cost = len(units[k].text) + len(units[k].speaker) + 3
        if picked and used + cost > max_chars:
            continue
        picked.append(k)
        used += cost
    picked.sort()
    parts: list[str] = []
    last_speaker = ""
    for k in picked:
        u = units[k]
        parts.append(u.text if u.speaker == last_speaker else f"{u.speaker}: {u.text}")
        last_speaker = u.speaker
    quoted: list[str] = []
    for k in picked:
        if units[k].step_id not in quoted:
            quoted.append(units[k].step_id)
    return EventSummary(clip(" ".join(parts), max_chars), quoted)


def condense(text: str, max_chars: int) -> str:
    """Shorten a summary to its most central sentences (lexical), keeping their order."""
    text = " ".join(text.split())
    if len(text) <= max_chars:
        return text
    sents = sentences(text)
    if len(sents) <= 1:
        return clip(text, max_chars)
    cent = centrality(sents)
    order = sorted(range(len(sents)), key=lambda i: (-(cent[i] + 0.3) * _informativeness(sents[i]), i))
    keep: list[int] = []
    used = 0
    for i in order:
        if used + len(sents[i]) + 1 > max_chars:
            continue
        keep.append(i)
        used += len(sents[i]) + 1
    if not keep:
        return clip(sents[order[0]], max_chars)
    return " ".join(sents[i] for i in sorted(keep))


# -- temporal tree ----------------------------------------------------------------------
LINE_CHARS: dict[SummaryLevel, int] = {"session": 200, "day": 240, "week": 260}


def summary_id(namespace: NamespaceKey, level: SummaryLevel, key: str) -> str:
    return f"sum-{level}-" + short_hash(namespace, level, key)


def week_key(ts: datetime) -> str:
    """ISO week, e.g. "2023-W19"."""
    y, w, _ = ts.isocalendar()
    return f"{y}-W{w:02d}"


def _header(level: SummaryLevel, key: str, start: datetime, end: datetime) -> str:
    d1, d2 = format_date(start), format_date(end)
    when = d1 if d1 == d2 else f"{d1} – {d2}"
    return {"session": f"Session {key} ({when})", "day": f"Day {key}", "week": f"Week {key} ({when})"}[level]


def _union(a: Iterable[str], b: Iterable[str]) -> list[str]:
    out = list(dict.fromkeys(a))
    seen = set(out)
    for x in b:
        if x not in seen:
            out.append(x)
            seen.add(x)
    return out


@dataclass(slots=True)
class _Node:
    """A summary being (re)built: one body line per child, in child order."""

    namespace: NamespaceKey
    level: SummaryLevel
    key: str
    start: datetime
    end: datetime
    children: list[str]
    lines: list[str]
    sources: list[str]

    @classmethod
    def from_summary(cls, s: Summary) -> _Node:
        body = s.text.split("\n")[1:]
        lines = (
            [ln.removeprefix("- ") for ln in body]
            if len(body) == len(s.child_ids)
            else [""] * len(s.child_ids)
        )
        return cls(s.namespace, s.level, s.key, s.start, s.end, list(s.child_ids), lines, list(s.source_ids))

    def put(self, child: str, line: str, start: datetime, end: datetime, sources: Iterable[str]) -> None:
        line = condense(line, LINE_CHARS[self.level])
        if child in self.children:
            self.lines[self.children.index(child)] = line
        else:
            self.children.append(child)
            self.lines.append(line)
        self.start = min(self.start, start)
        self.end = max(self.end, end)
        self.sources = _union(self.sources, sources)

    def body(self) -> str:
        return " ".join(ln for ln in self.lines if ln)

    def to_summary(self) -> Summary:
        text = "\n".join(
            [_header(self.level, self.key, self.start, self.end), *(f"- {ln}" for ln in self.lines)]
        )
        return Summary(
            id=summary_id(self.namespace, self.level, self.key),
            namespace=self.namespace,
            level=self.level,
            key=self.key,
            start=self.start,
            end=self.end,
            text=text,
            child_ids=list(self.children),
            source_ids=list(self.sources),
        )


def touched_ids(events: Sequence[Event]) -> list[str]:
    """Ids of the summaries `rollup(events, …)` may change: what it needs of `existing`.

    The session, day and ISO week of each event (a day node's week is its date's week).
    """
    keys: dict[tuple[NamespaceKey, SummaryLevel, str], None] = {}
    for e in events:
        keys[(e.namespace, "session", e.session_id)] = None
        keys[(e.namespace, "day", e.start.date().isoformat())] = None
        keys[(e.namespace, "week", week_key(e.start))] = None
    return [summary_id(*k) for k in keys]


def rollup(events: Sequence[Event], existing: Sequence[Summary]) -> list[Summary]:
    """Update the session → day → week summaries that `events` touch; return every changed node.

    Re-running with the same (or an extended) event replaces that event's line instead of
    adding a second one, so the tree is idempotent. Source step ids are carried up.
    """
    nodes: dict[tuple[NamespaceKey, SummaryLevel, str], _Node] = {
        (s.namespace, s.level, s.key): _Node.from_summary(s) for s in existing
    }
    touched: dict[tuple[NamespaceKey, SummaryLevel, str], None] = {}

    def node(ns: NamespaceKey, level: SummaryLevel, key: str, start: datetime, end: datetime) -> _Node:
        k = (ns, level, key)
        if k not in nodes:
            nodes[k] = _Node(ns, level, key, start, end, [], [], [])
        touched[k] = None
        return nodes[k]

    for e in sorted(events, key=lambda e: (e.start, e.id)):
        sources = e.quoted or e.step_ids
        node(e.namespace, "session", e.session_id, e.start, e.end).put(
            e.id, e.summary, e.start, e.end, sources
        )
        # a day holds the events that started on it, whatever session they belong to
        day = e.start.date().isoformat()
        node(e.namespace, "day", day, e.start, e.end).put(e.id, e.summary, e.start, e.end, sources)
    for k in [k for k in touched if k[1] == "day"]:
        dn = nodes[k]
        wn = node(k[0], "week", week_key(dn.start), dn.start, dn.end)
        wn.put(summary_id(k[0], "day", k[2]), f"{k[2]}: {dn.body()}", dn.start, dn.end, dn.sources)
    return [nodes[k].to_summary() for k in touched]


def prune_tree(
    existing: Sequence[Summary], sessions: set[str], events: set[str], steps: set[str]
) -> tuple[list[Summary], list[str]]:
    """Take whole sessions out of the temporal tree (forget, replace); returns (changed, deleted ids).

    The session nodes of `sessions` go; day and week nodes lose the children that were those
    sessions, their `events` or days that emptied, with those lines and the `steps` among
    their sources, and go too once empty. The sessions' remaining steps are re-processed
    afterwards, and `rollup` puts them back.
    """
    nodes = {s.id: _Node.from_summary(s) for s in existing}
    deleted = {s.id for s in existing if s.level == "session" and s.key in sessions}
    changed: dict[str, None] = {}
    for level in ("day", "week"):
        for sid, n in nodes.items():
            if n.level != level or sid in deleted:
                continue
            redo = [c for c in n.children if c in changed]
            keep = [
                (c, ln)
                for c, ln in zip(n.children, n.lines, strict=True)
                if c not in deleted and c not in events
            ]
            if len(keep) == len(n.children) and not redo:
                continue
            if not keep:
                deleted.add(sid)
                continue
            n.children, n.lines = [c for c, _ in keep], [ln for _, ln in keep]
            for c in redo:  # a week's line for a day that lost some of its lines
                day = nodes[c]
                n.lines[n.children.index(c)] = condense(f"{day.key}: {day.body()}", LINE_CHARS[level])
            n.sources = [x for x in n.sources if x not in steps]
            changed[sid] = None
    out = [nodes[i].to_summary() for i in changed if i not in deleted]
    return out, [s.id for s in existing if s.id in deleted]
