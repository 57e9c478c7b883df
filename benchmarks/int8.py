"""INT8 against FP32 embeddings: speed, vector agreement, and what recall finds with each.

The issue's bar: INT8 may become an option only if LoCoMo evidence recall stays within 0.5
points of FP32's. Both memories see the same turns through the full pipeline; speed is given
per wall second (what a user waits) and per CPU second (steadier on a shared machine).

    python -m benchmarks.int8 [--limit N]        # results in benchmarks/results/int8.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from benchmarks.common import RESULTS, machine, onnx_model, progress
from benchmarks.data import Conversation, data_dir, load_locomo
from benchmarks.metrics import by_group, evidence_recall
from benchmarks.plug import ingest, namespace
from plugmem import MemoryPolicy, PlugMem
from plugmem.index.embeddings import OnnxMiniLM, Precision
from plugmem.index.quantize import int8_home

BUDGET = 1000
PRECISIONS: tuple[Precision, ...] = ("fp32", "int8")


def _embedding_rate(model: OnnxMiniLM, texts: list[str]) -> dict[str, float]:
    model.embed_array(texts[:32])  # warm-up
    wall, cpu = time.perf_counter(), time.process_time()
    model.embed_array(texts)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"texts_per_s": round(len(texts) / wall, 1), "texts_per_cpu_s": round(len(texts) / cpu, 1)}


def _recall(mem: PlugMem, convs: Iterable[Conversation]) -> dict[str, dict[str, float]]:
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


def run(convs: Sequence[Conversation]) -> dict[str, Any]:
    texts = [f"{t.speaker}: {t.text}" for c in convs for t in c.turns]
    fp32_dir = onnx_model().model_dir
    models = {p: OnnxMiniLM(fp32_dir, precision=p) for p in PRECISIONS}
    vecs = {p: m.embed_array(texts[:2000]) for p, m in models.items()}
    cos = (vecs["fp32"] * vecs["int8"]).sum(axis=1)
    out: dict[str, Any] = {
        "turns": len(texts),
        "int8_model": str(int8_home("all-MiniLM-L6-v2")),
        "cosine_to_fp32": {"mean": round(float(cos.mean()), 4), "min": round(float(np.min(cos)), 4)},
    }
    for precision, model in models.items():
        row: dict[str, Any] = {"embedding_only": _embedding_rate(model, texts)}
        with tempfile.TemporaryDirectory(prefix="plugmem-int8-") as tmp:
            policy = MemoryPolicy(full_history_when_fits=False)
            with PlugMem.open(f"{tmp}/m", embeddings=model, policy=policy) as mem:
                row["full_pipeline"] = ingest(mem, convs, f"locomo ingest ({precision})")
                row["evidence_recall_at_1000"] = _recall(mem, progress(convs, f"recall ({precision})"))
        out[precision] = row
    return out


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.int8", description=__doc__.split("\n")[0])
    p.add_argument("--limit", type=int, help="only the first N LoCoMo dev conversations")
    p.add_argument("--data", help="data folder (default: PLUGMEM_DATA_DIR or ../shared/data)")
    args = p.parse_args()
    result = {"machine": machine(), **run(load_locomo(data_dir(args.data), limit=args.limit))}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "int8.json").write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=1))


if __name__ == "__main__":
    main()
