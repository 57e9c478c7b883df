"""PlugMemSaver in real graphs: durable checkpoints, and thread messages fed into a real PlugMem.

Every test runs a compiled LangGraph `StateGraph` (or calls the saver directly for the
error cases) against a real database (a SQLite file, and a PostgreSQL schema when the server
backend runs) and, where memory is involved, a real `PlugMem` with the MiniLM ONNX embedder
when it is present.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from _node_fixtures import open_memory
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import Command, interrupt
from plugmem_langgraph import PlugMemSaver
from plugmem_langgraph.checkpoint import FALLBACK_NAMESPACE_PREFIX
from plugmem_langgraph.node import MEMORY_MESSAGE_PREFIX, memory_node

from plugmem import InvalidInputError, MemoryClosedError, MemoryPolicy, PlugMem, open_database

pytestmark = pytest.mark.backends
At = Callable[[str], str]

NS = ("memories", "u1")
POLICY = MemoryPolicy(name="assistant", namespace=("memories", "{user_id}"))


def cfg(thread: str, user: str = "u1") -> RunnableConfig:
    return {"configurable": {"thread_id": thread, "user_id": user}}


def echo(state: MessagesState) -> dict[str, Any]:
    """A deterministic 'model': acknowledges the latest human message."""
    last = next(m for m in reversed(state["messages"]) if isinstance(m, HumanMessage))
    return {"messages": [AIMessage(content=f"Noted: {last.content}")]}


def chat_app(saver: PlugMemSaver, *, with_memory_node: PlugMem | None = None) -> Any:
    g = StateGraph(MessagesState)
    g.add_node("model", echo)
    if with_memory_node is not None:
        g.add_node("memory", memory_node(with_memory_node, POLICY))
        g.add_edge(START, "memory")
        g.add_edge("memory", "model")
    else:
        g.add_edge(START, "model")
    g.add_edge("model", END)
    return g.compile(checkpointer=saver)


@pytest.fixture
def mem(memory_at: At) -> Iterator[PlugMem]:
    m = open_memory(memory_at("mem"), full_history_when_fits=False)
    try:
        yield m
    finally:
        m.close()


@pytest.fixture
def saver(mem: PlugMem) -> Iterator[PlugMemSaver]:
    s = PlugMemSaver(memory=mem, policy=POLICY)
    try:
        yield s
    finally:
        s.close()


def settle(saver: PlugMemSaver, mem: PlugMem) -> None:
    assert saver.flush(timeout=30)
    mem.flush(timeout=60)


def fed_rows(db: Path | str) -> list[tuple[str, str, str]]:
    database = open_database(db)
    try:
        with database.tx(write=False) as cur:
            rows = cur.execute(
                "SELECT namespace, thread_id, message_id FROM lg_fed ORDER BY message_id"
            ).fetchall()
    finally:
        database.close()
    return [tuple(r) for r in rows]


# -- durability ---------------------------------------------------------------------------
def test_checkpoints_survive_close_and_reopen(memory_at: At) -> None:
    db = memory_at("ckpt")
    with PlugMemSaver(path=db) as first:
        app = chat_app(first)
        app.invoke({"messages": [HumanMessage("I moved to Porto last spring.")]}, cfg("t1"))
        app.invoke({"messages": [HumanMessage("My cat is called Miso.")]}, cfg("t1"))
        before = first.get_tuple(cfg("t1"))
        history = list(first.list(cfg("t1")))
        # a pending write on the latest checkpoint must survive too
        assert before is not None
        first.put_writes(before.config, [("messages", "in-flight")], "task-1", "~__pregel_pull, model")

    with PlugMemSaver(path=db) as reopened:
        after = reopened.get_tuple(cfg("t1"))
        assert after is not None and before is not None
        assert after.config["configurable"]["checkpoint_id"] == before.config["configurable"]["checkpoint_id"]
        assert (
            after.checkpoint["channel_values"]["messages"] == before.checkpoint["channel_values"]["messages"]
        )
        assert [m.content for m in after.checkpoint["channel_values"]["messages"]] == [
            "I moved to Porto last spring.",
            "Noted: I moved to Porto last spring.",
            "My cat is called Miso.",
            "Noted: My cat is called Miso.",
        ]
        assert after.metadata["step"] == before.metadata["step"]
        assert after.pending_writes == [("task-1", "messages", "in-flight")]
        assert [t.checkpoint["id"] for t in reopened.list(cfg("t1"))] == [t.checkpoint["id"] for t in history]
        # the graph resumes the thread from disk
        out = chat_app(reopened).invoke({"messages": [HumanMessage("And I cycle to work.")]}, cfg("t1"))
        assert len(out["messages"]) == 6


def test_from_conn_string_and_durability_settings(tmp_path: Path) -> None:
    with PlugMemSaver.from_conn_string(":memory:") as scratch:
        chat_app(scratch).invoke({"messages": [HumanMessage("hi")]}, cfg("t1"))
        assert scratch.get_tuple(cfg("t1")) is not None
    with pytest.raises(MemoryClosedError):
        scratch.get_tuple(cfg("t1"))
    fast = open_memory(tmp_path / "fast", synchronous="NORMAL")
    try:
        with PlugMemSaver(memory=fast, policy=POLICY) as s:  # follows the memory's durability
            assert s.synchronous == "NORMAL" and s._db._conn.execute("PRAGMA synchronous").fetchone()[0] == 1
        with PlugMemSaver(memory=fast, synchronous="FULL") as s:
            assert s._db._conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    finally:
        fast.close()
    with PlugMemSaver(path=tmp_path / "x.db") as plain:
        assert plain.synchronous == "FULL" and not plain.feed


def test_interrupted_run_resumes_after_reopen(memory_at: At) -> None:
    """Interrupts are special writes (WRITES_IDX_MAP); a restart between ask and answer loses nothing."""

    def ask(state: MessagesState) -> dict[str, Any]:
        answer = interrupt("Which city?")
        return {"messages": [AIMessage(content=f"Booked for {answer}.")]}

    def build(s: PlugMemSaver) -> Any:
        g = StateGraph(MessagesState)
        g.add_node("ask", ask)
        g.add_edge(START, "ask")
        g.add_edge("ask", END)
        return g.compile(checkpointer=s)

    db = memory_at("ckpt")
    with PlugMemSaver(path=db) as s1:
        out = build(s1).invoke({"messages": [HumanMessage("Book me a train.")]}, cfg("hitl"))
        assert out["__interrupt__"][0].value == "Which city?"
    with PlugMemSaver(path=db) as s2:
        app = build(s2)
        assert app.get_state(cfg("hitl")).next == ("ask",)
        done = app.invoke(Command(resume="Lisbon"), cfg("hitl"))
        assert done["messages"][-1].content == "Booked for Lisbon."
        assert app.get_state(cfg("hitl")).next == ()


def test_memory_database_holds_the_checkpoints(mem: PlugMem, saver: PlugMemSaver) -> None:
    chat_app(saver).invoke({"messages": [HumanMessage("hello there")]}, cfg("t1"))
    if mem.url is not None:  # the server memory's own database
        assert saver.db_path == mem.url
        database = open_database(mem.url)
        with database.tx(write=False) as cur:
            (n,) = cur.execute("SELECT COUNT(*) FROM lg_checkpoints WHERE thread_id = 't1'").fetchone()
        database.close()
        assert n >= 2
        return
    assert Path(saver.db_path) == mem.db_path
    with closing(sqlite3.connect(mem.db_path)) as conn:
        (n,) = conn.execute("SELECT COUNT(*) FROM lg_checkpoints WHERE thread_id = 't1'").fetchone()
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert n >= 2 and mode == "wal"


# -- feeding memory ----------------------------------------------------------------------------
def test_threads_feed_memory_and_a_new_thread_recalls_them(mem: PlugMem, saver: PlugMemSaver) -> None:
    app = chat_app(saver)
    said = {
        "t-family": "My sister Ana lives in Porto and works as a nurse.",
        "t-car": "I drive a blue Fiat Panda that I bought in 2019.",
        "t-food": "I am allergic to peanuts, so no satay sauce please.",
    }
    ids: dict[str, str] = {}
    for thread, text in said.items():
        msg = HumanMessage(text, id=f"{thread}-q1")
        ids[thread] = msg.id or ""
        app.invoke({"messages": [msg]}, cfg(thread))
    settle(saver, mem)

    steps = mem.steps(NS)
    assert {s.session_id for s in steps} == set(said)
    assert {s.id for s in steps} >= set(ids.values())

    # a brand-new thread has no history, but memory has the earlier threads
    recall = mem.recall("What car do I drive?", namespace=NS, budget_tokens=200)
    hits = [it for it in recall.items if ids["t-car"] in it.source_ids]
    assert hits, [(it.text, it.source_ids) for it in recall.items]
    assert "Fiat Panda" in hits[0].text
    assert "Fiat Panda" in recall.context
    # another user's namespace stays empty
    assert mem.steps(("memories", "u2")) == []

    # and a graph run on a brand-new thread gets it injected before its model step
    with_memory = chat_app(saver, with_memory_node=mem)
    out = with_memory.invoke(
        {"messages": [HumanMessage("What car do I drive?", id="t-new-q1")]}, cfg("t-new")
    )
    injected = [m for m in out["messages"] if isinstance(m, SystemMessage)]
    assert len(injected) == 1 and "Fiat Panda" in str(injected[0].content)
    assert [m.id for m in out["messages"] if isinstance(m, HumanMessage)] == ["t-new-q1"]  # no shared history
    other_user = with_memory.invoke(
        {"messages": [HumanMessage("What car do I drive?")]}, cfg("t-x", user="u2")
    )
    assert not any("Fiat Panda" in str(m.content) for m in other_user["messages"])


def test_injected_memory_messages_are_not_fed_back(mem: PlugMem, saver: PlugMemSaver) -> None:
    mem.add([{"role": "user", "content": "My favourite tea is genmaicha.", "id": "seed-1"}], namespace=NS)
    mem.flush()
    app = chat_app(saver, with_memory_node=mem)
    out = app.invoke({"messages": [HumanMessage("Which tea should I buy?", id="q1")]}, cfg("t1"))
    app.invoke({"messages": [HumanMessage("Any tea for the evening?", id="q2")]}, cfg("t1"))
    # the memory node did put its recalled context into the thread state ...
    injected = [m for m in out["messages"] if m.id and m.id.startswith(MEMORY_MESSAGE_PREFIX)]
    assert injected and "genmaicha" in str(injected[0].content)
    settle(saver, mem)
    # ... but only the conversation reached memory
    ids = [s.id for s in mem.steps(NS)]
    assert not [i for i in ids if i.startswith(MEMORY_MESSAGE_PREFIX)]
    assert "q1" in ids and "q2" in ids and "seed-1" in ids
    assert all(not r[2].startswith(MEMORY_MESSAGE_PREFIX) for r in fed_rows(mem.url or mem.db_path))


def test_each_message_is_fed_once(mem: PlugMem, saver: PlugMemSaver) -> None:
    app = chat_app(saver)
    for i in range(3):
        app.invoke(
            {"messages": [HumanMessage(f"Turn {i}: I like hiking in the Alps.", id=f"h{i}")]}, cfg("t1")
        )
    settle(saver, mem)
    steps = mem.steps(NS, session_id="t1")
    assert len(steps) == 6 and len({s.id for s in steps}) == 6
    assert saver.fed_messages == 6  # each checkpoint fed only what was new since the last one
    assert len(fed_rows(mem.url or mem.db_path)) == 6
    assert saver.feed_errors == 0

    # a new saver instance (cold cache) on the same file feeds only the new turn
    saver.close()
    with PlugMemSaver(memory=mem, policy=POLICY) as again:
        chat_app(again).invoke({"messages": [HumanMessage("Turn 3: and skiing.", id="h3")]}, cfg("t1"))
        settle(again, mem)
        assert again.fed_messages == 2
    assert len(mem.steps(NS, session_id="t1")) == 8


def test_feeding_waits_for_a_quiet_graph_and_flush_skips_the_wait(mem: PlugMem) -> None:
    # on its own, the feed thread waits until no checkpoint came for feed_delay
    with PlugMemSaver(memory=mem, policy=POLICY, feed_delay=1.0, feed_max_delay=10) as saver:
        chat_app(saver).invoke({"messages": [HumanMessage("I grow tomatoes.", id="g1")]}, cfg("t1"))
        assert saver.pending_feeds >= 1 and mem.steps(NS) == []  # nothing added during the run
        deadline = time.monotonic() + 20
        while saver.pending_feeds and time.monotonic() < deadline:
            time.sleep(0.02)
        assert saver.pending_feeds == 0
        assert {s.id for s in mem.steps(NS)} >= {"g1"}
    # flush() feeds at once, however long the delays
    with PlugMemSaver(memory=mem, policy=POLICY, feed_delay=60, feed_max_delay=600) as slow:
        chat_app(slow).invoke({"messages": [HumanMessage("And basil.", id="g2")]}, cfg("t2"))
        start = time.monotonic()
        assert slow.flush(timeout=20)
        assert time.monotonic() - start < 10
        assert "g2" in {s.id for s in mem.steps(NS)}


def test_edited_message_is_fed_again_and_forgotten_ones_stay_forgotten(
    mem: PlugMem, saver: PlugMemSaver
) -> None:
    app = chat_app(saver)
    app.invoke({"messages": [HumanMessage("I live in Lisbon.", id="home")]}, cfg("t1"))
    app.invoke({"messages": [HumanMessage("I work as a carpenter.", id="job")]}, cfg("t1"))
    settle(saver, mem)

    # same id, new content: add_messages replaces it in the thread, and memory follows
    app.update_state(cfg("t1"), {"messages": [HumanMessage("I live in Porto now.", id="home")]})
    settle(saver, mem)
    by_id = {s.id: s.content for s in mem.steps(NS)}
    assert by_id["home"] == "I live in Porto now."

    # the user forgets a message; later turns of the thread do not bring it back
    assert mem.forget(namespace=NS, ids=["job"]) == 1
    app.invoke({"messages": [HumanMessage("I also play the cello.", id="music")]}, cfg("t1"))
    settle(saver, mem)
    ids = {s.id for s in mem.steps(NS)}
    assert "job" not in ids and "music" in ids and "home" in ids


def test_policy_roles_namespace_and_fallback(mem: PlugMem) -> None:
    users_only = MemoryPolicy(name="u", namespace=("memories", "{user_id}"), store_roles=("user",))
    with PlugMemSaver(memory=mem, policy=users_only) as saver:
        app = chat_app(saver)
        app.invoke({"messages": [HumanMessage("I collect vinyl records.", id="v1")]}, cfg("t1"))
        # no user_id in the config: the thread gets its own namespace instead of failing
        app.invoke(
            {"messages": [HumanMessage("Anonymous visitor here.", id="anon1")]},
            {"configurable": {"thread_id": "t-anon"}},
        )
        settle(saver, mem)
        assert [(s.id, s.role) for s in mem.steps(NS)] == [("v1", "user")]
        assert [s.id for s in mem.steps((FALLBACK_NAMESPACE_PREFIX, "t-anon"))] == ["anon1"]
        assert saver.feed_errors == 0

    with PlugMemSaver(memory=mem, namespace=("team", "shared")) as fixed:
        chat_app(fixed).invoke(
            {"messages": [HumanMessage("Standup moved to 10am.", id="s1")]}, cfg("t9", "u7")
        )
        settle(fixed, mem)
    shared = mem.steps(("team", "shared"))
    assert [s.id for s in shared[:1]] == ["s1"] and len(shared) == 2  # the question and the reply
    assert mem.steps(("memories", "u7")) == []


def test_fake_chat_model_ids_are_kept(mem: PlugMem, saver: PlugMemSaver) -> None:
    model = GenericFakeChatModel(messages=iter([AIMessage(content="Porto has great bookshops.")]))

    def call_model(state: MessagesState) -> dict[str, list[BaseMessage]]:
        return {"messages": [model.invoke(state["messages"])]}

    g = StateGraph(MessagesState)
    g.add_node("model", call_model)
    g.add_edge(START, "model")
    g.add_edge("model", END)
    app = g.compile(checkpointer=saver)
    out = app.invoke(
        {"messages": [SystemMessage("Be brief."), HumanMessage("Tell me about Porto.")]}, cfg("t1")
    )
    settle(saver, mem)
    state_ids = [m.id for m in out["messages"]]
    assert all(state_ids)
    assert [s.id for s in mem.steps(NS)] == state_ids  # ids exactly as the thread has them, system included


def test_allowlist_copies_share_feeding_and_lifecycle(mem: PlugMem) -> None:
    """In strict-msgpack mode LangGraph runs graphs on `saver.with_allowlist(...)`, a shallow copy."""
    saver = PlugMemSaver(memory=mem, policy=POLICY, serde=JsonPlusSerializer(allowed_msgpack_modules=None))
    clone = saver.with_allowlist({("plugmem_tests", "Anything")})
    assert clone is not saver and isinstance(clone, PlugMemSaver)
    chat_app(clone).invoke({"messages": [HumanMessage("I keep bees on the roof.", id="b1")]}, cfg("t1"))
    settle(saver, mem)  # flushing the original waits for what the copy queued
    assert saver.fed_messages == clone.fed_messages == 2
    assert "b1" in {s.id for s in mem.steps(NS)}
    saver.close()
    with pytest.raises(MemoryClosedError):
        clone.get_tuple(cfg("t1"))


async def test_async_graph_run(mem: PlugMem, saver: PlugMemSaver) -> None:
    app = chat_app(saver)
    await app.ainvoke({"messages": [HumanMessage("I run a bakery in Braga.", id="a1")]}, cfg("ta"))
    await app.ainvoke({"messages": [HumanMessage("We open at 7am.", id="a2")]}, cfg("ta"))
    tup = await saver.aget_tuple(cfg("ta"))
    assert tup is not None
    assert [m.content for m in tup.checkpoint["channel_values"]["messages"]][-1] == "Noted: We open at 7am."
    listed = [t async for t in saver.alist(cfg("ta"), limit=2)]
    assert len(listed) == 2 and listed[0].checkpoint["id"] == tup.checkpoint["id"]
    assert await saver.aflush(timeout=30)
    await mem.aflush()
    recall = await mem.arecall("Where is the bakery?", namespace=NS, budget_tokens=200)
    assert "a1" in recall.source_ids
    await saver.adelete_thread("ta")
    assert await saver.aget_tuple(cfg("ta")) is None
    assert {"a1", "a2"} <= {s.id for s in mem.steps(NS)}  # deleting the thread does not forget


# -- errors -----------------------------------------------------------------------------------
def test_feed_failure_never_breaks_the_checkpoint(memory_at: At) -> None:
    mem = open_memory(memory_at("mem2"))
    saver = PlugMemSaver(memory=mem, policy=POLICY)
    mem.close()  # memory is gone; checkpoints must still be written
    out = chat_app(saver).invoke({"messages": [HumanMessage("still works")]}, cfg("t1"))
    assert out["messages"][-1].content == "Noted: still works"
    assert saver.flush(timeout=30)
    assert saver.feed_errors >= 1 and isinstance(saver.last_feed_error, MemoryClosedError)
    tup = saver.get_tuple(cfg("t1"))
    assert tup is not None and len(tup.checkpoint["channel_values"]["messages"]) == 2
    saver.close()


def test_bad_input_raises_clear_errors(tmp_path: Path, saver: PlugMemSaver) -> None:
    with pytest.raises(InvalidInputError, match="thread_id"):
        saver.get_tuple({"configurable": {"user_id": "u1"}})
    with pytest.raises(InvalidInputError, match="configurable"):
        saver.get_tuple({})
    with pytest.raises(InvalidInputError, match="checkpoint_id"):
        saver.put_writes({"configurable": {"thread_id": "t1", "checkpoint_ns": ""}}, [("a", 1)], "task")
    with pytest.raises(InvalidInputError, match="strategy"):
        saver.prune(["t1"], strategy="keep_some")
    with pytest.raises(InvalidInputError, match="memory"):
        PlugMemSaver()
    with pytest.raises(InvalidInputError, match="PlugMem"):
        PlugMemSaver(memory=str(tmp_path))
    with pytest.raises(InvalidInputError, match="directory"):
        PlugMemSaver(path=tmp_path)
    # the graph refuses to run without a thread id before anything is written
    with pytest.raises(ValueError, match="thread_id"):
        chat_app(saver).invoke({"messages": [HumanMessage("hi")]}, {"configurable": {"user_id": "u1"}})
    closed = PlugMemSaver(path=tmp_path / "c.db")
    closed.close()
    with pytest.raises(MemoryClosedError):
        closed.get_tuple(cfg("t1"))
