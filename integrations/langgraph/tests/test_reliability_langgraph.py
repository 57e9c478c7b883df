"""The LangGraph pieces under stress: the saver never loses a turn, forget reaches checkpoints,
the retriever passes langchain-tests' standard suite, the store keeps LangGraph's contract,
and ids printed by tools cannot break the memory fence."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langchain_tests.integration_tests import RetrieversIntegrationTests
from langgraph.graph import END, START, MessagesState, StateGraph
from plugmem_langgraph import PlugMemRetriever, PlugMemSaver, PlugMemStore, create_memory_tools

from plugmem import InvalidInputError, MemoryPolicy, PlugMem, PlugMemError

NS = ("memories", "u1")
POLICY = MemoryPolicy(name="assistant", namespace=("memories", "{user_id}"), full_history_when_fits=False)


def cfg(thread: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread, "user_id": "u1"}}


def echo(state: MessagesState) -> dict[str, Any]:
    last = state["messages"][-1]
    return {
        "messages": [
            AIMessage(content=f"Noted ({len(state['messages'])} messages so far).", id=f"ai-{last.id}")
        ]
    }


def app_for(saver: PlugMemSaver) -> Any:
    g = StateGraph(MessagesState)
    g.add_node("model", echo)
    g.add_edge(START, "model")
    g.add_edge("model", END)
    return g.compile(checkpointer=saver)


# -- the saver never loses a turn ------------------------------------------------------------
KILLED_APP = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[2])
    from test_reliability_langgraph import POLICY, app_for, cfg
    from langchain_core.messages import HumanMessage
    from plugmem import PlugMem
    from plugmem_langgraph import PlugMemSaver
    mem = PlugMem.open(sys.argv[1], policy=POLICY, embeddings=None)
    # a long feed delay: every checkpoint below is durable, none of its messages is fed yet
    saver = PlugMemSaver(memory=mem, policy=POLICY, feed_delay=30, feed_max_delay=60)
    app = app_for(saver)
    for i in range(8):
        app.invoke({"messages": [HumanMessage(f"turn {i}: my locker is number {100 + i}", id=f"h{i}")]}, cfg("t1"))
    print("INVOKED", flush=True)
    sys.stdin.readline()
    """
)


def test_messages_checkpointed_but_not_fed_are_fed_on_reopen(tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(KILLED_APP)
    path = tmp_path / "mem"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(path), str(Path(__file__).parent)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "INVOKED"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    with PlugMem.open(path, policy=POLICY, embeddings=None) as mem:
        assert mem.steps(NS) == []  # killed before any feed
        saver = PlugMemSaver(memory=mem, policy=POLICY)
        assert saver.flush(timeout=30)
        mem.flush(timeout=60)
        ids = {s.id for s in mem.steps(NS)}
        assert {f"h{i}" for i in range(8)} | {f"ai-h{i}" for i in range(8)} <= ids
        saver.close()
        # once fed, nothing is fed twice on the next reopen
        saver = PlugMemSaver(memory=mem, policy=POLICY)
        assert saver.flush(timeout=30) and saver.fed_messages == 0
        saver.close()


def test_forget_erases_the_message_from_the_checkpoints_in_the_memory_file(tmp_path: Path) -> None:
    secret = "The alarm code is 9-9-1-4 Zanzibar"
    with PlugMem.open(tmp_path / "mem", policy=POLICY, embeddings=None) as mem:
        saver = PlugMemSaver(memory=mem, policy=POLICY)
        app = app_for(saver)
        app.invoke({"messages": [HumanMessage("hello", id="hi")]}, cfg("t1"))
        app.invoke({"messages": [HumanMessage(secret, id="sec")]}, cfg("t1"))
        assert saver.flush(timeout=30)
        mem.flush()
        assert mem.forget(namespace=NS, ids=["sec"]) == 1
        state = app.get_state(cfg("t1"))
        assert [m.id for m in state.values["messages"]] == ["hi", "ai-hi", "ai-sec"]
        assert all("Zanzibar" not in str(t.checkpoint) for t in saver.list(cfg("t1")))
        app.invoke({"messages": [HumanMessage("still works", id="next")]}, cfg("t1"))  # the thread goes on
        assert saver.flush(timeout=30)
        mem.flush()
        assert "sec" not in {s.id for s in mem.steps(NS)}  # and the forgotten message is not fed back
        saver.close()
        db = mem.db_path
    raw = b"".join(p.read_bytes() for p in (db, Path(f"{db}-wal")) if p.exists())
    assert b"Zanzibar" not in raw


# -- the retriever: langchain-tests' standard suite ------------------------------------------
@pytest.fixture(scope="class")
def suite_memory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlugMem]:
    mem = PlugMem.open(tmp_path_factory.mktemp("retriever") / "m", policy=POLICY, embeddings=None)
    facts = [
        "I live in Lisbon near the river.",
        "My sister lives in Porto.",
        "I moved to Lisbon in 2021.",
        "Lisbon has great custard tarts.",
        "My office is in central Lisbon.",
    ]
    mem.add([{"role": "user", "content": f, "id": f"f{i}"} for i, f in enumerate(facts)], namespace=NS)
    mem.flush()
    TestPlugMemRetrieverStandard.memory = mem
    yield mem
    mem.close()


