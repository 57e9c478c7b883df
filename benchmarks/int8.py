"""INT8 against FP32 embeddings: speed, vector agreement, and what recall finds with each.

The issue's bar: INT8 may become an option only if LoCoMo evidence recall stays within 0.5
points of FP32's. Both memories see the same turns through the full pipeline; speed is given
per wall second (what a user waits) and per CPU second (steadier on a shared machine).

    python -m benchmarks.int8 [--limit N] [--precisions int8] [--out FILE]   # default benchmarks/results/int8.json

The pipeline's ingest runs at normal priority here (`ingest_niceness=0`): at the default 19 a busy
shared machine starves it and the rate measures the neighbours. `embedded_per_turn` is how many
texts the vector index holds per turn (turns, and the derived kinds of `EMBEDDED_KINDS`).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import RESULTS, machine, onnx_model, progress
from benchmarks.data import Conversation, data_dir, load_locomo
from benchmarks.metrics import by_group, evidence_recall
from benchmarks.plug import ingest, namespace
from plugmem import MemoryPolicy, PlugMem
from plugmem.index.embeddings import OnnxMiniLM, Precision
from plugmem.index.quantize import int8_home
from plugmem.namespace import ns_key

BUDGET = 1000
PRECISIONS: tuple[Precision, ...] = ("fp32", "int8")


def embedding_rate(model: Any, texts: list[str]) -> dict[str, float]:
    model.embed_array(texts[:32])  # warm-up
    wall, cpu = time.perf_counter(), time.process_time()
    model.embed_array(texts)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"texts_per_s": round(len(texts) / wall, 1), "texts_per_cpu_s": round(len(texts) / cpu, 1)}


def recall(mem: PlugMem, convs: Iterable[Conversation]) -> dict[str, dict[str, float]]:
    convs = list(convs)
    out: dict[str, dict[str, float]] = {}
    for mode in ("fast", "auto"):
        rows = [
            (q.category, evidence_recall(q.evidence_corrected, r.source_ids))
            for c in convs
            for q in c.questions
            for r in [mem.recall(q.question, namespace=namespace(c), budget_tokens=BUDGET, mode=mode)]
        ]
        out[mode] = {k: round(v, 4) for k, v in by_group(rows).items()}
    return out


def _pipeline(mem: PlugMem, convs: Sequence[Conversation], label: str) -> dict[str, Any]:
    """Ingest through the full pipeline: turns per wall and per CPU second, texts embedded per turn."""
    cpu = time.process_time()
    out: dict[str, Any] = ingest(mem, convs, label)
    cpu = time.process_time() - cpu
    out["turns_per_cpu_s"] = round(out["turns"] / cpu, 1)
    assert mem.vectors is not None
    embedded: list[str] = []  # texts behind the vectors: embedding time grows with their length
    every: list[str] = []  # texts of every document (what embedding all kinds would cost)
    for c in convs:
        cat = mem.catalog(ns_key(namespace(c)))
        embedded += [cat.docs[i].text for i in mem.vectors.ids(cat.namespace) if i in cat.docs]
        every += [d.text for d in cat.docs.values()]
    out["embedded_texts"] = len(embedded)
    out["embedded_per_turn"] = round(len(embedded) / out["turns"], 2)
    out["embedded_chars_per_turn"] = round(sum(map(len, embedded)) / out["turns"], 1)
    out["all_docs_per_turn"] = round(len(every) / out["turns"], 2)
    out["all_docs_chars_per_turn"] = round(sum(map(len, every)) / out["turns"], 1)
    out["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    return out


def run(convs: Sequence[Conversation], precisions: Sequence[Precision] = PRECISIONS) -> dict[str, Any]:
    texts = [f"{t.speaker}: {t.text}" for c in convs for t in c.turns]
    fp32_dir = onnx_model().model_dir
    models = {p: OnnxMiniLM(fp32_dir, precision=p) for p in precisions}
    out: dict[str, Any] = {"turns": len(texts), "int8_model": str(int8_home("all-MiniLM-L6-v2"))}
    if set(PRECISIONS) <= set(models):
        vecs = {p: models[p].embed_array(texts[:2000]) for p in PRECISIONS}
        cos = (vecs["fp32"] * vecs["int8"]).sum(axis=1)
        out["cosine_to_fp32"] = {"mean": round(float(cos.mean()), 4), "min": round(float(np.min(cos)), 4)}
    for precision, model in models.items():
        out[precision] = model_row(precision, model, convs, texts)
    return out


def model_row(name: str, model: Any, convs: Sequence[Conversation], texts: list[str]) -> dict[str, Any]:
    """One embedding model on LoCoMo: embedding-only rate, full-pipeline ingest, evidence recall at 1,000 tokens."""
    row: dict[str, Any] = {"embedding_only": embedding_rate(model, texts)}
    with tempfile.TemporaryDirectory(prefix="plugmem-models-") as tmp:
        # ingest at normal priority: on a shared machine a niced worker measures the neighbours' load
        policy = MemoryPolicy(full_history_when_fits=False, ingest_niceness=0)
        with PlugMem.open(f"{tmp}/m", embeddings=model, policy=policy) as mem:
            row["full_pipeline"] = _pipeline(mem, convs, f"locomo ingest ({name})")
            row["evidence_recall_at_1000"] = recall(mem, progress(convs, f"recall ({name})"))
    return row


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.int8", description=__doc__.split("\n")[0])
    p.add_argument("--limit", type=int, help="only the first N LoCoMo dev conversations")
    p.add_argument("--data", help="data folder (default: PLUGMEM_DATA_DIR or ../shared/data)")
    p.add_argument("--precisions", default="fp32,int8", help="which weights to run, comma-separated")
    p.add_argument("--out", default=str(RESULTS / "int8.json"), help="where to write the JSON result")
    args = p.parse_args()
    precisions = [p for p in PRECISIONS if p in args.precisions.split(",")]
    result = {"machine": machine(), **run(load_locomo(data_dir(args.data), limit=args.limit), precisions)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=1))


if __name__ == "__main__":
    main()
