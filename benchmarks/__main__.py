"""`python -m benchmarks` (`make bench`): every benchmark, one JSON, one Markdown report with plots.

    python -m benchmarks                 # full run, results in benchmarks/results/
    python -m benchmarks --quick         # about a minute or two, results in benchmarks/results/quick/
    python -m benchmarks --only locomo,longmemeval --lme-limit 50
    python -m benchmarks --llm openai:gpt-4o-mini      # adds LLM extraction + LLM deep tier + QA with a judge
    python -m benchmarks --only qa --llm plugmem.llm_local:smollm2 --quick --qa-sessions 2 --qa-limit 5

Each stage's results are written to results.json as soon as it finishes, so an
interrupted run keeps what it measured; `python -m benchmarks.report DIR` re-renders.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.common import RESULTS, RUN_FIELDS, Stopwatch, fresh_process, machine, onnx_model
from benchmarks.data import data_dir, load_locomo, load_longmemeval

STAGES = (
    "embedding",
    "int8",
    "locomo",
    "answers",
    "longmemeval",
    "scaling",
    "scaling_server",
    "checkpointer",
    "reliability",
    "agents",
    "qa",
)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small subsets: a run of a minute or two")
    p.add_argument(
        "--data", help="folder with locomo_dev.json etc. (default $PLUGMEM_DATA_DIR or ../shared/data)"
    )
    p.add_argument("--out", help="results folder (default benchmarks/results, or benchmarks/results/quick)")
    p.add_argument("--only", help=f"comma-separated stages out of {','.join(STAGES)}")
    p.add_argument(
        "--lme-limit",
        type=int,
        help="LongMemEval-S: N scored questions sampled evenly across types (default all)",
    )
    p.add_argument(
        "--sizes",
        help="scaling sizes for both pipelines (default 1k,10k full pipeline; 1k,10k,100k turns only)",
    )
    p.add_argument(
        "--before",
        help="answers stage: also run plugmem at this git ref (e.g. a commit) in the same run",
    )
    p.add_argument(
        "--llm",
        help="an init_chat_model spec ('openai:gpt-4o-mini') or module:factory returning a LangChain "
        "BaseChatModel: enables the QA stage, where it also extracts at ingest and plans the deep tier",
    )
    p.add_argument(
        "--lexical-on-disk-from",
        type=int,
        help="locomo stage: MemoryPolicy.lexical_on_disk_from (0 puts every namespace's lexical index "
        "in SQLite FTS5, or in PostgreSQL with --backend server; default: the policy's own)",
    )
    p.add_argument(
        "--backend",
        choices=("embedded", "server"),
        default="embedded",
        help="locomo stage: plugmem's memories in SQLite files (embedded) or in PostgreSQL (server: "
        "PLUGMEM_TEST_POSTGRES, else a throwaway cluster started for the run)",
    )
    p.add_argument(
        "--plugmem-only",
        action="store_true",
        help="locomo stage: plugmem's systems only (no baselines, no isolated latency run), to compare "
        "backends or settings",
    )
    p.add_argument("--judge", help="the judge model, same forms (default: the --llm model)")
    p.add_argument("--qa-limit", type=int, help="QA stage: at most N questions")
    p.add_argument("--qa-sessions", type=int, help="QA stage: only the first N sessions of each conversation")
    return p.parse_args(argv)


def _save(out: Path, results: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "results.json.tmp"
    tmp.write_text(json.dumps(results, indent=1, default=str))
    tmp.replace(out / "results.json")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    folder = data_dir(args.data)
    out = Path(args.out) if args.out else (RESULTS / "quick" if args.quick else RESULTS)
    stages = [s for s in (args.only.split(",") if args.only else STAGES) if s]
    unknown = set(stages) - set(STAGES)
    if unknown:
        print(f"unknown stage(s) {sorted(unknown)}; choose from {', '.join(STAGES)}", file=sys.stderr)
        return 2
    if "qa" in stages and not args.llm:
        stages.remove("qa")  # needs a model; documented in benchmarks/README.md
    results: dict[str, Any] = {}
    previous = out / "results.json"
    if args.only and previous.exists():
        results = json.loads(previous.read_text())  # a partial rerun updates its own stages only
    results["machine"] = machine()
    results["quick"] = args.quick
    results["data"] = str(folder)
    convs = load_locomo(folder, limit=1 if args.quick else None)
    if args.quick:
        convs[0].questions = convs[0].questions[:40]

    run_info = {k: results["machine"][k] for k in RUN_FIELDS}

    def stage(name: str, fn: Callable[[], Any]) -> None:
        if name not in stages:
            return
        print(f"== {name}", file=sys.stderr, flush=True)
        clock = Stopwatch()
        results[name] = fn()
        results.setdefault("stage_seconds", {})[name] = round(clock.s, 1)
        # a partial rerun (--only) keeps other stages' results: record which run measured each
        results.setdefault("stage_runs", {})[name] = run_info
        _save(out, results)
        print(f"== {name} done in {clock.s:.0f} s", file=sys.stderr, flush=True)

    def embedding() -> Any:
        from benchmarks import embedding as emb

        texts = [f"{t.speaker}: {t.text}" for c in convs for t in c.turns]
        queries = [q.question for c in convs for q in c.questions][:200]
        return emb.run(texts, queries, onnx_model(), chroma_sample=100 if args.quick else 400)

    def int8() -> Any:
        from benchmarks import int8 as i8

        return i8.run(convs)

    def locomo() -> Any:
        from benchmarks import locomo as lc

        opts: dict[str, Any] = {
            "quick": args.quick,
            "lexical_on_disk_from": args.lexical_on_disk_from,
            "plugmem_only": args.plugmem_only,
        }
        if args.backend == "embedded":
            return lc.run(convs, **opts)
        from benchmarks.servers import postgres

        with postgres() as url:
            return lc.run(convs, server=url, **opts)

    def answers() -> Any:
        from benchmarks import answers as ans

        lo = load_locomo(folder, limit=1 if args.quick else None, adversarial=True)
        if args.quick:
            lo[0].questions = lo[0].questions[:60]
        limit = args.lme_limit or (4 if args.quick else None)
        hay, _ = load_longmemeval(folder, limit=limit)
        return ans.run(lo, hay, before=args.before)

    def longmemeval() -> Any:
        from benchmarks import longmemeval as lme

        limit = args.lme_limit or (2 if args.quick else None)
        haystacks, skipped = load_longmemeval(folder, limit=limit)
        return lme.run(haystacks, skipped)

    def scaling() -> Any:
        from benchmarks import scaling as sc

        given = tuple(int(x) for x in args.sizes.split(",")) if args.sizes else None
        full = given or ((1_000,) if args.quick else (1_000, 10_000))
        bare = given or (() if args.quick else (1_000, 10_000, 100_000))  # quick: one pass only
        # each pipeline in a fresh process: after LongMemEval this one holds ~3 GB, which would show
        # in the RSS column and, through GC pauses, in tail latencies (checkpointer p95 tripled)
        out = {"full_pipeline": fresh_process(sc.run, sizes=full, quick=args.quick, structure=True)}
        if bare:
            out["turns_only"] = fresh_process(
                sc.run, sizes=bare, quick=args.quick, structure=False, baselines=False
            )
        return out

    def scaling_server() -> Any:
        from benchmarks import scaling as sc

        # turns only, as the embedded stage's 100k point: a fresh PostgreSQL + Chroma server per size
        sizes = tuple(int(x) for x in args.sizes.split(",")) if args.sizes else None
        sizes = sizes or ((1_000,) if args.quick else (1_000, 10_000, 100_000))
        run = fresh_process(
            sc.run, sizes=sizes, quick=args.quick, structure=False, baselines=False, backend="server"
        )
        return {"turns_only": run}

    def checkpointer() -> Any:
        from benchmarks import checkpointer_overhead as co

        return fresh_process(co.run, quick=args.quick)

    def reliability() -> Any:
        from benchmarks import reliability as rel

        # fresh process: tail latencies and the kill -9 writers' timing must not share a 3 GB heap
        return fresh_process(rel.run, quick=args.quick)

    def agents() -> Any:
        from benchmarks import multi_agent as ma

        # agent processes on one PostgreSQL memory (a throwaway cluster unless PLUGMEM_TEST_POSTGRES)
        return ma.stage(quick=args.quick)

    def qa() -> Any:
        from benchmarks import qa as qa_mod

        llm = qa_mod.load_llm(args.llm)
        judge = qa_mod.load_llm(args.judge) if args.judge else None
        picked = [qa_mod.subset(c, args.qa_sessions) for c in convs]
        limit = args.qa_limit if args.qa_limit is not None else (40 if args.quick else None)
        result = qa_mod.run_with_memory_llm(picked, llm, judge, embeddings=onnx_model(), limit=limit)
        result["models"] = {"answer": args.llm, "judge": args.judge or args.llm}
        return result

    for name, fn in (
        ("embedding", embedding),
        ("int8", int8),
        ("locomo", locomo),
        ("answers", answers),
        ("longmemeval", longmemeval),
        ("scaling", scaling),
        ("scaling_server", scaling_server),
        ("checkpointer", checkpointer),
        ("reliability", reliability),
        ("agents", agents),
        ("qa", qa),
    ):
        stage(name, fn)
    report.write(out, results)
    print(f"results: {out / 'results.json'}\nreport:  {out / 'REPORT.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    raise SystemExit(main())
