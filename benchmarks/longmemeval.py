"""LongMemEval-S: session-level retrieval under the official protocol, plugmem beside the baselines.

User turns only are indexed (one document per turn); a ranking of turns is rolled up to
sessions; abstention questions and questions with no user-side evidence are skipped
(counted in the output). Metrics: recall_all@5, recall_any@5, NDCG@5, recall_all@10.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from benchmarks.baselines import make_baselines
from benchmarks.common import WARMUP_QUERY, Stopwatch, cold_query, onnx_model, peak_rss_mb, progress
from benchmarks.data import Conversation
from benchmarks.metrics import by_group, latency_summary, ndcg_at_k, recall_all_at_k, recall_any_at_k, roll_up
from benchmarks.plug import ingest, namespace, ranked_ids
from plugmem import PlugMem
from plugmem.policy import RecallMode

MODES: tuple[RecallMode, ...] = ("fast", "deep", "auto")
RANK_DEPTH = 100
METRICS = ("recall_all@5", "recall_any@5", "ndcg@5", "recall_all@10")


def _metrics(gold: Sequence[str], sessions: Sequence[str]) -> dict[str, float]:
    return {
        "recall_all@5": recall_all_at_k(gold, sessions, 5),
        "recall_any@5": recall_any_at_k(gold, sessions, 5),
        "ndcg@5": ndcg_at_k(gold, sessions, 5),
        "recall_all@10": recall_all_at_k(gold, sessions, 10),
    }


def run(convs: Sequence[Conversation], skipped: dict[str, int]) -> dict[str, Any]:
    model = onnx_model()
    now: list[datetime] = [datetime.now().astimezone()]
    rows: dict[str, list[tuple[str, dict[str, float]]]] = {}
    latency: dict[str, list[float]] = {}
    tiers: list[str] = []
    out: dict[str, Any] = {
        "questions": len(convs),
        "skipped": skipped,
        "turns": sum(len(c.turns) for c in convs),
        "sessions_per_question": round(sum(len(c.sessions) for c in convs) / max(1, len(convs)), 1),
    }
    with tempfile.TemporaryDirectory(prefix="plugmem-bench-lme-") as tmp:
        # the question's date is "now" for relative dates in questions ("two weeks ago")
        mem = PlugMem.open(tmp, embeddings=model, clock=lambda: now[0])
        out["ingest"] = ingest(mem, convs, "longmemeval ingest (plugmem, full pipeline)")
        # the baselines reuse the vectors plugmem just cached (same model, same turn text)
        assert mem.embeddings is not None
        shared = mem.embeddings
        for conv in progress(convs, "longmemeval recall"):
            q = conv.questions[0]
            now[0] = q.when or now[0]
            parent = {t.id: t.session for t in conv.turns}
            baselines = make_baselines(shared)
            for b in baselines:
                b.index(conv.turns)
                cold_query(shared)
                clock = Stopwatch()
                ranking = b.rank(q.question, RANK_DEPTH)
                latency.setdefault(b.name, []).append(clock.ms)
                rows.setdefault(b.name, []).append(
                    (q.category, _metrics(q.evidence, roll_up(ranking, parent)))
                )
                b.close()
            # the first recall of a namespace loads its catalog; time the steady state
            mem.recall(WARMUP_QUERY, namespace=namespace(conv), mode="fast")
            for mode in MODES:
                cold_query(shared)  # each timed call pays for its query embedding
                r = mem.recall(q.question, namespace=namespace(conv), budget_tokens=8000, k=60, mode=mode)
                latency.setdefault(f"plugmem-{mode}", []).append(r.latency_ms)
                latency.setdefault(f"tier:{r.tier}", []).append(r.latency_ms)
                if mode == "auto":
                    tiers.append(r.tier)
                sessions = roll_up(ranked_ids(r), parent)
                rows.setdefault(f"plugmem-{mode}", []).append((q.category, _metrics(q.evidence, sessions)))
        mem.close()
    out["results"] = {
        system: {m: by_group((cat, vals[m]) for cat, vals in sys_rows) for m in METRICS}
        for system, sys_rows in rows.items()
    }
    out["auto_tiers"] = (
        {t: round(tiers.count(t) / len(tiers), 3) for t in sorted(set(tiers))} if tiers else {}
    )
    out["latency"] = {k: latency_summary(v) for k, v in latency.items()}
    out["peak_rss_mb"] = peak_rss_mb()
    return out
