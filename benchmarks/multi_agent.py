"""Many agent processes on one server memory: throughput, recall latency, errors, lost messages.

Why processes, not threads: the point of the server backend is that separate processes (agents,
workers behind a LangGraph deployment, other machines) share one memory; each process here
opens its own `PlugMem` on the same PostgreSQL database, writes its own namespace and a shared
one, recalls after each write, and also writes a block of "common" messages every agent sends
with the same ids (they must be stored once). Afterwards the database is audited: every message
stored exactly once (lost = 0, duplicated = 0), every step derived exactly once (each step in
exactly one event), nothing quarantined or failed.

    python -m benchmarks.multi_agent --url postgresql://user@host:port/db [--processes 1,4,16]
    python -m benchmarks.multi_agent --server        # starts a throwaway PostgreSQL (tests/pg_cluster.py)

Processes are started with `spawn` (never fork a process that loaded onnxruntime or Chroma,
docs/NOTES.md). Memories are lexical-only by default: the stage measures storage and
coordination, not embedding throughput (`--embeddings` turns the model on).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.servers import fresh_schema, postgres

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "multi_agent.json"
SHARED_NS = ("team", "shared")
COMMON = 5  # messages every agent adds with the same ids


@dataclass(slots=True)
class AgentResult:
    agent: int
    added: int
    seconds: float
    recall_ms: list[float]
    errors: list[str]


def own_namespace(agent: int) -> tuple[str, ...]:
    return ("agents", f"a{agent}")


def agent(url: str, index: int, messages: int, embeddings: bool, start_at: float, out: Any) -> None:
    """One agent process: add to its own and the shared namespace, recall after each add, then flush."""
    from plugmem import PlugMem

    recall_ms: list[float] = []
    errors: list[str] = []
    added = 0
    while time.time() < start_at:  # every process starts writing at the same moment
        time.sleep(0.005)
    t0 = time.perf_counter()
    try:
        with PlugMem.open(url, embeddings=True if embeddings else None) as mem:
            for i in range(messages):
                try:
                    added += _turn(mem, index, i, recall_ms)
                except Exception as exc:  # counted, and the agent goes on (as an app would)
                    errors.append(f"{type(exc).__name__}: {exc}")
            mem.flush(timeout=600)
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    out.put(asdict(AgentResult(index, added, time.perf_counter() - t0, recall_ms, errors)))


def _turn(mem: Any, index: int, i: int, recall_ms: list[float]) -> int:
    """One turn of agent `index`: its own message, a shared one, maybe a common one; one recall."""
    session = f"s{index}"
    mem.add(
        [
            {
                "role": "user",
                "content": f"Agent {index} note {i}: project topic{i} is due on day {i}.",
                "id": f"a{index}-{i}",
            }
        ],
        namespace=own_namespace(index),
        session_id=session,
    )
    mem.add(
        [
            {
                "role": "user",
                "content": f"Shared note {i} from agent {index} about topic{i}.",
                "id": f"s{index}-{i}",
            }
        ],
        namespace=SHARED_NS,
        session_id=session,
    )
    n = 2
    if i < COMMON:
        mem.add(
            [
                {
                    "role": "user",
                    "content": f"Common fact {i}: the office opens at {8 + i} am.",
                    "id": f"common-{i}",
                }
            ],
            namespace=SHARED_NS,
            session_id="common",
        )
        n += 1
    t = time.perf_counter()
    mem.recall(f"When is project topic{i} due?", namespace=own_namespace(index), budget_tokens=300)
    recall_ms.append((time.perf_counter() - t) * 1000)
    return n


def audit(url: str, processes: int, messages: int) -> dict[str, int]:
    """What the database holds after the run: lost, duplicated and twice-derived messages."""
    from plugmem import open_database

    expected: dict[tuple[str, str], int] = {}
    for a in range(processes):
        for i in range(messages):
            expected[(f"agents/a{a}", f"a{a}-{i}")] = 1
            expected[("team/shared", f"s{a}-{i}")] = 1
    for i in range(min(COMMON, messages)):
        expected[("team/shared", f"common-{i}")] = 1
    db = open_database(url)
    try:
        with db.tx(write=False) as cur:
            rows = cur.execute("SELECT namespace, id, state FROM steps").fetchall()
            events = cur.execute("SELECT namespace, data FROM events").fetchall()
            quarantined = int(cur.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0])
            failures = int(cur.execute("SELECT COUNT(*) FROM failures").fetchone()[0])
    finally:
        db.close()
    stored: dict[tuple[str, str], int] = {}
    for ns, sid, _ in rows:
        stored[(ns, sid)] = stored.get((ns, sid), 0) + 1
    in_events: dict[tuple[str, str], int] = {}
    for ns, data in events:
        for sid in json.loads(data)["step_ids"]:
            in_events[(ns, sid)] = in_events.get((ns, sid), 0) + 1
    return {
        "expected": len(expected),
        "stored": len(rows),
        "lost": sum(1 for k in expected if k not in stored),
        "duplicated": sum(n - 1 for n in stored.values() if n > 1),
        "unexpected": sum(1 for k in stored if k not in expected),
        "unprocessed": sum(1 for r in rows if r[2] != 1),
        "derived_twice": sum(1 for n in in_events.values() if n > 1),
        "not_derived": sum(1 for k in stored if k not in in_events),
        "quarantined": quarantined,
        "failures": failures,
    }


def run(url: str, processes: int, messages: int, *, embeddings: bool = False) -> dict[str, Any]:
    """`processes` agents of `messages` turns each against the (empty) database at `url`."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    start_at = time.time() + 2.0 + 0.25 * processes  # time for every interpreter to import plugmem
    procs = [
        ctx.Process(target=agent, args=(url, i, messages, embeddings, start_at, out))
        for i in range(processes)
    ]
    for p in procs:
        p.start()
    results = [AgentResult(**out.get(timeout=1200)) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    wall = max(r.seconds for r in results)
    recalls = sorted(ms for r in results for ms in r.recall_ms)
    added = sum(r.added for r in results)
    return {
        "processes": processes,
        "messages_per_agent": messages,
        "added": added,
        "seconds": round(wall, 2),
        "adds_per_s": round(added / wall, 1) if wall else 0.0,
        "recalls": len(recalls),
        "recall_p50_ms": round(statistics.median(recalls), 1) if recalls else None,
        "recall_p95_ms": round(recalls[int(0.95 * (len(recalls) - 1))], 1) if recalls else None,
        "errors": sum(len(r.errors) for r in results),
        "first_errors": [e for r in results for e in r.errors][:5],
        **audit(url, processes, messages),
    }


def stage(*, quick: bool, url: str | None = None) -> dict[str, Any]:
    """The benchmark stage (`python -m benchmarks --only agents`): 1, 4, 16 agents (quick: 1, 4).

    On the server at `url`, else PLUGMEM_TEST_POSTGRES, else a throwaway cluster started for it.
    """
    sizes, messages = ((1, 4), 10) if quick else ((1, 4, 16), 40)
    load = [round(x, 2) for x in os.getloadavg()]
    with postgres(url) as server:
        rows = []
        for n in sizes:
            row = run(fresh_schema(server, f"bench_agents_{n}"), n, messages)
            print(json.dumps(row), file=sys.stderr, flush=True)
            rows.append(row)
    return {
        "backend": "PostgreSQL 15 (a local cluster)",
        "load_avg_at_start": load,
        "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
        "rows": rows,
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.multi_agent", description=__doc__.split("\n")[0])
    p.add_argument("--url", help="a PostgreSQL server URL (each size runs in a fresh schema of it)")
    p.add_argument("--server", action="store_true", help="start a throwaway PostgreSQL for the run")
    p.add_argument("--processes", default="1,4,16")
    p.add_argument("--messages", type=int, default=40, help="turns per agent")
    p.add_argument("--embeddings", action="store_true", help="use the embedding model (default lexical-only)")
    p.add_argument("--out", default=str(DEFAULT_OUT))
    args = p.parse_args(argv)
    if args.processes == "1,4,16" and args.messages == 40 and not args.embeddings:
        result = stage(quick=False, url=None if args.server else args.url)
    else:
        result = _custom(args)
    from benchmarks.common import machine

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"machine": machine(), **result}, indent=1, default=str) + "\n")
    return 0


def _custom(args: argparse.Namespace) -> dict[str, Any]:
    """A run with other sizes, turn counts or the embedding model."""
    with postgres(args.url, throwaway=args.server) as url:
        rows = []
        for n in (int(x) for x in args.processes.split(",")):
            rows.append(
                run(fresh_schema(url, f"bench_agents_{n}"), n, args.messages, embeddings=args.embeddings)
            )
            print(json.dumps(rows[-1]), flush=True)
    return {"rows": rows}


if __name__ == "__main__":
    sys.exit(main())
