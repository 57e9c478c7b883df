"""Retrieval metrics as plain functions over ids (no plugmem imports, easy to check by hand)."""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence


def dedupe(ids: Iterable[str]) -> list[str]:
    """First occurrence order, duplicates dropped."""
    seen: dict[str, None] = {}
    for i in ids:
        seen.setdefault(i, None)
    return list(seen)


def evidence_recall(evidence: Collection[str], retrieved: Iterable[str]) -> float:
    """Share of the evidence ids that appear anywhere in `retrieved` (1.0 when there is no evidence)."""
    gold = set(evidence)
    if not gold:
        return 1.0
    return len(gold & set(retrieved)) / len(gold)


def recall_at_k(evidence: Collection[str], ranking: Sequence[str], k: int) -> float:
    """Evidence recall over the first `k` distinct ids of a ranking."""
    return evidence_recall(evidence, dedupe(ranking)[:k])


def recall_all_at_k(gold: Collection[str], ranking: Sequence[str], k: int) -> float:
    """1.0 when every gold id is in the top k (LongMemEval's recall_all@k), else 0.0."""
    top = set(dedupe(ranking)[:k])
    return 1.0 if set(gold) <= top else 0.0


def recall_any_at_k(gold: Collection[str], ranking: Sequence[str], k: int) -> float:
    """1.0 when at least one gold id is in the top k, else 0.0."""
    return 1.0 if set(gold) & set(dedupe(ranking)[:k]) else 0.0


def ndcg_at_k(gold: Collection[str], ranking: Sequence[str], k: int) -> float:
    """Binary-relevance NDCG@k: DCG of the ranking over the DCG of a perfect one."""
    rel = set(gold)
    if not rel:
        return 0.0
    top = dedupe(ranking)[:k]
    dcg = sum(1.0 / math.log2(i + 2) for i, r in enumerate(top) if r in rel)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(rel), k)))
    return dcg / ideal


def roll_up(ranking: Sequence[str], parent: Mapping[str, str]) -> list[str]:
    """Map ranked child ids (turns) to their parents (sessions), keeping first-seen order."""
    return dedupe(parent[i] for i in ranking if i in parent)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default method), 0.0 for no values."""
    if not values:
        return 0.0
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def latency_summary(ms: Sequence[float]) -> dict[str, float]:
    return {
        "n": float(len(ms)),
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "mean_ms": round(sum(ms) / len(ms), 2) if ms else 0.0,
    }


def mean(values: Iterable[float]) -> float:
    xs = list(values)
    return sum(xs) / len(xs) if xs else 0.0


def by_group(rows: Iterable[tuple[str, float]]) -> dict[str, float]:
    """Mean per group label, plus "all" over every row."""
    groups: dict[str, list[float]] = {}
    every: list[float] = []
    for g, v in rows:
        groups.setdefault(g, []).append(v)
        every.append(v)
    out = {g: round(mean(v), 4) for g, v in sorted(groups.items())}
    out["all"] = round(mean(every), 4)
    return out


# -- answer in context: is the gold answer's text in what the model reads? ----------------------
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ]
    )
}
_DMY = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?([a-z]+),?\s+(\d{4})\b")
_MDY = re.compile(r"\b([a-z]+)\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b")
_MY = re.compile(r"\b([a-z]+),?\s+(\d{4})\b")
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_TOKEN = re.compile(r"[a-z0-9]+(?:-[0-9]{2}){0,2}")
ANSWER_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "and",
        "or",
        "to",
        "in",
        "on",
        "at",
        "for",
        "with",
        "by",
        "is",
        "was",
        "were",
        "be",
    ]
)


def _iso(y: str, m: int, d: str | None = None) -> str:
    return f"{y}-{m:02d}" + (f"-{int(d):02d}" if d is not None else "")


def canonical_dates(text: str) -> str:
    """Write dates one way ("7 May 2023", "May 7, 2023", "2023-05-07" → "2023-05-07"; "May 2023" → "2023-05")."""
    low = text.lower()
    low = _DMY.sub(lambda m: _iso(m[3], _MONTHS[m[2]], m[1]) if m[2] in _MONTHS else m[0], low)
    low = _MDY.sub(lambda m: _iso(m[3], _MONTHS[m[1]], m[2]) if m[1] in _MONTHS else m[0], low)
    return _MY.sub(lambda m: _iso(m[2], _MONTHS[m[1]]) if m[1] in _MONTHS else m[0], low)


def answer_tokens(text: str) -> list[str]:
    """Lowercased word tokens with dates made canonical; ISO dates stay one token."""
    return _TOKEN.findall(canonical_dates(text))


def answer_in_context(answer: str, context: str) -> tuple[float, float]:
    """(exact, share): 1.0 when the normalised answer occurs as a phrase in the context, and the
    share of the answer's content words found anywhere in it. A date counts at the precision the
    answer gives: "May 2023" is found in "2023-05-07"."""
    gold = answer_tokens(answer)
    if not gold:
        return 0.0, 0.0
    ctx = answer_tokens(context)
    vocab = set(ctx) | {t[:7] for t in ctx if _ISO.fullmatch(t)}
    n = len(gold)
    exact = any(ctx[i : i + n] == gold for i in range(len(ctx) - n + 1))
    if not exact and n == 1:
        exact = gold[0] in vocab
    content = [t for t in gold if t not in ANSWER_STOPWORDS] or gold
    share = sum(1 for t in content if t in vocab) / len(content)
    return (1.0 if exact else 0.0), share
