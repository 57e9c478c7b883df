"""Ingest cannot die and no tenant waits for another: poison pills, quarantine, a full disk, backlogs, threads."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from _support import T0, conv
from langchain_core.embeddings import Embeddings

from plugmem import (
    ConflictError,
    IngestStalledError,
    IngestTimeoutError,
    InvalidInputError,
    MemoryPolicy,
    PlugMem,
    StorageFullError,
)
from plugmem.index.embeddings import default_embeddings

pytestmark = pytest.mark.backends  # the tests that open `memory_at` run on both backends
At = Callable[[str], str]
A, B = ("tenant", "a"), ("tenant", "b")
POLICY = MemoryPolicy(full_history_when_fits=False)


class PoisonedEmbeddings(Embeddings):
    """The real model, failing on any text that contains POISON (an item the model cannot take)."""

    def __init__(self) -> None:
        inner = default_embeddings()
        assert inner is not None, "the ONNX model is needed (the test is marked needs_model)"
        self.inner = inner

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if any("POISON" in t for t in texts):
            raise ValueError("the model rejected this input")
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


POISON_PILLS: list[tuple[dict[str, object], str]] = [
    ({"role": "user", "content": "x", "timestamp": datetime.max}, "outside 1900"),
    ({"role": "user", "content": "x", "timestamp": float("nan")}, "not a valid time"),
    ({"role": "user", "content": "x", "timestamp": 1e20}, "not a valid time"),
    ({"role": "user", "content": "x", "metadata": {"$dt": "x"}}, "reserved"),
    ({"role": "user", "content": "x", "metadata": {"when": float("inf")}}, "finite"),
    ({"role": "user", "content": "x", "metadata": {"obj": object()}}, "cannot be stored as JSON"),
    ({"role": "user", "content": "lone \ud800 surrogate"}, "not valid Unicode"),
    ({"role": "user", "content": "x", "name": "bad \udfff"}, "not valid Unicode"),
    (
        {"role": "assistant", "content": "x", "tool_calls": [{"name": "f", "args": "not a dict"}]},
        "must be a dict",
    ),
    ({"role": "user", "content": "x", "id": "two\nlines"}, "line break"),
]


@pytest.mark.parametrize(("pill", "why"), POISON_PILLS)
def test_poison_pills_are_rejected_at_the_boundary(
    lexical_mem: PlugMem, pill: dict[str, object], why: str
) -> None:
    lexical_mem.add(conv("I keep my passport in the blue drawer."), namespace=A)
    with pytest.raises(InvalidInputError, match=why):
        lexical_mem.add([{"role": "user", "content": "fine", "id": "ok1"}, pill], namespace=A)
    assert [s.id for s in lexical_mem.steps(A)] == ["m1"]  # the whole batch was refused
    with pytest.raises(InvalidInputError):
        lexical_mem.add(conv("x"), namespace=A, timestamp=datetime.max)
    lexical_mem.flush()
    assert lexical_mem.stats().quarantined == 0


@pytest.mark.needs_model
def test_a_step_the_worker_cannot_process_is_quarantined_and_everything_else_flows(memory_at: At) -> None:
    with PlugMem.open(memory_at("m"), policy=POLICY, embeddings=PoisonedEmbeddings()) as mem:
        texts = [f"note {i}: the locker code for gym {i} is {1000 + i}" for i in range(12)]
        texts[5] = "POISON this message cannot be embedded"
        mem.add(conv(*texts), namespace=A)
        mem.add(conv("My bike is a green Brompton.", prefix="b"), namespace=B)
        with pytest.raises(IngestStalledError, match="1 logged steps could not be processed"):
            mem.flush()
        s = mem.stats()
        assert (s.pending, s.quarantined, s.steps) == (0, 1, 13)
        assert [q["id"] for q in mem.store.quarantined()] == ["m6"]
        r = mem.recall("what is the locker code for gym 7?", namespace=A, mode="fast")
        assert "m8" in r.source_ids and "answered from what is indexed" not in r.reason
        assert "b1" in mem.recall("which bike do I have?", namespace=B).source_ids
        # the worker is alive: later writes are processed as usual
        mem.add(conv("I moved to Porto in May.", prefix="c"), namespace=A)
        with pytest.raises(IngestStalledError):
            mem.flush()  # flush retries the quarantined step at once, and it fails again
        assert "c1" in mem.recall("where did I move?", namespace=A, mode="fast").source_ids
        assert mem.store.quarantined()[0]["attempts"] >= 2


def test_rows_from_an_older_version_cannot_stop_the_worker(tmp_path: Path) -> None:
    path = tmp_path / "m"
    with PlugMem.open(path, policy=POLICY, embeddings=None) as mem:
        mem.add(conv("first"), namespace=A)
        mem.flush()
    # rows as an older version could have stored them, before the boundary validated everything
    with sqlite3.connect(path / "memory.sqlite") as db:
        db.executemany(
            "INSERT INTO steps(namespace, id, session_id, role, content, ts, metadata) VALUES (?,?,?,?,?,?,?)",
            [
                (
                    "tenant/a",
                    "old-meta",
                    "default",
                    "user",
                    "the spare key is under the mat",
                    T0.timestamp(),
                    '{"$dt": "x"}',
                ),
                ("tenant/a", "old-time", "default", "user", "unreadable time", "soon", None),
            ],
        )
    with PlugMem.open(path, policy=POLICY, embeddings=None) as mem:
        mem.add(conv("The dentist is on Friday at 9.", prefix="d"), namespace=A)
        with pytest.raises(
            IngestStalledError, match=r"1 logged steps could not be processed.*unreadable row"
        ):
            mem.flush()
        assert [q["id"] for q in mem.store.quarantined()] == ["old-time"]
        assert "d1" in mem.recall("when is the dentist?", namespace=A).source_ids
        assert "old-meta" in mem.recall("where is the spare key?", namespace=A).source_ids
        assert mem.forget(namespace=A, ids=["old-time"]) == 1  # still erasable by id
        mem.flush()


@pytest.mark.needs_model
def test_a_full_disk_pauses_ingest_recall_still_answers_and_ingest_resumes(tmp_path: Path) -> None:
    with PlugMem.open(tmp_path / "m", policy=POLICY) as mem:
        mem.add(conv("I bought a red bicycle in Porto."), namespace=A)
        mem.flush()
        pages = mem.store.query("PRAGMA page_count")[0][0]
        # SQLite's own size cap on this connection: the next pages it needs fail with the real SQLITE_FULL
        mem.store.query(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(StorageFullError, match="full"):
            mem.add(
                conv(*[f"a long letter number {i} " + "la " * 300 for i in range(100)], prefix="x"),
                namespace=A,
            )
        assert [s.id for s in mem.steps(A)] == ["m1"]
        mem.store.query(
            f"PRAGMA max_page_count = {pages + 3}"
        )  # room for the log, not for what the worker derives
        mem.add(
            conv(*[f"my sister Ana visited Berlin in {1990 + i} for work" for i in range(40)], prefix="y"),
            namespace=A,
        )
        deadline = time.monotonic() + 60
        while mem.stats().ingest_paused is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert mem.stats().ingest_paused is not None and mem.stats().pending == 40
        r = mem.recall("which bicycle did I buy?", namespace=A, mode="fast")
        assert "m1" in r.source_ids and "ingest is paused" in r.reason
        with pytest.raises(IngestStalledError, match="paused"):
            mem.flush()
        mem.store.query("PRAGMA max_page_count = 1073741823")  # space is back
        deadline = time.monotonic() + 60
        while mem.stats().pending and time.monotonic() < deadline:
            time.sleep(0.1)
        mem.flush()
        s = mem.stats()
        assert (s.pending, s.quarantined, s.ingest_paused) == (0, 0, None)
        assert "y5" in mem.recall("when did Ana visit Berlin in 1994?", namespace=A, mode="fast").source_ids


def test_one_tenants_backlog_does_not_hold_another_tenants_recall(memory_at: At) -> None:
    with PlugMem.open(memory_at("m"), policy=POLICY, embeddings=None) as mem:
        mem.add(
            conv(*[f"import {i}: shipment {i} left the depot" for i in range(3000)], prefix="a"), namespace=A
        )
        mem.add(conv("My daughter's school play is on Thursday.", prefix="b"), namespace=B)
        r = mem.recall("when is the school play?", namespace=B)
        assert "b1" in r.source_ids and "answered from what is indexed" not in r.reason
        assert mem.stats(A).pending > 0  # A's import was still running: B waited for its own write only
        # the wait is bounded: a recall of A itself answers from what is indexed and says so
        quick = MemoryPolicy(full_history_when_fits=False, read_your_writes_timeout_s=0)
        r = mem.recall("where did shipment 2999 go?", namespace=A, policy=quick)
        assert "answered from what is indexed" in r.reason
        with pytest.raises(IngestTimeoutError, match="timed out"):
            mem.flush(timeout=0)  # a typed error (also a TimeoutError); the work goes on
        mem.flush()
        assert "a3000" in mem.recall("shipment 2999", namespace=A, mode="fast").source_ids


def test_forget_recall_add_and_the_worker_run_together_without_a_hang(memory_at: At) -> None:
    with PlugMem.open(memory_at("m"), policy=POLICY, embeddings=None) as mem:
        stop = threading.Event()
        errors: list[BaseException] = []
        counts = {"add": 0, "forget": 0, "recall": 0}

        def loop(kind: str, fn: object) -> None:
            rnd = random.Random(kind)
            try:
                while not stop.is_set():
                    fn(rnd)  # type: ignore[operator]
                    counts[kind] += 1
            except BaseException as exc:
                errors.append(exc)

        def add(rnd: random.Random) -> None:
            i = rnd.randrange(10**9)
            ns = rnd.choice([A, B])
            mem.add(
                [{"role": "user", "content": f"fact {i}: the bin day is {i % 7}", "id": f"f{i}"}],
                namespace=ns,
                session_id=f"s{i % 5}",
            )

        def forget(rnd: random.Random) -> None:
            steps = mem.steps(A)
            if rnd.random() < 0.2:
                mem.forget(namespace=A, session_id=f"s{rnd.randrange(5)}")
            elif steps:
                mem.forget(namespace=A, ids=[rnd.choice(steps).id])

        def recall(rnd: random.Random) -> None:
            mem.recall("what is the bin day?", namespace=rnd.choice([A, B]))

        threads = [
            threading.Thread(target=loop, args=(k, f), daemon=True)
            for k, f in (("add", add), ("add", add), ("forget", forget), ("recall", recall))
        ]
        for t in threads:
            t.start()
        time.sleep(4)
        stop.set()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads), "a thread hung (deadlock)"
        assert not errors, errors
        assert min(counts.values()) > 0, counts
        mem.flush()
        assert mem.stats().pending == 0


def test_ids_have_one_meaning(lexical_mem: PlugMem) -> None:
    lexical_mem.add(conv("I live in Lisbon."), namespace=A, session_id="s1")
    lexical_mem.flush()
    assert lexical_mem.add(conv("I live in Lisbon."), namespace=A, session_id="s1") == ["m1"]  # no-op
    for changed in (
        conv("I live in Porto."),
        [{"role": "assistant", "content": "I live in Lisbon.", "id": "m1", "timestamp": T0}],
        [
            {
                "role": "user",
                "content": "I live in Lisbon.",
                "id": "m1",
                "timestamp": datetime(2024, 1, 1, tzinfo=UTC),
            }
        ],
    ):
        with pytest.raises(ConflictError, match="m1"):
            lexical_mem.add(changed + conv("new", prefix="n"), namespace=A, session_id="s1")
    with pytest.raises(ConflictError):
        lexical_mem.add(conv("I live in Lisbon."), namespace=A, session_id="s2")  # another session
    assert [s.id for s in lexical_mem.steps(A)] == ["m1"]  # nothing of a conflicting batch was stored
    lexical_mem.add(conv("I live in Porto."), namespace=A, session_id="s1", on_conflict="replace")
    lexical_mem.flush()
    r = lexical_mem.recall("where do I live?", namespace=A, mode="fast", budget_tokens=2000)
    assert "Porto" in r.context and "Lisbon" not in r.context
    facts = lexical_mem.store.knowledge("tenant/a")
    assert facts and all("Lisbon" not in k.statement for k in facts)


def _thread_niceness() -> dict[int, int]:
    """tid → niceness of every thread of this process, read from /proc (field 19 of stat)."""
    out: dict[int, int] = {}
    for task in Path("/proc/self/task").iterdir():
        stat = (task / "stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        out[int(task.name)] = int(fields[16])
    return out


@pytest.mark.needs_model
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="thread niceness is Linux-only")
def test_ingest_and_its_model_threads_run_below_the_readers(tmp_path: Path) -> None:
    """A tenant's import must leave the cores to another tenant's recall (issue 12, isolation)."""
    before = set(_thread_niceness())
    with PlugMem.open(tmp_path / "m", policy=MemoryPolicy(ingest_niceness=7)) as mem:
        mem.add(conv(["I moved to Leeds in May.", "My sister Ana visits in June."]), namespace=A)
        mem.flush()
        worker = mem.pipeline._thread
        assert worker is not None and worker.native_id is not None
        nice = _thread_niceness()
        assert nice[worker.native_id] == 7
        # the model's pool threads that embedded the import run at the worker's priority, others at 0
        new = {tid: n for tid, n in nice.items() if tid not in before and tid != worker.native_id}
        assert 7 in new.values()
        assert nice[threading.get_native_id()] == 0
        assert mem.recall("Where did I move?", namespace=A, mode="fast").items
