"""Recall quality on the dev sets, from memories ingested once and kept on disk.

Why: ingest is the slow part (LongMemEval-S dev is ~50k turns, 15–40 minutes on 2 cores) while a
change to recall needs only recall to be rerun. This keeps one memory per data set under `--store`,
ingests what it does not hold yet, and scores LoCoMo dev (evidence recall per category and budget)
and LongMemEval-S dev (recall_all@5 per type) for plugmem's tiers beside BM25 and dense alone.
The published figures come from `python -m benchmarks` (fresh ingest); this is for iterating.

    python -m benchmarks.devset --store /tmp/plugmem-dev                       # both, 1,000 tokens
    python -m benchmarks.devset --store /tmp/plugmem-dev --only locomo --budgets 500,1000,2000
    python -m benchmarks.devset --store /tmp/plugmem-dev --only lme --lme-types single-session-preference
    python -m benchmarks.devset --store /tmp/plugmem-dev --only lme --lme-limit 60  # the published sample
    python -m benchmarks.devset --store /tmp/plugmem-dev --dump rows.json      # per-question rows
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.baselines import make_baselines, pack, turn_costs
from benchmarks.common import WARMUP_QUERY, onnx_model, progress
from benchmarks.data import Conversation, data_dir, load_locomo, load_longmemeval
from benchmarks.metrics import answer_in_context, by_group, evidence_recall, recall_all_at_k, roll_up
from benchmarks.plug import ingest, namespace, ranked_ids
from plugmem import PlugMem
from plugmem.policy import RecallMode
from plugmem.tokens import TokenCounter

MODES: tuple[RecallMode, ...] = ("fast", "deep", "auto")
DONE = "ingested.json"


def _ingested(root: Path) -> set[str]:
    path = root / DONE
    return set(json.loads(path.read_text())) if path.exists() else set()


def open_memory(root: Path, convs: Sequence[Conversation], clock: list[datetime] | None = None) -> PlugMem:
    """The memory at `root`, with every conversation of `convs` ingested (only the missing ones now)."""
    root.mkdir(parents=True, exist_ok=True)
    now = clock if clock is not None else [datetime.now(UTC)]
    mem = PlugMem.open(root, embeddings=onnx_model(), clock=lambda: now[0])
    done = _ingested(root)
    todo = [c for c in convs if c.id not in done]
    if todo:
        ingest(mem, todo, f"ingest {root.name} ({len(todo)} haystacks)")
        (root / DONE).write_text(json.dumps(sorted(done | {c.id for c in todo})))
    # auto's deep-share allowance counts what earlier runs chose; each run starts from none
    mem.engine._tier_counts = {t: 0 for t in mem.engine._tier_counts}
    return mem


def locomo_rows(
    mem: PlugMem, convs: Sequence[Conversation], budgets: Sequence[int], modes: Sequence[RecallMode] = MODES
) -> list[dict[str, Any]]:
    """One row per question, system and budget: evidence recall (corrected evidence) and the tier."""
    tokens = TokenCounter()
    assert mem.embeddings is not None
    rows: list[dict[str, Any]] = []
    for conv in progress(convs, "locomo"):
        costs = turn_costs(conv.turns, tokens)
        baselines = [b for b in make_baselines(mem.embeddings) if b.name in ("bm25", "dense")]
        for b in baselines:
            b.index(conv.turns)
        ns = namespace(conv)
        mem.recall(WARMUP_QUERY, namespace=ns, mode="fast")
        for q in conv.questions:
            base = {"id": q.id, "category": q.category, "question": q.question}
            for b in baselines:
                ranking = b.rank(q.question, 50)
                for budget in budgets:
                    ids, _ = pack(ranking, costs, budget, tokens)
                    rows.append(
                        base
                        | {
                            "system": b.name,
                            "budget": budget,
                            "recall": evidence_recall(q.evidence_corrected, ids),
                        }
                    )
            for mode in modes:
                for budget in budgets:
                    r = mem.recall(q.question, namespace=ns, budget_tokens=budget, mode=mode)
                    exact, share = answer_in_context(q.answer, r.context)
                    rows.append(
                        base
                        | {
                            "system": f"plugmem-{mode}",
                            "budget": budget,
                            "recall": evidence_recall(q.evidence_corrected, r.source_ids),
                            "tier": r.tier,
                            "latency_ms": r.latency_ms,
                            "reason": r.reason,
                            "answer_exact": exact,
                            "answer_share": share,
                        }
                    )
        for b in baselines:
            b.close()
    return rows


def lme_rows(
    mem: PlugMem, convs: Sequence[Conversation], clock: list[datetime], modes: Sequence[RecallMode] = MODES
) -> list[dict[str, Any]]:
    """One row per question and system: session-level recall_all@5 (official protocol)."""
    assert mem.embeddings is not None
    rows: list[dict[str, Any]] = []
    for conv in progress(convs, "longmemeval"):
        q = conv.questions[0]
        clock[0] = q.when or clock[0]
        parent = {t.id: t.session for t in conv.turns}
        base = {"id": q.id, "category": q.category, "question": q.question}
        for b in [b for b in make_baselines(mem.embeddings) if b.name in ("bm25", "dense")]:
            b.index(conv.turns)
            sessions = roll_up(b.rank(q.question, 100), parent)
            rows.append(base | {"system": b.name, "recall": recall_all_at_k(q.evidence, sessions, 5)})
            b.close()
        ns = namespace(conv)
        for mode in modes:
            r = mem.recall(q.question, namespace=ns, budget_tokens=8000, k=60, mode=mode)
            sessions = roll_up(ranked_ids(r), parent)
            rows.append(
                base
                | {
                    "system": f"plugmem-{mode}",
                    "recall": recall_all_at_k(q.evidence, sessions, 5),
                    "tier": r.tier,
                    "reason": r.reason,
                }
            )
    return rows


def table(rows: Sequence[dict[str, Any]], title: str, measure: str = "recall") -> str:
    """Mean of `measure` per category (columns) for each system and budget (rows), with the auto tier share."""
    rows = [r for r in rows if measure in r]
    keys = list(dict.fromkeys((r["system"], r.get("budget", 0)) for r in rows))
    cats = sorted({r["category"] for r in rows})
    lines = [f"## {title}", "| system | budget | " + " | ".join([*cats, "all"]) + " | deep share |"]
    lines.append("|---" * (len(cats) + 4) + "|")
    for system, budget in keys:
        sel = [r for r in rows if r["system"] == system and r.get("budget", 0) == budget]
        groups = by_group((r["category"], r[measure]) for r in sel)
        tiers = [r["tier"] for r in sel if r.get("tier")]
        deep = f"{tiers.count('deep') / len(tiers):.2f}" if tiers else ""
        cells = [f"{groups.get(c, 0.0):.3f}" for c in [*cats, "all"]]
        lines.append(f"| {system} | {budget or ''} | " + " | ".join(cells) + f" | {deep} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.devset", description=__doc__.split("\n")[0])
    p.add_argument("--store", required=True, help="folder for the ingested memories (kept between runs)")
    p.add_argument("--data", help="data folder (default $PLUGMEM_DATA_DIR or ../shared/data)")
    p.add_argument("--only", default="locomo,lme", help="locomo, lme or both")
    p.add_argument("--budgets", default="1000", help="LoCoMo token budgets, comma-separated")
    p.add_argument("--modes", default="fast,deep,auto", help="plugmem tiers to score")
    p.add_argument("--lme-types", help="LongMemEval question types to score (default all)")
    p.add_argument(
        "--lme-limit", type=int, help="LongMemEval: N scored questions sampled evenly across types"
    )
    p.add_argument("--dump", help="write every per-question row to this JSON file")
    args = p.parse_args(argv)
    folder = data_dir(args.data)
    store = Path(args.store)
    parts = args.only.split(",")
    rows: dict[str, list[dict[str, Any]]] = {}
    modes = [m for m in MODES if m in args.modes.split(",")]
    if "locomo" in parts:
        convs = load_locomo(folder)
        mem = open_memory(store / "locomo", convs)
        rows["locomo"] = locomo_rows(mem, convs, [int(b) for b in args.budgets.split(",")], modes)
        mem.close()
        print(table(rows["locomo"], "LoCoMo dev, evidence recall (corrected)"))
        print(table(rows["locomo"], "LoCoMo dev, gold answer in the context (exact phrase)", "answer_exact"))
        print(table(rows["locomo"], "LoCoMo dev, share of the answer's words in the context", "answer_share"))
    if "lme" in parts:
        hay, _ = load_longmemeval(folder, limit=args.lme_limit)
        if args.lme_types:
            wanted = set(args.lme_types.split(","))
            hay = [h for h in hay if h.questions[0].category in wanted]
        clock = [datetime.now(UTC)]
        mem = open_memory(store / "lme", hay, clock)
        rows["lme"] = lme_rows(mem, hay, clock, modes)
        mem.close()
        print(table(rows["lme"], "LongMemEval-S dev, recall_all@5"))
    if args.dump:
        Path(args.dump).write_text(json.dumps(rows, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
