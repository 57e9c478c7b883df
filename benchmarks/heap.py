"""What a big namespace keeps in RAM once it is open: the Python heap by file, and the rest.

Why: the scaling benchmark reports one RSS figure; to bring it down one must know whether the
catalog's documents, the vector index (native memory, outside the Python heap), the model or the
lexical index holds it. This ingests the scaling benchmark's namespace (conv-26 plus filler, full
pipeline) once into `--store`, then opens it in a fresh process with tracemalloc on, asks one
question in fast mode (which loads the catalog, as the first recall of a served namespace does) and
one in deep mode (which builds the namespace graph), and reports RSS after each, the traced Python
heap grouped by source file, and the catalog's documents by kind. RSS minus the traced heap is
native memory: the model, onnxruntime's arenas and Chroma's HNSW index.

    python -m benchmarks.heap --store /tmp/plugmem-heap-10k --size 10000 [--precision int8]
    python -m benchmarks.heap --store /tmp/plugmem-heap-3k --size 3000 --disk-from 2000  # a big one, small
    python -m benchmarks.heap --vectors 50000      # RSS per vector of Chroma's index alone (random vectors)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import WARMUP_QUERY, Stopwatch, fresh_process, onnx_model, rss_mb
from benchmarks.data import data_dir, load_locomo
from benchmarks.scaling import NAMESPACE, _ingest, filler_turns, schedule
from plugmem import MemoryPolicy, PlugMem
from plugmem.index.embeddings import OnnxMiniLM, Precision
from plugmem.namespace import ns_key

DONE = "ingested.json"


def _model(precision: Precision) -> OnnxMiniLM:
    model = onnx_model()
    return model if precision == "fp32" else OnnxMiniLM(model.model_dir, precision=precision)


def _policy(precision: Precision, disk_from: int | None) -> MemoryPolicy:
    # ingest at normal priority (as the scaling benchmark); `disk_from` lets a small namespace stand in for a big one
    return MemoryPolicy(embedding_precision=precision, ingest_niceness=0, lexical_on_disk_from=disk_from)


def build(store: Path, n: int, precision: Precision, disk_from: int | None) -> dict[str, Any]:
    """The scaling benchmark's namespace of `n` messages at `store` (once; later calls reuse it)."""
    done = store / DONE
    if done.exists():
        return dict(json.loads(done.read_text()))
    conv = load_locomo(data_dir())[0]
    turns = [*schedule(filler_turns(n - len(conv.turns))), *conv.turns]
    with PlugMem.open(
        store / "mem", embeddings=_model(precision), policy=_policy(precision, disk_from)
    ) as mem:
        info: dict[str, Any] = {
            "messages": n,
            "precision": precision,
            "ingest": _ingest(mem, turns, "ingest"),
        }
    done.write_text(json.dumps(info))
    return info


def _profile(store: str, precision: Precision, disk_from: int | None, top: int) -> dict[str, Any]:
    """Runs in a fresh process: open, one recall, then where the memory is."""
    model = _model(precision)
    base = rss_mb()
    tracemalloc.start()
    clock = Stopwatch()
    mem = PlugMem.open(Path(store) / "mem", embeddings=model, policy=_policy(precision, disk_from))
    mem.recall(WARMUP_QUERY, namespace=NAMESPACE, budget_tokens=1000, mode="fast")
    open_s = clock.s
    rss_fast = rss_mb()
    traced_fast = tracemalloc.get_traced_memory()[0]
    mem.recall(WARMUP_QUERY, namespace=NAMESPACE, budget_tokens=1000, mode="deep")  # builds the graph
    traced, peak = tracemalloc.get_traced_memory()
    snap = tracemalloc.take_snapshot()
    tracemalloc.stop()
    by_file = snap.statistics("filename")
    cat = mem.catalog(ns_key(NAMESPACE))
    out: dict[str, Any] = {
        "rss_model_loaded_mb": base,
        "rss_after_fast_recall_mb": rss_fast,
        "traced_after_fast_recall_mb": round(traced_fast / 2**20, 1),
        "rss_after_deep_recall_mb": rss_mb(),
        "open_and_first_recall_s": round(open_s, 2),
        "traced_mb": round(traced / 2**20, 1),
        "traced_peak_mb": round(peak / 2**20, 1),
        "by_file_mb": {
            str(s.traceback[0].filename).split("site-packages/")[-1].split("pipe15/")[-1]: round(
                s.size / 2**20, 1
            )
            for s in by_file[:top]
        },
    }
    kinds: dict[str, int] = {}
    for d in cat.docs.values():
        kinds[d.kind] = kinds.get(d.kind, 0) + 1
    out["docs"] = kinds
    mem.close()
    return out


def _vector_rss(n: int) -> dict[str, Any]:
    """Runs in a fresh process: RSS of Chroma on disk holding `n` random unit vectors, then queried."""
    import tempfile

    import numpy as np

    from plugmem.index.vectors import VectorIndex

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="plugmem-heap-vectors-") as tmp:
        index = VectorIndex(tmp, model_id="random")
        key = ns_key(NAMESPACE)
        index.upsert(key, ["warm"], np.ones((1, 384), dtype=np.float32), ["turn"])
        base = rss_mb()
        for start in range(0, n, 4000):
            vecs = rng.standard_normal((min(4000, n - start), 384)).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            index.upsert(key, [f"v{start + i}" for i in range(len(vecs))], vecs, ["turn"] * len(vecs))
        loaded = rss_mb()
        index.search(key, vecs[0], 100)
        out = {"vectors": n, "rss_before_mb": base, "rss_loaded_mb": loaded, "rss_after_query_mb": rss_mb()}
        index.close()
    out["kb_per_vector"] = round((out["rss_after_query_mb"] - base) * 1024 / n, 2)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.heap", description=__doc__.splitlines()[0])
    p.add_argument("--store", help="folder for the ingested memory (kept between runs)")
    p.add_argument("--vectors", type=int, help="instead: RSS per vector of Chroma's index, with this many")
    p.add_argument("--size", type=int, default=10_000, help="messages in the namespace")
    p.add_argument("--precision", choices=("fp32", "int8"), default="int8")
    p.add_argument("--disk-from", type=int, default=20_000, help="MemoryPolicy.lexical_on_disk_from")
    p.add_argument("--top", type=int, default=15, help="source files to list")
    p.add_argument("--out", help="also write the result as JSON here")
    args = p.parse_args(argv)
    command = " ".join(["python -m benchmarks.heap", *(argv if argv is not None else sys.argv[1:])])
    if args.vectors:
        result: dict[str, Any] = {"command": command, "load_avg": [round(x, 2) for x in os.getloadavg()]}
        result["vectors"] = fresh_process(_vector_rss, args.vectors)
        print(json.dumps(result, indent=1))
        if args.out:
            Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
        return 0
    if not args.store:
        p.error("--store is required (or --vectors N)")
    store = Path(args.store)
    store.mkdir(parents=True, exist_ok=True)
    result = {
        "command": command,
        "build": build(store, args.size, args.precision, args.disk_from),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "profile": fresh_process(_profile, str(store), args.precision, args.disk_from, args.top),
    }
    text = json.dumps(result, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
