"""Where BM25 in RAM stops paying for itself: the two lexical backends side by side by namespace size.

For each size, one namespace's documents (LoCoMo conv-26's turns, then LongMemEval filler turns,
as the scaling stage builds them) go into `LexicalIndex` (bm25s in RAM) and into `FtsIndex`
(SQLite FTS5 in a memory database file), in ingest-sized batches. Reported per backend: the time
to index, search latency p50/p95 over LoCoMo questions (top 40, as the fast tier asks), the time a
reopen takes to its first answer (the catalog load), and the memory each keeps (Python heap for
RAM, file size for FTS5). This sets
`MemoryPolicy.lexical_on_disk_from` (see docs/NOTES.md). With `--postgres URL` the same runs on
`PgFtsIndex` (the `lexical` tsvector table) in that database, reporting the table's size with its
indexes; its rows are deleted afterwards.

    python -m benchmarks.lexical_backends --sizes 1000,5000,20000,50000,100000
    python -m benchmarks.lexical_backends --sizes 5000,20000 --postgres postgresql://user@host:5432/db
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import Stopwatch
from benchmarks.data import data_dir, load_locomo
from benchmarks.metrics import latency_summary
from benchmarks.scaling import filler_turns
from plugmem.index.lexical import LexicalIndex
from plugmem.index.lexical_fts import FtsIndex
from plugmem.index.lexical_pg import PgFtsIndex
from plugmem.index.lexical_search import LexicalSearch
from plugmem.namespace import NamespaceKey
from plugmem.storage.postgres import PostgresStore
from plugmem.storage.sqlite import SQLiteStore

BATCH = 128  # documents per write, as the ingest pipeline puts them
K = 40


def corpus(n: int) -> tuple[list[tuple[str, str]], list[str]]:
    """`n` (id, text) documents and LoCoMo conv-26's questions."""
    conv = load_locomo(data_dir(), limit=1)[0]
    docs = [(f"t:{t.id}", f"{t.speaker}: {t.text}") for t in conv.turns]
    filler = filler_turns(max(0, n - len(docs)))
    docs += [(f"t:{t.id}", f"{t.speaker}: {t.text}") for t in filler]
    return docs[:n], [q.question for q in conv.questions]


def measure(index: LexicalSearch, docs: Sequence[tuple[str, str]], queries: Sequence[str]) -> dict[str, Any]:
    clock = Stopwatch()
    for i in range(0, len(docs), BATCH):
        index.add(docs[i : i + BATCH])
    index.search(queries[0], K)  # the in-RAM index builds its base on the first search
    build_s = clock.ms / 1000
    times = []
    for q in queries:
        clock = Stopwatch()
        index.search(q, K)
        times.append(clock.ms)
    return {"index_s": round(build_s, 2), "search_ms": latency_summary(times)}


def reopen_s(index: LexicalSearch, docs: Sequence[tuple[str, str]], query: str) -> float:
    """A catalog load: the index brought in step with the log, then the first search."""
    clock = Stopwatch()
    index.sync(docs)
    index.search(query, K)
    return round(clock.ms / 1000, 2)


def heap_mb(docs: Sequence[tuple[str, str]], query: str) -> float:
    """Python heap held by the in-RAM index (measured apart: tracemalloc slows what it traces)."""
    gc.collect()
    tracemalloc.start()
    ram = LexicalIndex()
    ram.sync(docs)
    ram.search(query, K)
    held = tracemalloc.get_traced_memory()[0] / 2**20
    tracemalloc.stop()
    return round(held, 1)


def run_size(n: int, folder: Path) -> dict[str, Any]:
    docs, queries = corpus(n)
    out_ram = measure(LexicalIndex(), docs, queries)
    out_ram["reopen_s"] = reopen_s(LexicalIndex(), docs, queries[0])
    out_ram["heap_mb"] = heap_mb(docs, queries[0])
    path = folder / f"fts-{n}.sqlite"
    store = SQLiteStore(path, synchronous="NORMAL")
    out_fts = measure(FtsIndex(store, NamespaceKey("bench")), docs, queries)
    store.close()
    store = SQLiteStore(path, synchronous="NORMAL")
    out_fts["reopen_s"] = reopen_s(FtsIndex(store, NamespaceKey("bench")), docs, queries[0])
    store.close()
    out_fts["file_mb"] = round(path.stat().st_size / 2**20, 1)
    return {"docs": n, "ram": out_ram, "fts5": out_fts}


def run_postgres(n: int, url: str) -> dict[str, Any]:
    """The same sizes on PostgreSQL's `lexical` table (a namespace of its own, deleted afterwards)."""
    docs, queries = corpus(n)
    ns = NamespaceKey(f"bench-lexical-{n}")
    store = PostgresStore(url)
    try:
        PgFtsIndex(store, ns).drop()
        out = measure(PgFtsIndex(store, ns), docs, queries)
        with store.tx() as c:  # what autovacuum would do after a bulk load
            c.execute("ANALYZE lexical")
        out["reopen_s"] = reopen_s(PgFtsIndex(store, ns), docs, queries[0])
        out["table_mb"] = round(int(store.query("SELECT pg_total_relation_size('lexical')")[0][0]) / 2**20, 1)
        PgFtsIndex(store, ns).drop()
    finally:
        store.close()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.lexical_backends", description=__doc__.split("\n")[0]
    )
    p.add_argument("--sizes", default="1000,5000,20000,50000,100000")
    p.add_argument("--out", help="write the rows as JSON to this file")
    p.add_argument(
        "--postgres", metavar="URL", help="also measure the tsvector table in this PostgreSQL database"
    )
    args = p.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="plugmem-lexical-") as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            row = run_size(n, Path(tmp))
            if args.postgres:
                row["postgres"] = run_postgres(n, args.postgres)
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
