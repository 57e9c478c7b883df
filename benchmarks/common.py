"""What every benchmark shares: the embedding model, the machine, memory and progress."""

from __future__ import annotations

import importlib
import multiprocessing
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from langchain_core.embeddings import Embeddings
from tqdm import tqdm

from plugmem.index.embeddings import CachedEmbeddings, OnnxMiniLM, find_model_dir

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
T = TypeVar("T")


def onnx_model() -> OnnxMiniLM:
    """The default model, required here: a benchmark without it would measure something else."""
    path = find_model_dir()
    if path is None:
        raise SystemExit(
            "the all-MiniLM-L6-v2 ONNX model was not found; set PLUGMEM_EMBEDDING_MODEL_DIR "
            "(e.g. ../shared/models/all-MiniLM-L6-v2/onnx)"
        )
    return OnnxMiniLM(path)


def shared_embeddings(model: OnnxMiniLM) -> CachedEmbeddings:
    """The same model behind an in-process cache, so the baselines embed each text once between them."""
    cache: dict[str, np.ndarray] = {}

    def load(_model: str, keys: list[str]) -> dict[str, np.ndarray]:
        return {k: cache[k] for k in keys if k in cache}

    def save(_model: str, vecs: dict[str, np.ndarray]) -> None:
        cache.update(vecs)

    return CachedEmbeddings(model, model_id="bench", load=load, save=save, query_cache_size=100_000)


WARMUP_QUERY = "What did we talk about last time?"  # untimed first recall: loads a namespace's catalog
RUN_FIELDS = ("date", "command", "commit", "cpu", "load_avg_at_start")  # what identifies a benchmark run


def fresh_process(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`fn(*args, **kwargs)` in a new, spawned interpreter, so its RSS and timings start clean.

    Spawn, never fork: forking a process whose onnxruntime/Chroma/tqdm threads hold locks
    deadlocked the child (seen after the LongMemEval stage of a full run). A script read from
    stdin cannot be re-imported by a spawned child; then `fn` runs here.
    """
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if not (main_file and Path(main_file).is_file()):
        return fn(*args, **kwargs)
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args, **kwargs).result()


def test_helper(name: str) -> Any:
    """A module of tests/ (the throwaway PostgreSQL cluster, the Chroma server); tests/ is not a package."""
    folder = str(ROOT / "tests")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module(name)


def cold_query(emb: CachedEmbeddings | None) -> None:
    """Forget cached query vectors before a timed call, so its latency includes embedding the query.

    Every system here shares one embedder; without this the second system to see a question
    (or the second mode) reuses the first one's query vector and looks ~3 ms faster.
    """
    if emb is not None:
        emb.forget_queries()


def progress(items: Iterable[T], desc: str, total: int | None = None) -> Iterator[T]:
    """A progress bar on stderr (quiet when PLUGMEM_BENCH_QUIET is set)."""
    return iter(
        tqdm(
            items,
            desc=desc,
            total=total,
            unit="it",
            leave=False,
            disable=bool(os.environ.get("PLUGMEM_BENCH_QUIET")),
        )
    )


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def rss_mb() -> float:
    import psutil

    return round(psutil.Process().memory_info().rss / 2**20, 1)


class Stopwatch:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    @property
    def s(self) -> float:
        return time.perf_counter() - self.t0

    @property
    def ms(self) -> float:
        return self.s * 1000


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gb() -> float:
    try:
        import psutil

        return round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        return 0.0


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=5
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine() -> dict[str, Any]:
    versions = {}
    for pkg in ("plugmem", "chromadb", "bm25s", "onnxruntime", "langgraph", "langchain-core", "tiktoken"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "missing"
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["python -m benchmarks", *sys.argv[1:]]),
        "commit": _git_commit(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gb": _ram_gb(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "packages": versions,
    }


def host_yardstick(texts: int = 600) -> float:
    """INT8 texts embedded per CPU-second on fixed text: how fast this host is today.

    The VM's CPU share varies from day to day without showing in the load average (155
    against 414 texts per CPU-second on two days of one week), so a rate compares across runs
    only beside this figure, taken in the same run.
    """
    model = OnnxMiniLM(onnx_model().model_dir, precision="int8")
    batch = [
        f"Day {i}: we talked about the garden, the {i % 7} tomato plants and a trip to Porto."
        for i in range(texts)
    ]
    model.embed_array(batch[:32])  # warm-up
    cpu = time.process_time()
    model.embed_array(batch)
    return round(texts / (time.process_time() - cpu), 1)


def embeddings_name(emb: Embeddings) -> str:
    return type(emb).__name__