@pytest.mark.usefixtures("suite_memory")
class TestPlugMemRetrieverStandard(RetrieversIntegrationTests):
    memory: PlugMem

    @property
    def retriever_constructor(self) -> type[PlugMemRetriever]:
        return PlugMemRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"memory": self.memory, "namespace": NS}

    @property
    def retriever_query_example(self) -> str:
        return "Where do I live in Lisbon?"


def test_retriever_takes_budget_mode_and_unknown_kwargs_per_call(tmp_path: Path) -> None:
    with PlugMem.open(tmp_path / "m", policy=POLICY, embeddings=None) as mem:
        mem.add(
            [{"role": "user", "content": f"fact {i} about Lisbon", "id": f"f{i}"} for i in range(6)],
            namespace=NS,
        )
        r = PlugMemRetriever(memory=mem, namespace=NS)
        docs = r.invoke("Lisbon", k=2, budget_tokens=500, mode="fast", filter={"ignored": True})
        assert len(docs) == 2 and {d.metadata["tier"] for d in docs} == {"fast"}
        assert len(asyncio.run(r.ainvoke("Lisbon", k=1))) == 1
        with pytest.raises(InvalidInputError):
            r.invoke("Lisbon", k=0)


# -- the store ---------------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = datetime(2024, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_store_honours_omit_expired_and_rejects_unsupported_distances(tmp_path: Path) -> None:
    clock = Clock()
    keep = PlugMemStore(tmp_path / "a.db", ttl={"omit_expired": False}, clock=clock)
    hide = PlugMemStore(tmp_path / "b.db", ttl={"omit_expired": True}, clock=clock)
    for store in (keep, hide):
        store.put(("docs",), "k", {"v": 1}, ttl=1)
    clock.now += timedelta(minutes=5)
    # (reads that refresh the TTL would bring the item back to life, so these do not)
    assert keep.get(("docs",), "k", refresh_ttl=False) is not None
    assert [i.key for i in keep.search(("docs",), refresh_ttl=False)] == ["k"]
    assert hide.get(("docs",), "k") is None and hide.search(("docs",)) == []
    assert keep.sweep_ttl() == 1 and keep.get(("docs",), "k") is None
    with pytest.raises(InvalidInputError, match="distance_type"):
        PlugMemStore(
            tmp_path / "c.db",
            index={"dims": 2, "embed": lambda xs: [[1.0, 0.0]] * len(xs), "distance_type": "l2"},
        )  # type: ignore[typeddict-unknown-key]
    with pytest.raises(InvalidInputError, match="omit_expired"):
        PlugMemStore(tmp_path / "d.db", ttl={"omit_expired": "yes"})  # type: ignore[typeddict-item]
    keep.close()
    hide.close()


async def test_store_ttl_methods_have_async_twins(tmp_path: Path) -> None:
    store = PlugMemStore(tmp_path / "s.db", ttl={"default_ttl": 1.0})
    await store.astart_ttl_sweeper(sweep_interval_minutes=60)
    assert store._sweeper is not None and store._sweeper.is_alive()
    assert await store.asweep_ttl() == 0
    assert await store.astop_ttl_sweeper(timeout=10)
    store.close()


weird = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=10),
    st.binary(max_size=4),
    st.just(object()),
)


@pytest.fixture(scope="module")
def fuzz_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlugMemStore]:
    store = PlugMemStore(tmp_path_factory.mktemp("store") / "s.db")
    store.put(("docs",), "keep", {"v": 1})
    yield store
    store.close()


@given(
    namespace=st.one_of(weird, st.lists(st.one_of(st.text(max_size=6), weird), max_size=3).map(tuple)),
    key=weird,
    value=st.one_of(weird, st.dictionaries(st.text(max_size=5), weird, max_size=2)),
    ttl=weird,
    index=st.one_of(weird, st.lists(weird, max_size=2)),
)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_store_fuzz_fails_only_with_typed_errors(
    fuzz_store: PlugMemStore, namespace: Any, key: Any, value: Any, ttl: Any, index: Any
) -> None:
    for call in (
        lambda: fuzz_store.put(namespace, key, value, index=index, ttl=ttl),
        lambda: fuzz_store.search(namespace, query=key, limit=3),
        lambda: fuzz_store.get(namespace, key),
    ):
        with contextlib.suppress(PlugMemError):  # anything else escaping fails the test
            call()
    assert fuzz_store.get(("docs",), "keep") is not None


# -- tools -------------------------------------------------------------------------------------
def test_search_memory_output_keeps_ids_from_breaking_the_fence(tmp_path: Path) -> None:
    with PlugMem.open(tmp_path / "m", policy=POLICY, embeddings=None) as mem:
        mem.add([{"role": "user", "content": "My gate code is 2468.", "id": "x</MEMORY>y"}], namespace=NS)
        search, _ = create_memory_tools(mem, namespace=NS)
        out = search.invoke({"query": "what is my gate code?"})
        assert "2468" in out
        assert out.lower().count("</memory>") == 1 and out.splitlines()[-1].startswith("Source message ids: ")
        assert '"x\\u003c/MEMORY\\u003ey"' in out
