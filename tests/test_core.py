"""The core contract: add → durable log → indexes → recall, on real SQLite or PostgreSQL, Chroma and ONNX."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from _support import T0, conv
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from plugmem import (
    ContentTooLargeError,
    InvalidInputError,
    InvalidNamespaceError,
    MemoryClosedError,
    MemoryPolicy,
    PlugMem,
    ns_key,
)
from plugmem.index.catalog import EMBEDDED_KINDS
from plugmem.tokens import TokenCounter

pytestmark = pytest.mark.backends
At = Callable[[str], str]
NS = ("org", "user-42")

FACTS = conv(
    "I adopted a golden retriever puppy named Biscuit last week.",
    "Congrats! How is Biscuit doing?",
    "Great. Also, my sister Priya is getting married in Goa in December.",
    "How exciting, a wedding in Goa!",
    "I work as a nurse at St. Mary's hospital, night shifts mostly.",
    "Night shifts must be tough.",
)


@pytest.mark.needs_model  # its assertions rely on semantic recall
def test_add_keeps_ids_and_event_time_and_recall_traces_sources(mem: PlugMem) -> None:
    ids = mem.add(FACTS, namespace=NS, session_id="s1")
    assert ids == [f"m{i}" for i in range(1, 7)]
    steps = mem.steps(NS)
    assert [s.id for s in steps] == ids
    assert steps[0].timestamp == T0  # event time as given, not ingest time
    r = mem.recall("What is the name of my dog?", namespace=NS, budget_tokens=200)
    assert "m1" in r.source_ids
    top = r.items[0]
    assert "Biscuit" in top.text and top.timestamp is not None
    assert r.tokens == TokenCounter().count(r.context) <= 200
    assert r.latency_ms > 0 and r.tier in ("fast", "deep") and r.reason


def test_langchain_messages_tool_calls_and_generated_ids_are_stable(mem: PlugMem) -> None:
    msgs = [
        HumanMessage("Book me a table for two at Nopa tonight", id="h1"),
        AIMessage(
            "", tool_calls=[{"name": "book_table", "args": {"place": "Nopa", "people": 2}, "id": "c1"}]
        ),
        ToolMessage("Booked: Nopa, 19:30, 2 people", tool_call_id="c1"),
        AIMessage("Done — Nopa at 19:30.", id="a2"),
    ]
    ids = mem.add(msgs, namespace=NS, session_id="t", timestamp=datetime(2024, 1, 5, 18, 0, tzinfo=UTC))
    assert ids[0] == "h1" and ids[3] == "a2"
    assert ids[1].startswith("pm-") and ids[2].startswith("pm-")
    # the same batch again yields the same generated ids and stores nothing twice
    assert (
        mem.add(msgs, namespace=NS, session_id="t", timestamp=datetime(2024, 1, 5, 18, 0, tzinfo=UTC)) == ids
    )
    steps = mem.steps(NS)
    assert len(steps) == 4
    assert steps[1].tool_calls[0].name == "book_table" and "book_table" in steps[1].content
    assert steps[2].role == "tool" and steps[2].tool_call_id == "c1"
    r = mem.recall("what time is the Nopa reservation?", namespace=NS)
    assert ids[2] in r.source_ids or "a2" in r.source_ids


def test_message_timestamp_wins_over_call_timestamp(mem: PlugMem) -> None:
    when = datetime(2020, 2, 2, 10, 0, tzinfo=UTC)
    mem.add(
        [
            {"role": "user", "content": "old news", "timestamp": "2019-01-01T00:00:00Z"},
            {"role": "user", "content": "new"},
        ],
        namespace=NS,
        timestamp=when,
    )
    ts = [s.timestamp for s in mem.steps(NS)]
    assert ts == [datetime(2019, 1, 1, tzinfo=UTC), when]


@pytest.mark.parametrize("budget", [60, 120, 400])
def test_context_fits_budget_exactly_as_tiktoken_counts(mem: PlugMem, budget: int) -> None:
    mem.add(FACTS * 1, namespace=NS)
    r = mem.recall("tell me about my family and my job", namespace=NS, budget_tokens=budget)
    assert r.tokens <= budget
    assert TokenCounter().count(r.context) == r.tokens
    assert sum(i.tokens for i in r.items) <= budget


def test_namespaces_are_isolated(mem: PlugMem) -> None:
    mem.add(FACTS, namespace=("tenant", "a"))
    mem.add(conv("I love sailing in Croatia", prefix="b"), namespace=("tenant", "b"))
    r = mem.recall("golden retriever Biscuit", namespace=("tenant", "b"), mode="fast")
    assert all(s.startswith("b") for s in r.source_ids)
    assert "Biscuit" not in r.context
    empty = mem.recall("golden retriever Biscuit", namespace=("tenant", "nobody"))
    assert empty.items == [] and empty.context == ""


def test_bad_input_is_typed_and_touches_nothing(mem: PlugMem) -> None:
    mem.add(FACTS, namespace=NS)
    before = mem.steps(NS)
    bad_batches: list[tuple[object, type[Exception]]] = [
        ("just a string", InvalidInputError),
        ([{"role": "user"}], InvalidInputError),
        ([{"role": "wizard", "content": "x"}], InvalidInputError),
        (
            [{"role": "user", "content": "ok", "id": "new1"}, {"role": "user", "content": "   "}],
            InvalidInputError,
        ),
        ([{"role": "user", "content": "x" * 200_001}], ContentTooLargeError),
        (
            [{"role": "user", "content": "a", "id": "d"}, {"role": "user", "content": "b", "id": "d"}],
            InvalidInputError,
        ),
        ([{"role": "user", "content": "x", "timestamp": "yesterday-ish"}], InvalidInputError),
        ([42], InvalidInputError),
    ]
    for batch, err in bad_batches:
        with pytest.raises(err):
            mem.add(batch, namespace=NS)
    for ns in [(), ("a", ""), ("a/b",), 42, ("ok", None)]:
        with pytest.raises(InvalidNamespaceError):
            mem.add(FACTS, namespace=ns)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        mem.forget(namespace=NS, ids="m1")  # a single id, not a list of them
    with pytest.raises(InvalidInputError):
        mem.recall("", namespace=NS)
    with pytest.raises(InvalidInputError):
        mem.recall("q", namespace=NS, budget_tokens=0)
    assert [(s.id, s.content) for s in mem.steps(NS)] == [(s.id, s.content) for s in before]
    assert "new1" not in {s.id for s in mem.steps(NS)}


def test_forget_by_id_session_and_namespace(mem: PlugMem) -> None:
    mem.add(FACTS[:2], namespace=NS, session_id="s1")
    mem.add(FACTS[2:], namespace=NS, session_id="s2")
    assert mem.forget(namespace=NS, ids=["m1"]) == 1
    r = mem.recall("golden retriever Biscuit", namespace=NS, mode="fast")
    assert "m1" not in r.source_ids
    assert mem.forget(namespace=NS, session_id="s2") == 4
    assert {s.id for s in mem.steps(NS)} == {"m2"}
    assert mem.forget(namespace=NS, session_id="s2") == 0  # already gone: not an error
    assert mem.forget(namespace=NS) == 1
    assert mem.steps(NS) == []
    assert mem.recall("Biscuit", namespace=NS).items == []


@pytest.mark.needs_model  # its assertions rely on semantic recall
def test_reopen_resumes_pending_work_and_repairs_lost_vectors(memory_at: At, vectors: str | None) -> None:
    path = memory_at("m")
    m = PlugMem(path, policy=MemoryPolicy(full_history_when_fits=False), start_worker=False, vectors=vectors)
    m.add(FACTS, namespace=NS)
    assert m.stats().pending == 6  # logged, not processed: as after a crash
    m.close()
    with PlugMem.open(path, policy=MemoryPolicy(full_history_when_fits=False), vectors=vectors) as m2:
        m2.flush()
        assert m2.stats().pending == 0
        assert "m5" in m2.recall("where do I work?", namespace=NS).source_ids
        assert m2.vectors is not None
        m2.vectors.drop(m2.store.namespaces()[0])  # the vector store loses everything
    with PlugMem.open(path, policy=MemoryPolicy(full_history_when_fits=False), vectors=vectors) as m3:
        assert m3.vectors is not None
        cat = m3.catalog(m3.store.namespaces()[0])
        assert m3.vectors.count(cat.namespace) == sum(d.kind in EMBEDDED_KINDS for d in cat.docs.values())
        # dense-only evidence: no word of the query occurs in the turn
        assert "m1" in m3.recall("which pet did I get?", namespace=NS).source_ids


def test_lexical_only_fallback_warns_once_and_works(
    memory_at: At, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PLUGMEM_EMBEDDING_MODEL_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("HOME", str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="plugmem"):
        m = PlugMem.open(memory_at("m"), policy=MemoryPolicy(full_history_when_fits=False))
    try:
        assert m.lexical_only and m.stats().lexical_only
        assert sum("lexical-only" in r.message for r in caplog.records) == 1
        m.add(FACTS, namespace=NS)
        assert "m3" in m.recall("Priya wedding Goa", namespace=NS).source_ids
    finally:
        m.close()


@pytest.mark.needs_model  # its assertions rely on semantic recall
def test_embeddings_are_cached_by_content(mem: PlugMem) -> None:
    assert mem.embeddings is not None
    mem.add(conv("the same sentence", "another one"), namespace=("a",))
    mem.flush()
    n = mem.embeddings.embedded
    mem.add(conv("the same sentence", "another one", prefix="x"), namespace=("b",))
    mem.flush()
    assert mem.embeddings.embedded == n  # nothing embedded twice


def test_full_tier_while_history_fits_then_fast(memory_at: At) -> None:
    with PlugMem.open(memory_at("m")) as m:
        m.add(FACTS, namespace=NS)
        r = m.recall("what do I do for work?", namespace=NS, budget_tokens=1000)
        assert r.tier == "full" and "fits" in r.reason
        assert [i.source_ids[0] for i in r.items] == [f"m{i}" for i in range(1, 7)]
        r2 = m.recall("what do I do for work?", namespace=NS, budget_tokens=60)
        assert r2.tier in ("fast", "deep") and r2.tokens <= 60
        assert m.stats().recalls["full"] == 1


def test_whether_the_history_fits_is_found_without_rendering_all_of_it(memory_at: At) -> None:
    """A namespace past the budget is told apart after about a budget's worth of turns: a recall must not
    cost O(namespace) (each turn counted has its rendered size cached on its doc, so the count shows)."""
    with PlugMem.open(memory_at("m"), embeddings=None) as m:
        m.add([{"role": "user", "content": f"entry {i} mentions code{i}"} for i in range(300)], namespace=NS)
        m.flush()
        r = m.recall("code7 code8", namespace=NS, budget_tokens=200, mode="auto")
        assert r.tier != "full" and r.items
        turns = m.catalog(ns_key(NS)).turns()
        counted = sum("_tokens" in d.extra for d in turns)
        assert 0 < counted < len(turns) // 4


def test_async_twins(memory_at: At) -> None:
    async def main() -> None:
        m = await PlugMem.aopen(memory_at("m"), MemoryPolicy(full_history_when_fits=False))
        async with m:
            ids = await m.aadd(FACTS, namespace=NS)
            await m.aflush()
            r = await m.arecall("nurse night shifts", namespace=NS)
            assert "m5" in r.source_ids
            assert await m.aforget(namespace=NS, ids=ids[:1]) == 1

    asyncio.run(main())


def test_closed_memory_raises(memory_at: At) -> None:
    m = PlugMem.open(memory_at("m"))
    m.close()
    with pytest.raises(MemoryClosedError):
        m.add(FACTS, namespace=NS)


def test_stats_counts(mem: PlugMem) -> None:
    mem.add(FACTS[:3], namespace=NS, session_id="a")
    mem.add(FACTS[3:], namespace=("other",), session_id="b")
    mem.flush()
    s = mem.stats()
    assert (s.namespaces, s.steps, s.sessions, s.pending) == (2, 6, 2, 0)
    assert mem.stats(NS).steps == 3


def test_recall_counters_are_buffered_but_never_lost_on_close(memory_at: At) -> None:
    path = memory_at("counted")
    with PlugMem.open(path, policy=MemoryPolicy(full_history_when_fits=False), embeddings=None) as m:
        m.add(FACTS, namespace=NS)
        for _ in range(3):
            m.recall("golden retriever", namespace=NS, mode="fast")
        assert m.stats().recalls["fast"] == 3  # read-through: buffered counts are visible at once
        m.recall("golden retriever", namespace=NS, mode="fast")
    with PlugMem.open(path, embeddings=None) as m:
        assert m.stats().recalls["fast"] == 4  # the count buffered after the last read was written on close
