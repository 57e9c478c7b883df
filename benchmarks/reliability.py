"""Reliability: durability under kill -9, tenant isolation under load, and what memory costs a graph.

Three measurements, each on fresh directories:

- `kill9`: a writer process appends batches of 5 messages (every 20 ms, turns-only ingest)
  and prints an ACK after each `add` returned; it is killed with SIGKILL at a random moment (0.3–2.5 s in, while its
  background ingest runs), then the directory is reopened (which also takes over the dead
  writer's lock) and every acknowledged id must be there. Rounds share one directory, so
  each writer also resumes the previous one's unfinished work. Reports acknowledged and
  lost ids (target: 0 lost) and that a final flush leaves nothing pending or quarantined.
- `isolation`: tenant B (a 300-message history) recalls in a loop, idle first and then
  while tenant A imports 1,500 messages through `add` (batches of 50, as an importer
  would). Recall p50/p95 (ms, with read-your-writes on, query vector cold) idle vs during
  the import; target: p95 during ≤ 2× idle. B's own add-then-recall (read-your-writes of
  its own message behind A's backlog) is reported beside it.
- `graph`: a LangGraph graph (recall node → deterministic model node) with `PlugMemSaver`
  feeding memory, vs the same graph without memory (no recall node, `SqliteSaver`).
  Invoke p50/p95 over the same turns, 4 threads round-robin.

    .venv/bin/python -m benchmarks.reliability [--quick]

Writes benchmarks/results/reliability.json and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, MessagesState, StateGraph
from plugmem_langgraph import PlugMemSaver, memory_node

from benchmarks.common import cold_query, machine
from plugmem import MemoryPolicy, PlugMem

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "reliability.json"
NS = ("bench", "writer")

WRITER = textwrap.dedent(
    """
    import sys, time
    from plugmem import MemoryPolicy, PlugMem
    mem = PlugMem.open(sys.argv[1], policy=MemoryPolicy(full_history_when_fits=False, extract_knowledge=False))
    start = int(sys.argv[2])
    i = start
    while True:
        batch = [{"role": "user", "content": f"note {i + j}: the code word for item {i + j} is zebra{i + j}",
                  "id": f"n{i + j}"} for j in range(5)]
        mem.add(batch, namespace=("bench", "writer"), session_id=f"s{i // 50}")
        print("ACK", i + 4, flush=True)
        i += 5
        time.sleep(0.02)  # an agent's pace (~250 messages/s at most), so the background ingest keeps up
    """
)

PEOPLE = ["Ana", "Bruno", "Chen", "Dara", "Eli", "Farah", "Goran", "Hana", "Ivo", "Jun"]
PLACES = ["Lisbon", "Porto", "Kyoto", "Oslo", "Lima", "Accra", "Hanoi", "Quito", "Riga", "Tunis"]
THINGS = ["a cello", "a bike", "a tent", "a kayak", "a camera", "a telescope", "a drone", "a loom"]


def summary(ms: list[float]) -> dict[str, float]:
    s = sorted(ms)
    if not s:
        return {"n": 0}
    return {
        "n": len(s),
        "p50_ms": round(statistics.median(s), 2),
        "p95_ms": round(s[min(len(s) - 1, round(0.95 * (len(s) - 1)))], 2),
        "max_ms": round(s[-1], 2),
    }


def sentence(rnd: random.Random, i: int) -> str:
    who, where, what = rnd.choice(PEOPLE), rnd.choice(PLACES), rnd.choice(THINGS)
    return f"{who} went to {where} in week {i % 52} and bought {what} for the trip number {i}."


# -- kill -9 ------------------------------------------------------------------------------------
KILL9_POLICY = MemoryPolicy(full_history_when_fits=False, extract_knowledge=False)


def kill9(rounds: int, seed: int = 7) -> dict[str, Any]:
    """Turns-only ingest (what is at stake is the log, and the final flush must stay short)."""
    rnd = random.Random(seed)
    acked_total, lost_total, per_round = 0, 0, []
    with tempfile.TemporaryDirectory(prefix="plugmem-kill9-") as tmp:
        path, script = Path(tmp) / "mem", Path(tmp) / "writer.py"
        script.write_text(WRITER)
        start = 0
        for _ in range(rounds):
            proc = subprocess.Popen(
                [sys.executable, str(script), str(path), str(start)], stdout=subprocess.PIPE, text=True
            )
            assert proc.stdout is not None
            last = start - 1
            kill_at: float | None = None  # the clock starts at the first ACK (imports take ~2 s)
            while kill_at is None or time.monotonic() < kill_at:
                line = proc.stdout.readline()
                if not line:
                    break
                if line.startswith("ACK"):
                    last = int(line.split()[1])
                    kill_at = kill_at or time.monotonic() + rnd.uniform(0.3, 2.5)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            t0 = time.perf_counter()
            with PlugMem.open(path, policy=KILL9_POLICY) as mem:
                reopen_ms = (time.perf_counter() - t0) * 1000
                stored = {s.id for s in mem.steps(NS)}
            acked = {f"n{i}" for i in range(start, last + 1)}
            lost = len(acked - stored)
            acked_total += len(acked)
            lost_total += lost
            per_round.append({"acked": len(acked), "lost": lost, "reopen_ms": round(reopen_ms, 1)})
            start = last + 1 + 5  # skip the batch that may have been in flight
        with PlugMem.open(path, policy=KILL9_POLICY) as mem:
            t0 = time.perf_counter()
            mem.flush()
            flush_s = time.perf_counter() - t0
            s = mem.stats()
            final = {
                "steps": s.steps,
                "pending": s.pending,
                "quarantined": s.quarantined,
                "flush_s": round(flush_s, 1),
            }
    return {
        "rounds": rounds,
        "acknowledged": acked_total,
        "lost": lost_total,
        "reopen_ms": summary([r["reopen_ms"] for r in per_round]),
        "after_final_flush": final,
        "per_round": per_round,
    }


# -- tenant isolation ------------------------------------------------------------------------
def _recalls(
    mem: PlugMem, ns: tuple[str, ...], queries: list[str], until: threading.Event | None
) -> list[float]:
    out: list[float] = []
    i = 0
    while (until is None and i < len(queries)) or (until is not None and not until.is_set()):
        cold_query(mem.embeddings)
        t0 = time.perf_counter()
        mem.recall(queries[i % len(queries)], namespace=ns, mode="fast")
        out.append((time.perf_counter() - t0) * 1000)
        i += 1
    return out


def isolation(import_size: int, seed: int = 11) -> dict[str, Any]:
    rnd = random.Random(seed)
    a, b = ("bench", "importer"), ("bench", "reader")
    policy = MemoryPolicy(full_history_when_fits=False)
    queries = [f"What did {p} buy in {q}?" for p in PEOPLE for q in PLACES[:4]]
    with (
        tempfile.TemporaryDirectory(prefix="plugmem-iso-") as tmp,
        PlugMem.open(Path(tmp) / "m", policy=policy) as mem,
    ):
        mem.add(
            [{"role": "user", "content": sentence(rnd, i), "id": f"b{i}"} for i in range(300)], namespace=b
        )
        mem.flush()
        _recalls(mem, b, queries[:10], None)  # warm-up
        idle = _recalls(mem, b, queries * 5, None)  # as many samples as a p95 needs

        done = threading.Event()
        import_s: list[float] = []

        def importer() -> None:
            t0 = time.perf_counter()
            for start in range(0, import_size, 50):
                batch = [
                    {"role": "user", "content": sentence(rnd, i), "id": f"a{i}"}
                    for i in range(start, min(import_size, start + 50))
                ]
                mem.add(batch, namespace=a)
            while mem.stats(a).pending:  # the import is over once it is indexed
                time.sleep(0.02)
            import_s.append(time.perf_counter() - t0)
            done.set()

        thread = threading.Thread(target=importer)
        thread.start()
        during = _recalls(mem, b, queries, done)
        thread.join()

        # B's own write behind A's backlog: add, then a recall that must see it
        own: list[float] = []

        def backlog() -> None:
            mem.add(
                [{"role": "user", "content": sentence(rnd, i), "id": f"x{i}"} for i in range(500)],
                namespace=a,
            )

        thread = threading.Thread(target=backlog)
        thread.start()
        for i in range(20):
            mem.add(
                [{"role": "user", "content": f"reminder {i}: water the ferns", "id": f"own{i}"}], namespace=b
            )
            t0 = time.perf_counter()
            r = mem.recall(f"reminder {i} ferns", namespace=b, mode="fast")
            own.append((time.perf_counter() - t0) * 1000)
            assert f"own{i}" in r.source_ids or "answered from what is indexed" in r.reason
        thread.join()
        mem.flush()
    idle_s, during_s = summary(idle), summary(during)
    return {
        "import_messages": import_size,
        "import_s": round(import_s[0], 1) if import_s else None,
        "recall_idle": idle_s,
        "recall_during_import": during_s,
        "p95_ratio": round(during_s["p95_ms"] / idle_s["p95_ms"], 2) if during and idle else None,
        "add_then_recall_during_import": summary(own),
    }


# -- a graph with memory vs without ------------------------------------------------------------
def _model(state: MessagesState) -> dict[str, Any]:
    last = next(m for m in reversed(state["messages"]) if isinstance(m, HumanMessage))
    return {"messages": [AIMessage(content=f"Got it: {last.content}")]}


def _graph(checkpointer: Any, mem: PlugMem | None, policy: MemoryPolicy) -> Any:
    g = StateGraph(MessagesState)
    g.add_node("model", _model)
    if mem is not None:
        g.add_node("recall", memory_node(mem, policy))
        g.add_edge(START, "recall")
        g.add_edge("recall", "model")
    else:
        g.add_edge(START, "model")
    g.add_edge("model", END)
    return g.compile(checkpointer=checkpointer)


# memory variants: the default policy, and with each of its two waits taken out, to show where time goes
VARIANTS: dict[str, dict[str, Any]] = {
    "with_memory": {},
    "with_memory_fast_tier": {"mode": "fast"},
    "with_memory_no_read_your_writes": {"read_your_writes": False},
}


def _invoke_times(app: Any, texts: list[str]) -> dict[str, float]:
    ms: list[float] = []
    for i, text in enumerate(texts):
        cfg = {"configurable": {"thread_id": f"t{i % 4}", "user_id": f"u{i % 4}"}}
        t0 = time.perf_counter()
        app.invoke({"messages": [HumanMessage(text)]}, cfg)
        ms.append((time.perf_counter() - t0) * 1000)
    return summary(ms[5:])  # the first turns pay one-off imports and index creation


def graph(turns: int, seed: int = 5) -> dict[str, Any]:
    rnd = random.Random(seed)
    texts = [sentence(rnd, i) for i in range(turns)]
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="plugmem-graph-") as tmp:
        base = MemoryPolicy(name="bench", namespace=("memories", "{user_id}"), full_history_when_fits=False)
        conn = sqlite3.connect(Path(tmp) / "plain.db", check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        out["without_memory"] = _invoke_times(_graph(SqliteSaver(conn), None, base), texts)
        conn.close()
        for name, change in VARIANTS.items():
            policy = base.model_copy(update=change)
            with PlugMem.open(Path(tmp) / name, policy=policy) as mem:
                saver = PlugMemSaver(memory=mem, policy=policy)
                out[name] = _invoke_times(_graph(saver, mem, policy), texts)
                saver.close()
    plain_p95 = out["without_memory"]["p95_ms"]
    out["p95_ratio"] = {name: round(out[name]["p95_ms"] / plain_p95, 1) for name in VARIANTS}
    return out


def run(quick: bool = False) -> dict[str, Any]:
    t0 = time.perf_counter()
    result: dict[str, Any] = {
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "kill9": kill9(5 if quick else 20),
        "isolation": isolation(300 if quick else 1_500),
        "graph": graph(40 if quick else 200),
    }
    result["seconds"] = round(time.perf_counter() - t0, 1)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    res = {"machine": machine(), **run(quick=args.quick)}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, indent=1, default=str))
    print(json.dumps({k: v for k, v in res.items() if k != "machine"}, indent=1, default=str))


if __name__ == "__main__":
    main()
