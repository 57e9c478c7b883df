"""LangGraph's checkpointer conformance suite, in full, against PlugMemSaver.

Drives `langgraph-checkpoint-conformance` the way it is meant to be driven (a
`@checkpointer_test` factory and `validate(...)`), through `benchmarks.checkpoint_conformance`,
so the test and the committed report run the same code. Every capability must be
detected and pass, extended ones (delete_for_runs, copy_thread, prune) included, with
a plain saver on a fresh file and with a saver feeding a real PlugMem.

With PLUGMEM_WRITE_REPORTS=1 the report is written to
benchmarks/results/checkpoint_conformance.txt; otherwise to the test's temp dir.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from _node_fixtures import REPO

if str(REPO) not in sys.path:  # `benchmarks` lives at the repository root
    sys.path.insert(0, str(REPO))

from benchmarks.checkpoint_conformance import (
    DEFAULT_OUT,
    ORDER,
    arun_suites,
    render,
    summarize,
)

pytestmark = pytest.mark.backends

EXPECTED_TESTS = {
    "put": 17,
    "put_writes": 10,
    "get_tuple": 10,
    "list": 16,
    "delete_thread": 5,
    "delete_for_runs": 7,
    "copy_thread": 8,
    "prune": 8,
}


async def test_full_conformance_suite(tmp_path: Path, backend: str, memory_at: Callable[[str], str]) -> None:
    locate = memory_at if backend == "postgres" else None
    summaries = [summarize(report, seconds) for report, seconds in await arun_suites(locate=locate)]
    text = render(summaries)
    write = os.environ.get("PLUGMEM_WRITE_REPORTS") == "1" and backend == "sqlite"
    out = DEFAULT_OUT if write else tmp_path / "conformance.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n", encoding="utf-8")

    assert [s["checkpointer"] for s in summaries] == ["PlugMemSaver(path)", "PlugMemSaver(memory, feed=True)"]
    for s in summaries:
        assert s["conformance_level"] == "FULL", text
        assert s["tests_failed"] == 0 and s["tests_skipped"] == 0, text
        assert list(s["capabilities"]) == ORDER and len(ORDER) == 8
        for cap, result in s["capabilities"].items():
            assert result["detected"] is True, f"{s['checkpointer']}: {cap} not detected\n{text}"
            assert result["passed"] is True, f"{s['checkpointer']}: {cap} failed\n{text}"
            # the installed suite's test count: a capability that silently ran nothing would show here
            assert result["tests_passed"] >= EXPECTED_TESTS[cap], f"{cap}: {result}"
        assert s["tests_total"] == s["tests_passed"] >= sum(EXPECTED_TESTS.values())
    assert "FAIL" not in text
