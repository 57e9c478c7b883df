"""What a checkpointer that feeds memory costs per graph step, against LangGraph's SqliteSaver.

The same small StateGraph (MessagesState; a deterministic "model" node appending an
AIMessage, then an "annotate" node appending a second one) runs the same turns, each
turn a user message sent with `invoke` to one of several threads, under:

- `sqlite`: LangGraph's `SqliteSaver` on a temp file (`sqlite3.connect(..., check_same_thread=False)`);
- `plugmem_saver`: `PlugMemSaver(path=...)`, no memory;
- `plugmem_feeding`: `PlugMemSaver(memory=PlugMem.open(...))` feeding every thread into a
  real memory (MiniLM ONNX embeddings from PLUGMEM_EMBEDDING_MODEL_DIR, lexical-only with
  a warning when the model is missing), whose extraction and indexing run meanwhile;
- `plugmem_feed_only`: the same feeding saver on a memory whose extraction/indexing
  worker is not started (`PlugMem(..., start_worker=False)`): `memory.add` still appends
  durably, so this isolates what the saver's own feeding costs from what memory's
  background indexing costs on the same cores;
- `inmemory`: LangGraph's `InMemorySaver`, the no-I/O floor, for context.

Fairness: every SQLite saver runs WAL with `synchronous=FULL` (fsync per commit), set
explicitly on SqliteSaver's connection (Python's sqlite3 default is FULL too, and
SqliteSaver switches the file to WAL itself); all databases sit in the same temp dir.
Each saver gets the same untimed warm-up turns, then the turns run in rounds: in each
round every saver runs a block of turns, the order rotating from round to round, so
drift in machine speed spreads over all of them. Blocks rather than interleaved turns,
so that the feeding saver's background work (its feed thread; memory's extraction and
embedding on the same cores) slows its own block and not the baseline's. After each
feeding block its backlog is drained (`saver.flush()`, then `mem.flush()`); that time
is reported separately, since it is off the step's path by design. The time measured
is wall-clock per `invoke` (all the checkpoints of that turn: input + 2 nodes).

    .venv/bin/python -m benchmarks.checkpointer_overhead [--quick]

Writes benchmarks/results/checkpointer_overhead.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, cast

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, MessagesState, StateGraph
from plugmem_langgraph.checkpoint import PlugMemSaver

from benchmarks.common import machine
from plugmem import MemoryPolicy, PlugMem
from plugmem.storage.sqlite import SQLiteDatabase

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "checkpointer_overhead.json"
DEFAULT_MODEL = ROOT.parent / "shared" / "models" / "all-MiniLM-L6-v2" / "onnx"
TARGET_RATIO = 1.5

TOPICS = [
    "I moved to Porto last spring and I still get lost near the river.",
    "My sister Ana works night shifts as a nurse at São João hospital.",
    "I am allergic to peanuts, so please never suggest satay.",
    "I drive a blue Fiat Panda that I bought second-hand in 2019.",
    "On weekends I hike in Peneda-Gerês with two friends from work.",
    "I am learning the cello; my teacher says my bowing is too tense.",
    "We are planning a trip to Kyoto in April for the cherry blossoms.",
    "I switched to a standing desk and my back pain is much better.",
]


def model(state: MessagesState) -> dict[str, Any]:
    last = state["messages"][-1]
    return {"messages": [AIMessage(content=f"Got it: {last.content} Anything else I should keep in mind?")]}


def annotate(state: MessagesState) -> dict[str, Any]:
    n = sum(1 for m in state["messages"] if isinstance(m, HumanMessage))
    return {"messages": [AIMessage(content=f"(turn {n} noted)")]}


def build(checkpointer: Any) -> Any:
    g = StateGraph(MessagesState)
    g.add_node("model", model)
    g.add_node("annotate", annotate)
    g.add_edge(START, "model")
    g.add_edge("model", "annotate")
    g.add_edge("annotate", END)
    return g.compile(checkpointer=checkpointer)


def turn_text(i: int) -> str:
    return f"{TOPICS[i % len(TOPICS)]} (note {i})"


def summary(ms: list[float]) -> dict[str, float]:
    s = sorted(ms)
    return {
        "n": len(s),
        "p50_ms": round(statistics.median(s), 3),
        "p95_ms": round(s[min(len(s) - 1, round(0.95 * (len(s) - 1)))], 3),
        "mean_ms": round(statistics.fmean(s), 3),
        "max_ms": round(s[-1], 3),
    }


def _pragma(conn: sqlite3.Connection, name: str) -> Any:
    return conn.execute(f"PRAGMA {name}").fetchone()[0]


def _conn_of(saver: PlugMemSaver) -> sqlite3.Connection:
    """The saver's own SQLite connection (these savers are on files)."""
    return cast(SQLiteDatabase, saver._db)._conn


