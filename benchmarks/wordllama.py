"""WordLlama against the default MiniLM: embedding speed, ingest speed, and what recall finds with each.

Issue 15 point 6: an optional model that installs offline from PyPI with its weights inside, its
cost and gain written down so users can choose. Both memories see the same LoCoMo dev turns through
the full pipeline; recall is evidence recall (audit-corrected) within 1,000 tokens, fast and auto.

    python -m benchmarks.wordllama [--limit N] [--models wordllama]   # results in benchmarks/results/wordllama.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.embeddings import Embeddings

from benchmarks.common import RESULTS, machine, onnx_model
from benchmarks.data import Conversation, data_dir, load_locomo
from benchmarks.int8 import model_row
from plugmem.index.wordllama import WordLlamaEmbeddings


def run(convs: Sequence[Conversation], names: Sequence[str] = ("minilm", "wordllama")) -> dict[str, Any]:
    texts = [f"{t.speaker}: {t.text}" for c in convs for t in c.turns]
    clock = time.perf_counter()
    wordllama = WordLlamaEmbeddings()
    load_s = time.perf_counter() - clock
    every: dict[str, Callable[[], Embeddings]] = {"minilm": onnx_model, "wordllama": lambda: wordllama}
    models = {name: every[name]() for name in names}
    out: dict[str, Any] = {
        "turns": len(texts),
        "questions": sum(len(c.questions) for c in convs),
        "wordllama_load_s": round(load_s, 2),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    for name, model in models.items():
        out[name] = model_row(name, model, convs, texts)
    out["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return out


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.wordllama", description=__doc__.split("\n")[0])
    p.add_argument("--limit", type=int, help="only the first N LoCoMo dev conversations")
    p.add_argument("--data", help="data folder (default: PLUGMEM_DATA_DIR or ../shared/data)")
    p.add_argument("--models", default="minilm,wordllama", help="which of minilm,wordllama to run")
    p.add_argument("--out", default=str(RESULTS / "wordllama.json"))
    args = p.parse_args()
    names = [n for n in args.models.split(",") if n]
    result = {"machine": machine(), **run(load_locomo(data_dir(args.data), limit=args.limit), names)}
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=1))


if __name__ == "__main__":
    main()
