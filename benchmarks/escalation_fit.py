"""Fit the scheduler's escalation model on the dev sets: where does the deep tier find more evidence?

For every dev question this records the scheduler's signals (the query's shape and the fast
result's shape, `plugmem.recall.scheduler.signals`) and what each tier found: on LoCoMo dev the
evidence recall of the fast and the deep tier at 1,000 tokens, on a LongMemEval-S dev sample the
session recall_all@5 at 8,000 tokens (the official protocol, as `benchmarks.devset` scores it). A logistic regression (numpy, L2, Newton steps) is fitted on the
questions where the two tiers differ: label "deep found more", weight the size of the difference,
so the probability it gives is that of a gain weighted by how much is at stake. The threshold is
chosen on leave-one-conversation-out predictions (each conversation scored by a model that never saw
it): within the policy's default deep-share ceiling, the fewest escalations that keep the best recall. The coefficients are written to
`plugmem/recall/escalation.json` with the figures that justify them.

    python -m benchmarks.escalation_fit --store /tmp/plugmem-dev            # measure, fit, write
    python -m benchmarks.escalation_fit --store /tmp/plugmem-dev --lme-limit 0   # LoCoMo only
    python -m benchmarks.escalation_fit --store /tmp/plugmem-dev --rows r.json   # reuse measured rows
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import ROOT, WARMUP_QUERY, progress
from benchmarks.data import data_dir, load_locomo, load_longmemeval
from benchmarks.devset import open_memory
from benchmarks.metrics import evidence_recall, recall_all_at_k, roll_up
from benchmarks.plug import namespace, ranked_ids
from plugmem.namespace import ns_key
from plugmem.policy import MemoryPolicy
from plugmem.recall.fast import fast_search
from plugmem.recall.intent import dense_weight
from plugmem.recall.scheduler import MODEL_FILE, signals

BUDGET = 1000
LME_BUDGET, LME_K = 8000, 60  # as benchmarks.devset scores LongMemEval
LME_LIMIT = 60  # the published sample: 60 questions spread evenly over the types
L2 = 1.0
MAX_SHARE = MemoryPolicy().max_deep_share
TOLERANCE = 0.001
OUT = ROOT / "plugmem" / "recall" / MODEL_FILE


def measure(store: Path, folder: Path) -> list[dict[str, Any]]:
    """Signals and fast/deep evidence recall (corrected evidence) for every LoCoMo dev question."""
    convs = load_locomo(folder)
    mem = open_memory(store / "locomo", convs)
    assert mem.embeddings is not None
    rows: list[dict[str, Any]] = []
    for conv in progress(convs, "escalation rows"):
        ns = namespace(conv)
        mem.recall(WARMUP_QUERY, namespace=ns, mode="fast")
        cat = mem.catalog(ns_key(ns))
        for q in conv.questions:
            fast = fast_search(
                cat, q.question, mem.embeddings.embed_query_array(q.question), alpha=dense_weight(q.question)
            )
            got = {
                mode: mem.recall(q.question, namespace=ns, budget_tokens=BUDGET, mode=mode)
                for mode in ("fast", "deep")
            }
            rows.append(
                {
                    "set": "locomo",
                    "conv": conv.id,
                    "id": q.id,
                    "category": q.category,
                    "signals": signals(q.question, fast),
                    "fast": evidence_recall(q.evidence_corrected, got["fast"].source_ids),
                    "deep": evidence_recall(q.evidence_corrected, got["deep"].source_ids),
                    "deep_ms": got["deep"].latency_ms,
                    "fast_ms": got["fast"].latency_ms,
                }
            )
    mem.close()
    return rows


def measure_lme(store: Path, folder: Path, limit: int) -> list[dict[str, Any]]:
    """Signals and fast/deep session recall_all@5 for a LongMemEval-S dev sample (one question each)."""
    hay, _ = load_longmemeval(folder, limit=limit)
    clock = [datetime.now(UTC)]
    mem = open_memory(store / "lme", hay, clock)
    assert mem.embeddings is not None
    rows: list[dict[str, Any]] = []
    for conv in progress(hay, "escalation rows (LongMemEval)"):
        q = conv.questions[0]
        clock[0] = q.when or clock[0]
        ns = namespace(conv)
        parent = {t.id: t.session for t in conv.turns}
        cat = mem.catalog(ns_key(ns))
        fast = fast_search(
            cat, q.question, mem.embeddings.embed_query_array(q.question), alpha=dense_weight(q.question)
        )
        found = {}
        for mode in ("fast", "deep"):
            r = mem.recall(q.question, namespace=ns, budget_tokens=LME_BUDGET, k=LME_K, mode=mode)
            found[mode] = recall_all_at_k(q.evidence, roll_up(ranked_ids(r), parent), 5)
        rows.append(
            {
                "set": "lme",
                "conv": conv.id,
                "id": q.id,
                "category": q.category,
                "signals": signals(q.question, fast),
                **found,
            }
        )
    mem.close()
    return rows


def fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float = L2) -> tuple[np.ndarray, float]:
    """Weighted L2 logistic regression by Newton's method; returns (coef, intercept)."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    beta = np.zeros(xb.shape[1])
    reg = np.full(xb.shape[1], l2)
    reg[-1] = 0.0  # the intercept is not shrunk
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ beta, -30, 30)))
        grad = xb.T @ (w * (p - y)) + reg * beta
        hess = (xb * (w * p * (1 - p))[:, None]).T @ xb + np.diag(reg)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return beta[:-1], float(beta[-1])


def _design(rows: Sequence[dict[str, Any]], features: Sequence[str]) -> np.ndarray:
    return np.array([[r["signals"].get(f, 0.0) for f in features] for r in rows], dtype=float)


