"""LangGraph's checkpointer conformance suite, run in full against PlugMemSaver.

Uses the `langgraph-checkpoint-conformance` package as it is meant to be driven: a
`@checkpointer_test` factory that yields a fresh saver per capability suite, and
`validate(...)`, which detects the capabilities the saver overrides (base: put,
put_writes, get_tuple, list, delete_thread; extended: delete_for_runs, copy_thread,
prune) and runs every test of each. Two configurations are checked:

- `PlugMemSaver(path=...)`: a plain durable checkpointer on a fresh SQLite file;
- `PlugMemSaver(memory=...)`: checkpoints in a real PlugMem's database with feeding on.

`arun_suites(locate)` runs both on another backend: `locate(name)` gives a fresh location per
saver (the tests pass a PostgreSQL schema per name; by default a file in a temp dir).

    .venv/bin/python -m benchmarks.checkpoint_conformance [--out PATH] [--verbose]

Writes a plain-text report (default benchmarks/results/checkpoint_conformance.txt).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import sys
import tempfile
import time
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any

from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import BASE_CAPABILITIES, EXTENDED_CAPABILITIES
from langgraph.checkpoint.conformance.initializer import RegisteredCheckpointer
from langgraph.checkpoint.conformance.report import CapabilityReport, ProgressCallbacks
from plugmem_langgraph.checkpoint import PlugMemSaver

from plugmem import PlugMem

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "checkpoint_conformance.txt"
ORDER = [c.value for c in sorted(BASE_CAPABILITIES, key=lambda c: c.value)] + [
    c.value for c in sorted(EXTENDED_CAPABILITIES, key=lambda c: c.value)
]
PACKAGES = (
    "langgraph",
    "langgraph-checkpoint",
    "langgraph-checkpoint-conformance",
    "langgraph-checkpoint-sqlite",
)


Locate = Callable[[str], str]


def _path_factory(locate: Locate) -> RegisteredCheckpointer:
    counter = iter(range(1, 1_000_000))

    @checkpointer_test(name="PlugMemSaver(path)")
    async def factory() -> AsyncGenerator[PlugMemSaver, None]:
        saver = PlugMemSaver(path=locate(f"conformance-{next(counter)}.sqlite"))
        try:
            yield saver
        finally:
            await saver.aclose()

    return factory


def _memory_factory(locate: Locate) -> RegisteredCheckpointer:
    counter = iter(range(1, 1_000_000))

    @checkpointer_test(name="PlugMemSaver(memory, feed=True)")
    async def factory() -> AsyncGenerator[PlugMemSaver, None]:
        # lexical-only: the suite checks checkpoint storage, not recall quality
        mem = PlugMem.open(locate(f"memory-{next(counter)}"), embeddings=None)
        saver = PlugMemSaver(memory=mem)
        try:
            yield saver
        finally:
            await saver.aclose()
            mem.close()
            if saver.feed_errors:
                raise AssertionError(f"feeding failed during the suite: {saver.last_feed_error!r}")

    return factory


FACTORIES: dict[str, Callable[[Locate], RegisteredCheckpointer]] = {
    "path": _path_factory,
    "memory": _memory_factory,
}


async def arun_suites(
    verbose: bool = False, locate: Locate | None = None
) -> list[tuple[CapabilityReport, float]]:
    """Every configuration through the whole suite; (report, seconds) each."""
    out: list[tuple[CapabilityReport, float]] = []
    with tempfile.TemporaryDirectory(prefix="plugmem-conformance-") as tmp:
        for name, make in FACTORIES.items():
            sub = Path(tmp) / name
            sub.mkdir()
            start = time.perf_counter()
            where = locate or (lambda n, sub=sub: str(sub / n))  # type: ignore[misc]
            report = await validate(make(where), progress=ProgressCallbacks.verbose() if verbose else None)
            out.append((report, time.perf_counter() - start))
    return out


def summarize(report: CapabilityReport, seconds: float) -> dict[str, Any]:
    caps: dict[str, dict[str, Any]] = {}
    for cap in ORDER:
        r = report.results.get(cap)
        caps[cap] = (
            {"detected": False, "passed": None, "tests_passed": 0, "tests_failed": 0, "tests_skipped": 0}
            if r is None
            else {
                "detected": r.detected,
                "passed": r.passed,
                "tests_passed": r.tests_passed,
                "tests_failed": r.tests_failed,
                "tests_skipped": r.tests_skipped,
                "failures": list(r.failures),
            }
        )
    return {
        "checkpointer": report.checkpointer_name,
        "conformance_level": report.conformance_level(),
        "passed_all": report.passed_all(),
        "capabilities": caps,
        "tests_total": sum(c["tests_passed"] + c["tests_failed"] for c in caps.values()),
        "tests_passed": sum(c["tests_passed"] for c in caps.values()),
        "tests_failed": sum(c["tests_failed"] for c in caps.values()),
        "tests_skipped": sum(c["tests_skipped"] for c in caps.values()),
        "seconds": round(seconds, 2),
    }


def _versions() -> dict[str, str]:
    found = {}
    for pkg in PACKAGES:
        try:
            found[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            found[pkg] = "not installed"
    return found


def render(summaries: list[dict[str, Any]]) -> str:
    lines = [
        "LangGraph checkpointer conformance: PlugMemSaver",
        "command: .venv/bin/python -m benchmarks.checkpoint_conformance",
        "versions: " + ", ".join(f"{k} {v}" for k, v in _versions().items()),
        "",
    ]
    for s in summaries:
        lines.append(
            f"== {s['checkpointer']}: {s['conformance_level']}  "
            f"({s['tests_passed']}/{s['tests_total']} tests passed, {s['tests_failed']} failed, "
            f"{s['tests_skipped']} skipped, {s['seconds']} s)"
        )
        lines.append(f"   {'capability':<16} {'kind':<9} {'detected':<9} {'result':<7} pass  fail  skip")
        for cap, c in s["capabilities"].items():
            kind = "base" if cap in {x.value for x in BASE_CAPABILITIES} else "extended"
            result = {True: "PASS", False: "FAIL", None: "skip"}[c["passed"]]
            lines.append(
                f"   {cap:<16} {kind:<9} {('yes' if c['detected'] else 'no'):<9} {result:<7} "
                f"{c['tests_passed']:>4}  {c['tests_failed']:>4}  {c['tests_skipped']:>4}"
            )
            lines.extend(f"      failure: {f}" for f in c.get("failures", []))
        lines.append("")
    return "\n".join(lines)


def run(quick: bool = False, out: Path | None = DEFAULT_OUT, verbose: bool = False) -> dict[str, Any]:
    """Run the suite (it is fast; `quick` changes nothing) and write the text report to `out`."""
    summaries = [summarize(r, sec) for r, sec in asyncio.run(arun_suites(verbose))]
    text = render(summaries)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")
    return {"suites": summaries, "report": text, "out": str(out) if out else None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--verbose", action="store_true", help="print every test as it runs")
    ap.add_argument(
        "--quick", action="store_true", help="accepted for the harness; the suite is already fast"
    )
    args = ap.parse_args(argv)
    result = run(quick=args.quick, out=args.out, verbose=args.verbose)
    print(result["report"])
    print(f"report written to {args.out}")
    return 0 if all(s["passed_all"] for s in result["suites"]) else 1


if __name__ == "__main__":
    sys.exit(main())
