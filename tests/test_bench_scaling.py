"""The scaling benchmark's own parts: reused filler, its time window, and a tiny run on the server backend.

The server run is the smallest that goes through every step the 100k and 1M runs take (fresh
PostgreSQL cluster and Chroma server, ingest, recall, the servers' memory read from /proc), so a
broken server path shows here and not an hour into a benchmark.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from _chroma_server import chroma_command
from _support import data_dir
from pg_cluster import bin_dir

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # benchmarks/ is not installed; pytest only puts tests/ on the path
    sys.path.insert(0, str(ROOT))

from benchmarks import scaling  # noqa: E402
from benchmarks.data import Turn, load_locomo  # noqa: E402
from benchmarks.embedding_pool import embedding_pool, vectors_for  # noqa: E402
from benchmarks.servers import tree_memory  # noqa: E402


def _raw(sessions: int, turns: int) -> list[scaling.RawTurn]:
    return [
        (f"s{s}", "2023/05/20 (Sat) 02:21", i, "user", f"text {s}.{i}")
        for s in range(sessions)
        for i in range(turns)
    ]


def test_repeat_pool_reuses_texts_under_new_session_ids() -> None:
    raw = _raw(2, 3)
    assert scaling.repeat_pool(raw, 4) == raw[:4]
    out = scaling.repeat_pool(raw, 14)
    assert len(out) == 14
    assert [r[4] for r in out] == [r[4] for r in raw] * 2 + [r[4] for r in raw[:2]]
    assert {r[0] for r in out} == {"s0", "s1", "s0~2", "s1~2", "s0~3"}
    ids = {(r[0], r[2]) for r in out}
    assert len(ids) == 14  # every turn keeps a distinct id


def _turns(sessions: int, length: int) -> list[Turn]:
    t0 = datetime(2020, 1, 1, tzinfo=UTC)
    return [
        Turn(f"{s}:{i}", "user", "user", "x", t0, f"s{s}") for s in range(sessions) for i in range(length)
    ]


def test_fitting_start_moves_back_only_when_the_sessions_do_not_fit() -> None:
    end = datetime(2022, 1, 2, tzinfo=UTC)
    day = end - timedelta(days=1)
    assert scaling.fitting_start(_turns(10, 5), day, end) == day  # 50 minutes fit in a day
    big = _turns(30, 60)  # 1,800 minutes do not
    start = scaling.fitting_start(big, day, end)
    assert start < day
    placed = scaling.schedule(big, start=start, end=end)
    assert max(t.timestamp for t in placed) < end
    assert placed[60].timestamp - placed[0].timestamp >= timedelta(minutes=60)


def test_tree_memory_reads_this_process() -> None:
    mem = tree_memory(os.getpid())
    assert mem["processes"] >= 1
    assert 0 < mem["pss_mb"] <= mem["rss_mb"] * 1.01 + 1
    assert mem["peak_rss_mb"] >= mem["rss_mb"] * 0.99


class _CountingModel:
    """A stand-in embedder: one fixed vector per text length, and a count of texts embedded."""

    model = "counting"

    def __init__(self) -> None:
        self.embedded = 0

    def embed_array(self, texts: list[str]) -> np.ndarray:
        self.embedded += len(texts)
        return np.array([[float(len(t)), 1.0] for t in texts], dtype=np.float32)


def test_the_embedding_pool_embeds_each_text_once_and_keeps_it(tmp_path: Path) -> None:
    t0 = datetime(2020, 1, 1, tzinfo=UTC)
    turns = [Turn(f"{i}", "user", "user", f"text {i % 3}", t0, "s") for i in range(9)]
    model = _CountingModel()
    pool, info = embedding_pool(turns, model, tmp_path / "pool.npz")  # type: ignore[arg-type]
    assert (info["texts"], info["embedded_now"], model.embedded) == (3, 3, 3)
    again, info = embedding_pool(turns, model, tmp_path / "pool.npz")  # type: ignore[arg-type]
    assert (info["embedded_now"], model.embedded) == (0, 3)  # read back from the file
    assert {k: v.tolist() for k, v in again.items()} == {k: v.tolist() for k, v in pool.items()}
    assert len(vectors_for(turns[:1], pool)) == 1


@pytest.mark.needs_data
def test_a_tiny_run_on_the_server_backend() -> None:
    """Lexical-only (no model) to stay quick: the path under test is the servers', not the embedder's."""
    if bin_dir() is None or chroma_command() is None:
        pytest.skip("needs PostgreSQL's initdb/pg_ctl and the `chroma` command")
    conv = load_locomo(data_dir(), limit=1)[0]
    filler = [
        Turn(
            f"f:{i}", "user", "user", f"my cat number {i} likes fish", datetime(2020, 1, 1, tzinfo=UTC), "fs"
        )
        for i in range(20)
    ]
    n = len(conv.turns) + len(filler)
    res = scaling.run_size(
        n, conv, filler, conv.questions[:3], None, baselines=False, structure=False, backend="server"
    )
    assert res["backend"] == "server"
    assert res["stats"]["steps"] == n
    servers = res["servers_after_recall"]
    assert servers["memory"]["postgres"]["processes"] >= 2  # the postmaster and at least one backend
    assert servers["memory"]["postgres"]["pss_mb"] > 0
    assert servers["memory"]["chroma"]["rss_mb"] > 0
    assert servers["disk_mb"]["postgres"] > 0 and servers["disk_mb"]["chroma"] > 0
    assert res["disk_mb"] == pytest.approx(servers["disk_mb"]["total"], rel=0.5)
    assert set(res["recall"]) >= {"fast", "auto"}
    assert scaling.server_mb(res) is not None


@pytest.mark.needs_data
def test_an_ingest_budget_measures_the_size_reached_with_all_of_conv_26(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(scaling, "CHECK_EVERY", 5)
    conv = load_locomo(data_dir(), limit=1)[0]
    t0 = datetime(2020, 1, 1, tzinfo=UTC)
    filler = [Turn(f"f:{i}", "user", "user", f"filler turn {i}", t0, f"fs{i // 10}") for i in range(40)]
    n = len(conv.turns) + len(filler)
    res = scaling.run_size(
        n, conv, filler, conv.questions[:2], None, baselines=False, structure=False, budget_s=0
    )
    assert res["ingest"]["stopped_early"]
    assert (
        res["messages"] == res["stats"]["steps"] == len(conv.turns) + 10
    )  # one filler session, then conv-26
    assert res["filler_turns"] == 10


@pytest.mark.needs_data
def test_a_kept_memory_measures_again_to_the_same_recall(tmp_path: Path) -> None:
    """`--keep` then `benchmarks.scaling_recall`: recall re-measured on the kept memory, no new ingest."""
    from benchmarks import scaling_recall

    conv = load_locomo(data_dir(), limit=1)[0]
    filler = [
        Turn(f"f:{i}", "user", "user", f"my dog {i} naps", datetime(2020, 1, 1, tzinfo=UTC), "fs")
        for i in range(10)
    ]
    n = len(conv.turns) + len(filler)
    first = scaling.run_size(
        n, conv, filler, conv.questions, None, baselines=False, structure=False, keep=tmp_path
    )
    kept = tmp_path / str(n) / "mem"
    again = scaling_recall.run(kept, None, data=data_dir())
    assert again["stats"] == first["stats"]
    for mode in ("fast", "auto"):
        assert again["recall"][mode]["evidence_recall"] == first["recall"][mode]["evidence_recall"]
    with pytest.raises(FileExistsError):  # a kept size is never measured on top of an older memory
        scaling.run_size(
            n, conv, filler, conv.questions[:1], None, baselines=False, structure=False, keep=tmp_path
        )