def one_run(invokes: int, threads: int, warmup: int, rounds: int) -> dict[str, Any]:
    """One full measurement: fresh databases, warm-up, then the rotating blocks."""
    notes: list[str] = []
    load = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="plugmem-ckpt-bench-") as tmp, ExitStack() as stack:
        tmpdir = Path(tmp)
        conn = sqlite3.connect(tmpdir / "sqlite_saver.db", check_same_thread=False)
        stack.callback(conn.close)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        sqlite_saver = SqliteSaver(conn)
        sqlite_saver.setup()

        plain = PlugMemSaver(path=tmpdir / "plugmem_saver.db", synchronous="FULL")
        stack.callback(plain.close)

        mem = PlugMem.open(tmpdir / "memory", policy=MemoryPolicy(synchronous="FULL"))
        stack.callback(mem.close)
        if mem.lexical_only:
            notes.append("embedding model not found: the feeding run used lexical-only memory")
            print("warning: embedding model not found; feeding a lexical-only memory", file=sys.stderr)
        feeding = PlugMemSaver(memory=mem)
        stack.callback(feeding.close)  # closed before the memory (callbacks run last-in first-out)
        # same saver, but memory's extraction/indexing worker never runs: the saver's own feed cost
        appender = PlugMem(tmpdir / "memory_no_worker", embeddings=None, start_worker=False)
        stack.callback(appender.close)
        feed_only = PlugMemSaver(memory=appender)
        stack.callback(feed_only.close)

        savers: dict[str, Any] = {
            "sqlite": sqlite_saver,
            "plugmem_saver": plain,
            "plugmem_feeding": feeding,
            "plugmem_feed_only": feed_only,
            "inmemory": InMemorySaver(),
        }
        apps = {name: build(s) for name, s in savers.items()}
        pragmas = {
            "sqlite": {
                "journal_mode": _pragma(conn, "journal_mode"),
                "synchronous": _pragma(conn, "synchronous"),
            },
            "plugmem_saver": {
                "journal_mode": _pragma(_conn_of(plain), "journal_mode"),
                "synchronous": _pragma(_conn_of(plain), "synchronous"),
            },
            "plugmem_feeding": {
                "journal_mode": _pragma(_conn_of(feeding), "journal_mode"),
                "synchronous": _pragma(_conn_of(feeding), "synchronous"),
            },
            "plugmem_feed_only": {
                "journal_mode": _pragma(_conn_of(feed_only), "journal_mode"),
                "synchronous": _pragma(_conn_of(feed_only), "synchronous"),
            },
        }

        def invoke(name: str, thread: str, i: int) -> float:
            cfg = {"configurable": {"thread_id": thread, "user_id": f"user-{thread}"}}
            t0 = time.perf_counter()
            apps[name].invoke({"messages": [HumanMessage(turn_text(i), id=f"{thread}-h{i}")]}, cfg)
            return (time.perf_counter() - t0) * 1000

        for i in range(warmup):
            for name in apps:
                invoke(name, "warmup", i)
        feeding.flush(timeout=600)
        mem.flush(timeout=600)

        # blocks of turns per saver, rotating the order each round: the feeding saver's
        # background work (its feed thread, memory's extraction and embedding) lands in its
        # own block, and its backlog is drained (and timed) before the next saver runs
        times: dict[str, list[float]] = {name: [] for name in apps}
        names = list(apps)
        per_round = invokes // rounds
        feed_drain_s = memory_flush_s = 0.0
        drained = True
        for r in range(rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                for i in range(r * per_round, (r + 1) * per_round):
                    times[name].append(invoke(name, f"t{i % threads}", i))
                if name == "plugmem_feed_only":
                    feed_only.flush(timeout=600)
                if name == "plugmem_feeding":
                    t0 = time.perf_counter()
                    drained = feeding.flush(timeout=600) and drained
                    feed_drain_s += time.perf_counter() - t0
                    t0 = time.perf_counter()
                    mem.flush(timeout=600)
                    memory_flush_s += time.perf_counter() - t0
        stats = mem.stats()
        expected_steps = 3 * (invokes + warmup)  # user message + two AI messages per turn
        results = {name: summary(ms) for name, ms in times.items()}
        base = results["sqlite"]
        ratios = {
            name: {
                "p50": round(r["p50_ms"] / base["p50_ms"], 3),
                "p95": round(r["p95_ms"] / base["p95_ms"], 3),
                "mean": round(r["mean_ms"] / base["mean_ms"], 3),
            }
            for name, r in results.items()
        }
        return {
            "load_avg_at_start": load,
            "per_invoke": results,
            "ratio_to_sqlite": ratios,
            "pragmas": pragmas,
            "embeddings": "lexical-only" if mem.lexical_only else "all-MiniLM-L6-v2 (ONNX)",
            "feeding": {
                "fed_messages": feeding.fed_messages,
                "feed_errors": feeding.feed_errors,
                "drained": drained,
                "feed_drain_after_blocks_s": round(feed_drain_s, 3),
                "memory_flush_after_blocks_s": round(memory_flush_s, 3),
                "memory_steps": stats.steps,
                "expected_steps": expected_steps,
                "feed_only_fed_messages": feed_only.fed_messages,
                "feed_only_memory_steps": appender.stats().steps,
            },
            "notes": notes,
        }


def _median_of(runs: list[dict[str, Any]], key: str, name: str, stat: str) -> float:
    return round(statistics.median(r[key][name][stat] for r in runs), 3)


def run(quick: bool = False, out: Path | None = OUT, repeats: int | None = None) -> dict[str, Any]:
    """Time every saver on the same turns, `repeats` times (default 3, quick 1); write JSON to `out`.

    The headline numbers are medians over the repeats (each run's p50 / p95 / mean, and
    each run's ratio to SqliteSaver); the per-run results and the range are kept, since
    fsync and CPU contention on a shared machine move all of them between runs.
    """
    invokes, threads, warmup, rounds = (60, 4, 3, 2) if quick else (200, 8, 5, 4)
    repeats = repeats or (1 if quick else 3)
    os.environ.setdefault("PLUGMEM_EMBEDDING_MODEL_DIR", str(DEFAULT_MODEL))
    runs = [one_run(invokes, threads, warmup, rounds) for _ in range(repeats)]
    names = list(runs[0]["per_invoke"])
    per_invoke = {
        n: {st: _median_of(runs, "per_invoke", n, st) for st in ("p50_ms", "p95_ms", "mean_ms")}
        for n in names
    }
    ratios = {
        n: {st: _median_of(runs, "ratio_to_sqlite", n, st) for st in ("p50", "p95", "mean")} for n in names
    }
    ranges = {
        n: {
            st: [
                min(r["ratio_to_sqlite"][n][st] for r in runs),
                max(r["ratio_to_sqlite"][n][st] for r in runs),
            ]
            for st in ("p50", "p95", "mean")
        }
        for n in names
    }
    report: dict[str, Any] = {
        "benchmark": "checkpointer_overhead",
        "command": "python -m benchmarks.checkpointer_overhead" + (" --quick" if quick else ""),
        "machine": {
            **machine(),
            "command": "python -m benchmarks.checkpointer_overhead" + (" --quick" if quick else ""),
        },
        "setup": {
            "graph": "StateGraph(MessagesState): START -> model (AIMessage) -> annotate (AIMessage) -> END",
            "invokes": invokes,
            "threads": threads,
            "warmup_invokes_per_saver": warmup,
            "rounds": rounds,
            "repeats": repeats,
            "method": (
                f"{rounds} rounds; in each, every saver runs {invokes // rounds} turns in a block "
                "(order rotated per round); the feeding saver's backlog is drained after its block; "
                f"the whole run repeated {repeats}x on fresh databases, medians reported"
            ),
            "checkpoints_per_invoke": 3,
            "messages_per_thread_at_end": 3 * (invokes // threads),
            "sqlite_pragmas": runs[0]["pragmas"],
            "synchronous_note": (
                "all SQLite savers: WAL + synchronous=FULL (2); SqliteSaver's connection set explicitly "
                "(Python's sqlite3 default is FULL too; SqliteSaver.setup() switches the file to WAL)"
            ),
            "embeddings": runs[0]["embeddings"],
        },
        "per_invoke": per_invoke,
        "ratio_to_sqlite": ratios,
        "ratio_to_sqlite_range": ranges,
        "target": f"plugmem_feeding within {TARGET_RATIO}x of sqlite per invoke (median p50 and mean ratios)",
        "target_met": ratios["plugmem_feeding"]["p50"] <= TARGET_RATIO
        and ratios["plugmem_feeding"]["mean"] <= TARGET_RATIO,
        "feeding": runs[-1]["feeding"],
        "runs": [{k: v for k, v in r.items() if k not in ("pragmas", "embeddings")} for r in runs],
        "notes": sorted({n for r in runs for n in r["notes"]}),
    }
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return report


def table(report: dict[str, Any]) -> str:
    rows = [f"{'saver':<18} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}   x sqlite (p50 / p95 / mean)"]
    for name, r in report["per_invoke"].items():
        x = report["ratio_to_sqlite"][name]
        rows.append(
            f"{name:<18} {r['p50_ms']:>8.2f} {r['p95_ms']:>8.2f} {r['mean_ms']:>8.2f}   "
            f"{x['p50']:.2f} / {x['p95']:.2f} / {x['mean']:.2f}"
        )
    s = report["setup"]
    f = report["feeding"]
    if s["repeats"] > 1:
        rng = report["ratio_to_sqlite_range"]["plugmem_feeding"]
        rows.append(
            f"(medians of {s['repeats']} runs; plugmem_feeding / sqlite ranged p50 {rng['p50'][0]:.2f}-{rng['p50'][1]:.2f}, "
            f"p95 {rng['p95'][0]:.2f}-{rng['p95'][1]:.2f}, mean {rng['mean'][0]:.2f}-{rng['mean'][1]:.2f}; "
            f"load avg at start {[r['load_avg_at_start'][0] for r in report['runs']]})"
        )
    rows.append(
        f"{s['invokes']} invokes over {s['threads']} threads, {s['checkpoints_per_invoke']} checkpoints each; "
        f"WAL + synchronous=FULL everywhere; embeddings: {s['embeddings']}"
    )
    rows.append(
        f"feeding: {f['fed_messages']} messages fed, {f['feed_errors']} errors, memory has "
        f"{f['memory_steps']}/{f['expected_steps']} steps; after the blocks: feed drain "
        f"{f['feed_drain_after_blocks_s']} s, memory flush {f['memory_flush_after_blocks_s']} s"
    )
    rows.append(f"target ({report['target']}): {'met' if report['target_met'] else 'NOT met'}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="60 invokes over 4 threads instead of 200 over 8")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument(
        "--repeats", type=int, default=None, help="whole runs to take medians over (default 3, quick 1)"
    )
    args = ap.parse_args(argv)
    report = run(quick=args.quick, out=args.out, repeats=args.repeats)
    print(table(report))
    print(f"written to {args.out}")
    return 0


_: Callable[..., dict[str, Any]] = run  # the harness calls run(quick=...)

if __name__ == "__main__":
    sys.exit(main())
