"""Where a fast recall spends its time: `python -m benchmarks.profile_recall [--mode fast] [--interleave]`.

Ingests LoCoMo conv-26, then times one recall per question (1,000 tokens, cold query vector)
and prints the p50/p95 and a pyinstrument profile of the loop. `--interleave` runs two untimed
recalls (deep, and fast at 500 tokens) before each timed one, as the LoCoMo scoring loop does.
Not part of `make bench`: a tool for deciding what to optimise next.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence

from pyinstrument import Profiler

from benchmarks.common import WARMUP_QUERY, Stopwatch, cold_query, onnx_model
from benchmarks.data import data_dir, load_locomo
from benchmarks.metrics import latency_summary
from benchmarks.plug import ingest, namespace
from plugmem import PlugMem
from plugmem.policy import RecallMode


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.profile_recall", description=__doc__.split("\n")[0]
    )
    p.add_argument("--mode", default="fast", choices=["fast", "deep", "auto"])
    p.add_argument("--interleave", action="store_true", help="untimed recalls before each timed one")
    p.add_argument("--data", help="folder with locomo_dev.json (default $PLUGMEM_DATA_DIR or ../shared/data)")
    args = p.parse_args(argv)
    mode: RecallMode = args.mode
    conv = load_locomo(data_dir(args.data), limit=1)[0]
    with tempfile.TemporaryDirectory(prefix="plugmem-profile-") as tmp:
        mem = PlugMem.open(f"{tmp}/mem", embeddings=onnx_model())
        ingest(mem, [conv], "ingest")
        ns = namespace(conv)
        mem.recall(WARMUP_QUERY, namespace=ns, mode=mode)
        ms: list[float] = []
        profiler = Profiler(interval=0.0005)
        for q in conv.questions:
            if args.interleave:
                mem.recall(q.question, namespace=ns, budget_tokens=8000, k=40, mode="deep")
                mem.recall(q.question, namespace=ns, budget_tokens=500, mode="fast")
            cold_query(mem.embeddings)
            profiler.start()
            clock = Stopwatch()
            mem.recall(q.question, namespace=ns, budget_tokens=1000, mode=mode)
            ms.append(clock.ms)
            profiler.stop()
        mem.close()
    s = latency_summary(ms)
    print(f"{mode} recall, {len(ms)} questions{' (interleaved)' if args.interleave else ''}: {s}")
    print(profiler.output_text(unicode=True, color=False))


if __name__ == "__main__":
    main()