def _fit_rows(rows: Sequence[dict[str, Any]], features: Sequence[str]) -> dict[str, Any]:
    x = _design(rows, features)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    gain = np.array([r["deep"] - r["fast"] for r in rows])
    keep = gain != 0
    coef, intercept = fit(((x - mean) / scale)[keep], (gain[keep] > 0).astype(float), np.abs(gain[keep]))
    return {"coef": coef, "intercept": intercept, "mean": mean, "scale": scale}


def _predict(model: dict[str, Any], x: np.ndarray) -> np.ndarray:
    z = ((x - model["mean"]) / model["scale"]) @ model["coef"] + model["intercept"]
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def _outcome(rows: Sequence[dict[str, Any]], take: np.ndarray) -> dict[str, float]:
    gain = np.array([r["deep"] - r["fast"] for r in rows])
    fast = np.array([r["fast"] for r in rows])
    taken, left = gain[take], gain[~take]
    return {
        "deep_share": round(float(take.mean()), 3),
        "auto_recall": round(float((fast + gain * take).mean()), 4),
        "gain_on_taken": round(float(taken.mean()), 4) if len(taken) else 0.0,
        "gain_on_not_taken": round(float(left.mean()), 4) if len(left) else 0.0,
    }


def _best_threshold(rows: Sequence[dict[str, Any]], p: np.ndarray, max_share: float = MAX_SHARE) -> float:
    """The probability cut for escalation: among cuts that send at most `max_share` of the questions to
    deep (the policy's default ceiling), the one escalating fewest whose recall is within `TOLERANCE` of
    the best such cut (a deep recall costs ~5x a fast one: do not pay it for noise)."""
    gain = np.array([r["deep"] - r["fast"] for r in rows])
    fast = float(np.mean([r["fast"] for r in rows]))
    cuts = [
        (float(t), fast + float(gain[p >= t].sum()) / len(rows))
        for t in np.arange(0.30, 0.99, 0.01)
        if (p >= t).mean() <= max_share
    ]
    if not cuts:
        return 1.01
    best = max(r for _, r in cuts)
    return round(max(t for t, r in cuts if r >= best - TOLERANCE), 2)


def report(rows: Sequence[dict[str, Any]], features: Sequence[str]) -> dict[str, Any]:
    """Leave-one-conversation-out estimate, then the model fitted on every conversation."""
    x = _design(rows, features)
    convs = sorted({r["conv"] for r in rows})
    p_cv = np.zeros(len(rows))
    for c in convs:
        test = np.array([r["conv"] == c for r in rows])
        model = _fit_rows([r for r, t in zip(rows, test, strict=True) if not t], features)
        p_cv[test] = _predict(model, x[test])
    threshold = _best_threshold(rows, p_cv)
    model = _fit_rows(rows, features)
    p_all = _predict(model, x)
    gain = np.array([r["deep"] - r["fast"] for r in rows])
    return {
        "model": model,
        "threshold": threshold,
        "figures": {
            "questions": len(rows),
            "fast_recall": round(float(np.mean([r["fast"] for r in rows])), 4),
            "deep_recall": round(float(np.mean([r["deep"] for r in rows])), 4),
            "oracle_recall": round(float(np.mean([max(r["fast"], r["deep"]) for r in rows])), 4),
            "deep_better": int((gain > 0).sum()),
            "deep_worse": int((gain < 0).sum()),
            "cross_validated": _outcome(rows, p_cv >= threshold),
            "in_sample": _outcome(rows, p_all >= threshold),
            "cross_validated_by_set": {
                name: _outcome([r for r, s in zip(rows, sel, strict=True) if s], (p_cv >= threshold)[sel])
                for name in sorted({r.get("set", "locomo") for r in rows})
                for sel in [np.array([r.get("set", "locomo") == name for r in rows])]
            },
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.escalation_fit", description=__doc__.split("\n")[0]
    )
    p.add_argument("--store", required=True, help="folder of the dev memories (benchmarks.devset)")
    p.add_argument("--data", help="data folder (default $PLUGMEM_DATA_DIR or ../shared/data)")
    p.add_argument(
        "--lme-limit",
        type=int,
        default=LME_LIMIT,
        help=f"LongMemEval-S dev questions measured beside LoCoMo (default {LME_LIMIT}; 0: LoCoMo only)",
    )
    p.add_argument("--rows", help="JSON of measured rows: read if it exists, else written after measuring")
    p.add_argument("--out", default=str(OUT), help="where to write the model (default: the package's)")
    args = p.parse_args(argv)
    rows_path = Path(args.rows) if args.rows else None
    if rows_path is not None and rows_path.exists():
        rows = json.loads(rows_path.read_text())
    else:
        rows = measure(Path(args.store), data_dir(args.data))
        if args.lme_limit:
            rows += measure_lme(Path(args.store), data_dir(args.data), args.lme_limit)
        if rows_path is not None:
            rows_path.write_text(json.dumps(rows))
    features = list(rows[0]["signals"])
    res = report(rows, features)
    model = res["model"]
    out = {
        "about": "p(deep tier finds more dev evidence than fast: LoCoMo at 1,000 tokens"
        + (", LongMemEval-S sessions recall_all@5" if any(r.get("set") == "lme" for r in rows) else "")
        + "); fitted by python -m benchmarks.escalation_fit",
        "fitted": datetime.now(UTC).strftime("%Y-%m-%d"),
        "features": features,
        "coef": [round(float(c), 5) for c in model["coef"]],
        "mean": [round(float(m), 5) for m in model["mean"]],
        "scale": [round(float(s), 5) for s in model["scale"]],
        "intercept": round(model["intercept"], 5),
        "threshold": res["threshold"],
        "figures": res["figures"],
    }
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out["figures"], indent=1))
    print("coefficients:", dict(zip(features, out["coef"], strict=True)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
