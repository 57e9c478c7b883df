"""Embedding speed: plugmem's length-sorted ONNX batches beside Chroma's default function."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import Stopwatch
from benchmarks.metrics import latency_summary
from plugmem.index.embeddings import OnnxMiniLM


def _time_docs(embed: Any, texts: Sequence[str]) -> float:
    clock = Stopwatch()
    embed(list(texts))
    return round(len(texts) / clock.s, 1)


def _time_queries(embed_one: Any, queries: Sequence[str]) -> dict[str, float]:
    ms = []
    for q in queries:
        clock = Stopwatch()
        embed_one(q)
        ms.append(clock.ms)
    return latency_summary(ms)


def run(
    texts: Sequence[str], queries: Sequence[str], model: OnnxMiniLM, chroma_sample: int
) -> dict[str, Any]:
    """Same texts, same model files; Chroma's function on a sample (it is ~10× slower)."""
    out: dict[str, Any] = {
        "texts": len(texts),
        "plugmem_onnx": {
            "turns_per_s": _time_docs(model.embed_array, texts),
            "query": _time_queries(lambda q: model.embed_array([q]), queries),
        },
    }
    try:
        from chromadb.utils.embedding_functions import ONNXMiniLM_L6_V2

        chroma = ONNXMiniLM_L6_V2()
        model_dir = Path(model.model_dir)
        # point Chroma at the same files so nothing is downloaded
        chroma.DOWNLOAD_PATH = model_dir.parent
        chroma.EXTRACTED_FOLDER_NAME = model_dir.name
        sample = list(texts[:chroma_sample])
        out["chroma_default"] = {
            "texts": len(sample),
            "turns_per_s": _time_docs(chroma, sample),
            "query": _time_queries(lambda q: chroma([q]), queries[:50]),
        }
    except Exception as exc:
        out["chroma_default"] = {"error": f"{type(exc).__name__}: {exc}"}
    return out
