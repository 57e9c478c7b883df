"""Retrieval metrics as plain functions over ids (no plugmem imports, easy to check by hand)."""

from __future__ import annotations

import math
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
