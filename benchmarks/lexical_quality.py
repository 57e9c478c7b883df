"""LoCoMo dev recall with every namespace's lexical index in the database against BM25 in RAM, on one ingest.

Issue 17 point 2's bar: full-text search in the database (PostgreSQL's tsvector table, or SQLite
FTS5) must keep LoCoMo dev evidence recall within 1 point of BM25 in RAM. The memory is ingested
once (full pipeline) with every namespace's index in the database (`lexical_on_disk_from=0`) and
recalled; then the same memory is reopened with every index in RAM (`lexical_on_disk_from=None`,
which moves each namespace back) and recalled again. Same messages, events, facts, summaries and
vectors on both sides: only the lexical index differs, which is exactly what is being measured.

    python -m benchmarks.lexical_quality --backend server [--budgets 500,1000,2000] [--limit N]
    python -m benchmarks.lexical_quality --backend embedded     # SQLite FTS5 against RAM

`--backend server` uses PLUGMEM_TEST_POSTGRES, else a throwaway cluster (tests/pg_cluster.py), with
the vectors in the process (a Chroma server would not change what the lexical index finds).
Results in benchmarks/results/lexical_quality_<backend>.json, in the shape `benchmarks.locomo_compare`
reads, with the comparison beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from benchmarks.common import RESULTS, Stopwatch, machine, onnx_model, progress
from benchmarks.data import Conversation, data_dir, load_locomo
from benchmarks.locomo_compare import compare, table
from benchmarks.metrics import by_group, evidence_recall, recall_at_k
from benchmarks.plug import ingest, namespace, ranked_ids
from benchmarks.servers import fresh_schema, postgres
from plugmem import MemoryPolicy, PlugMem
from plugmem.policy import RecallMode

MODES: tuple[RecallMode, ...] = ("fast", "auto")
KS = (5, 10)


@contextmanager
def _location(backend: str) -> Iterator[str]:
    if backend == "server":
        with postgres() as server:
            yield fresh_schema(server, "bench_lexical_quality")
    else:
        with tempfile.TemporaryDirectory(prefix="plugmem-lexq-") as tmp:
            yield f"{tmp}/memory"


def _policy(disk_from: int | None) -> MemoryPolicy:
    # ingest at normal priority: on a shared machine a niced worker measures the neighbours' load
    return MemoryPolicy(lexical_on_disk_from=disk_from, ingest_niceness=0)


def _score(mem: PlugMem, convs: Sequence[Conversation], budgets: Sequence[int], label: str) -> dict[str, Any]:
    """`budget` and `rank` summaries in the locomo stage's shape (systems plugmem-fast, plugmem-auto)."""
    budget_rows: dict[tuple[RecallMode, int], list[tuple[str, float, float]]] = {}
    rank_rows: dict[int, list[tuple[str, float, float]]] = {}
    clock = Stopwatch()
    for conv in progress(convs, f"recall ({label})"):
        ns = namespace(conv)
        for q in conv.questions:
            ranking = ranked_ids(mem.recall(q.question, namespace=ns, budget_tokens=8000, k=40, mode="fast"))
            for k in KS:
                rank_rows.setdefault(k, []).append(
                    (
                        q.category,
                        recall_at_k(q.evidence, ranking, k),
                        recall_at_k(q.evidence_corrected, ranking, k),
                    )
                )
            for budget in budgets:
                for mode in MODES:
                    r = mem.recall(q.question, namespace=ns, budget_tokens=budget, mode=mode)
                    budget_rows.setdefault((mode, budget), []).append(
                        (
                            q.category,
                            evidence_recall(q.evidence, r.source_ids),
                            evidence_recall(q.evidence_corrected, r.source_ids),
                        )
                    )

    def summary(rows: list[tuple[str, float, float]]) -> dict[str, Any]:
        return {
            "original": by_group((c, o) for c, o, _ in rows),
            "corrected": by_group((c, v) for c, _, v in rows),
        }

    budget_out: dict[str, Any] = {}
    for (system, budget), rows in budget_rows.items():
        budget_out.setdefault(f"plugmem-{system}", {})[str(budget)] = summary(rows)
    rank_out = {"plugmem-fast": {f"R@{k}": summary(rows) for k, rows in rank_rows.items()}}
    return {"budget": budget_out, "rank": rank_out, "recall_seconds": round(clock.s, 1)}


def run(convs: Sequence[Conversation], *, backend: str, budgets: Sequence[int]) -> dict[str, Any]:
    model = onnx_model()
    out: dict[str, Any] = {
        "backend": backend,
        "conversations": [c.id for c in convs],
        "questions": sum(len(c.questions) for c in convs),
        "budgets": list(budgets),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    with _location(backend) as where:
        with PlugMem.open(where, embeddings=model, policy=_policy(0)) as mem:
            out["ingest"] = ingest(mem, convs, "locomo ingest (lexical index in the database)")
            out["disk"] = _score(mem, convs, budgets, "lexical in the database")
            out["disk"]["lexical_on_disk_from"] = 0
        with PlugMem.open(where, embeddings=model, policy=_policy(None)) as mem:
            out["ram"] = _score(mem, convs, budgets, "lexical in RAM")
            out["ram"]["lexical_on_disk_from"] = None
    out["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out["comparison"] = compare({"locomo": out["ram"]}, {"locomo": out["disk"]})
    out["comparison"].pop("runs")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.lexical_quality", description=__doc__.split("\n")[0]
    )
    p.add_argument("--backend", choices=("server", "embedded"), default="server")
    p.add_argument("--budgets", default="500,1000,2000", help="token budgets (comma-separated)")
    p.add_argument("--limit", type=int, help="only the first N LoCoMo dev conversations")
    p.add_argument("--data", help="data folder (default: PLUGMEM_DATA_DIR or ../shared/data)")
    p.add_argument("--out", help="results file (default benchmarks/results/lexical_quality_<backend>.json)")
    args = p.parse_args(argv)
    budgets = [int(b) for b in args.budgets.split(",")]
    convs = load_locomo(data_dir(args.data), limit=args.limit)
    result = {"machine": machine(), **run(convs, backend=args.backend, budgets=budgets)}
    out = args.out or str(RESULTS / f"lexical_quality_{args.backend}.json")
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print(table(result["comparison"]))
    drop = result["comparison"]["largest_drop"]
    print(f"\nlargest drop (database vs RAM): {drop}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
