"""Recall alone on a memory a scaling run kept: latency, evidence recall and RSS, without ingesting again.

Why: at 100k messages the full pipeline takes most of an hour to ingest, while a change to recall
needs only recall measured. `python -m benchmarks.scaling --keep DIR` keeps each size's memory under
`DIR/<size>/mem`; this opens one and asks conv-26's questions exactly as the scaling run does
(`benchmarks.scaling.measure_recall`: fast and auto at 1,000 tokens, a cold query cache per question).

    python -m benchmarks.scaling --sizes 100000 --no-baselines --precision int8 --keep /tmp/keep
    python -m benchmarks.scaling_recall /tmp/keep/100000/mem --precision int8 --out /tmp/recall.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from benchmarks.common import RESULTS, host_yardstick, machine, onnx_model, peak_rss_mb, rss_mb
from benchmarks.data import data_dir, load_locomo
from benchmarks.scaling import NAMESPACE, STAT_FIELDS, measure_recall, pick_questions
from plugmem import PlugMem
from plugmem.index.embeddings import OnnxMiniLM


def run(path: Path, model: Embeddings | None, *, data: Path, questions: int | None = None) -> dict[str, Any]:
    """Open the kept memory, record what it holds and RSS, then recall as the scaling run does."""
    if not (path / "memory.sqlite").exists():
        raise SystemExit(f"{path} holds no memory (expected {path / 'memory.sqlite'}); see --keep")
    asked = pick_questions(load_locomo(data, limit=1)[0].questions, questions)
    out: dict[str, Any] = {"memory": str(path), "rss_before_mb": rss_mb()}
    with PlugMem.open(path, embeddings=model) as mem:
        stats = mem.stats(NAMESPACE)
        out["stats"] = {k: getattr(stats, k) for k in STAT_FIELDS}
        out["recall"] = measure_recall(mem, asked, f"{stats.steps:,} messages")
        out["rss_after_recall_mb"] = rss_mb()
        out["load_avg_after_recall"] = [round(x, 2) for x in os.getloadavg()]
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.scaling_recall", description=__doc__.splitlines()[0]
    )
    p.add_argument("memory", help="a memory directory kept by python -m benchmarks.scaling --keep")
    p.add_argument("--precision", choices=("fp32", "int8"), default="int8", help="the model the memory used")
    p.add_argument("--data", help="folder with the benchmark data (default ../shared/data)")
    p.add_argument(
        "--out", default=str(RESULTS / "scaling_recall.json"), help="where to write the JSON result"
    )
    args = p.parse_args(argv)
    info = machine()
    info["command"] = " ".join(
        ["python -m benchmarks.scaling_recall", *(argv if argv is not None else sys.argv[1:])]
    )
    info["yardstick_int8_texts_per_cpu_s"] = host_yardstick()
    model = OnnxMiniLM(onnx_model().model_dir, precision=args.precision)
    result = run(Path(args.memory), model, data=data_dir(args.data))
    result["machine"] = info
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    for mode, r in result["recall"].items():
        if isinstance(r, dict):
            lat = r["wall_latency"]
            print(
                f"{mode}: R {r['evidence_recall']:.3f}, p50 {lat['p50_ms']:.1f} ms, p95 {lat['p95_ms']:.1f} ms"
            )
    print(f"RSS after recall {result['rss_after_recall_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
