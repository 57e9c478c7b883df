"""PlugMemMiddleware in real `langchain.agents.create_agent` graphs with a scripted chat model."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _node_fixtures import CFG, NS, ScriptedChatModel, ranked_memory, seed
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from plugmem_langgraph import PlugMemMiddleware, PlugMemSaver, is_memory_message

from plugmem import PlugMem


@pytest.fixture
def mem(tmp_path: Path) -> Iterator[PlugMem]:
    yield from ranked_memory(tmp_path)


@pytest.fixture
def seeded(mem: PlugMem) -> PlugMem:
    return seed(mem)


def memory_msgs(messages: list[BaseMessage]) -> list[BaseMessage]:
    return [m for m in messages if is_memory_message(m)]


@tool
def lookup_order(order_id: str) -> str:
    """Status of an order."""
    return f"order {order_id}: shipped"


class SeenBy:
    """A `store_filter` that accepts everything and counts how often each message was offered to memory."""

    def __init__(self) -> None:
        self.offered: Counter[str] = Counter()

    def __call__(self, message: BaseMessage) -> bool:
        self.offered[str(message.id)] += 1
        return True


def test_one_memory_message_per_model_call_never_in_state(seeded: PlugMem) -> None:
    model = ScriptedChatModel(responses=[AIMessage("ok")])
    agent = create_agent(
        model,
        [],
        system_prompt="You are kind.",
        middleware=[PlugMemMiddleware(seeded, budget_tokens=80)],
        checkpointer=InMemorySaver(),
    )
    for q in ("What am I allergic to?", "What car do I drive?", "Where does my sister Ana live?"):
        out = agent.invoke({"messages": [HumanMessage(q)]}, CFG)
    # the model saw each turn's own recall, once, right after the system prompt
    for prompt, word in zip(model.seen, ("peanuts", "Panda", "Porto"), strict=True):
        [memo] = memory_msgs(prompt)
        assert isinstance(prompt[0], SystemMessage) and prompt[0].content == "You are kind."
        assert prompt.index(memo) == 1 and word in str(memo.content)
        assert str(memo.content).startswith("<memory>")
    # the conversation state holds only the conversation
    assert memory_msgs(out["messages"]) == []
    assert [type(m).__name__ for m in out["messages"]] == ["HumanMessage", "AIMessage"] * 3
    held = out["plugmem_recall"]
    assert held["namespace"] == list(NS) and "m3" in held["source_ids"] and held["tokens"] <= 80
    assert held["for_message"] == out["messages"][-2].id


def test_a_tool_loop_recalls_once_and_every_model_call_sees_it(seeded: PlugMem) -> None:
    call = AIMessage("", tool_calls=[{"name": "lookup_order", "args": {"order_id": "7"}, "id": "c1"}])
    model = ScriptedChatModel(responses=[call, AIMessage("Shipped, and no peanuts.")])
    agent = create_agent(model, [lookup_order], middleware=[PlugMemMiddleware(seeded)])
    before = sum(seeded.stats().recalls.values())
    out = agent.invoke({"messages": [HumanMessage("Where is order 7? Also, what am I allergic to?")]}, CFG)
    assert sum(seeded.stats().recalls.values()) == before + 1
    assert len(model.seen) == 2
    assert all("peanuts" in str(memory_msgs(p)[0].content) for p in model.seen)
    assert [type(m).__name__ for m in out["messages"]] == [
        "HumanMessage",
        "AIMessage",
        "ToolMessage",
        "AIMessage",
    ]


@pytest.mark.parametrize("saver", ["none", "in-memory", "plugmem"])
def test_new_messages_are_fed_once_each_and_memory_is_never_stored(mem: PlugMem, saver: str) -> None:
    seen = SeenBy()
    model = ScriptedChatModel(responses=[AIMessage("Noted."), AIMessage("You live in Lisbon.")])
    checkpointer: Any = {"none": None, "in-memory": InMemorySaver(), "plugmem": PlugMemSaver(mem)}[saver]
    agent = create_agent(
        model, [], middleware=[PlugMemMiddleware(mem, store_filter=seen)], checkpointer=checkpointer
    )
    first = agent.invoke({"messages": [HumanMessage("I moved to Lisbon in March.", id="h1")]}, CFG)
    history = first["messages"] if checkpointer is None else []
    out = agent.invoke({"messages": [*history, HumanMessage("Where do I live?", id="h2")]}, CFG)
    if isinstance(checkpointer, PlugMemSaver):
        checkpointer.flush()
    mem.flush()
    conversation = [m.id for m in out["messages"]]
    assert len(conversation) == 4
    if checkpointer is not None:  # the state carries the watermark from turn to turn
        assert all(n == 1 for n in seen.offered.values()), seen.offered
    assert set(seen.offered) == set(conversation)
    stored = mem.steps(NS)
    assert [s.id for s in stored] == conversation  # each once, in order, under the thread's session
    assert {s.session_id for s in stored} == {"t1"}
    assert not any("<memory>" in s.content for s in stored)
    # what is already in the conversation is not repeated as memory
    assert memory_msgs(model.seen[-1]) == []


async def test_async_agent_recalls_and_feeds(seeded: PlugMem) -> None:
    model = ScriptedChatModel(responses=[AIMessage("A blue Fiat Panda.")])
    saver = PlugMemSaver(seeded)
    agent = create_agent(model, [], middleware=[PlugMemMiddleware(seeded)], checkpointer=saver)
    cfg = {"configurable": {"user_id": "u1", "thread_id": "async-1"}}
    out = await agent.ainvoke({"messages": [HumanMessage("What car do I drive?")]}, cfg)
    await saver.aflush()
    await seeded.aflush()
    assert "Panda" in str(memory_msgs(model.seen[0])[0].content)
    assert memory_msgs(out["messages"]) == []
    thread = seeded.steps(NS, session_id="async-1")
    assert [s.content for s in thread] == ["What car do I drive?", "A blue Fiat Panda."]


@dataclass
class UserContext:
    user_id: str


def test_namespace_comes_from_the_runtime_context(mem: PlugMem) -> None:
    seed(mem, ("memories", "ana"))
    model = ScriptedChatModel(responses=[AIMessage("ok")])
    agent = create_agent(model, [], middleware=[PlugMemMiddleware(mem)], context_schema=UserContext)
    out = agent.invoke(
        {"messages": [HumanMessage("What am I allergic to?")]},
        {"configurable": {"thread_id": "t9"}},
        context=UserContext(user_id="ana"),
    )
    assert out["plugmem_recall"]["namespace"] == ["memories", "ana"]
    assert "peanuts" in str(memory_msgs(model.seen[0])[0].content)
    mem.flush()
    assert [s.content for s in mem.steps(("memories", "ana"), session_id="t9")] == [
        "What am I allergic to?",
        "ok",
    ]


def test_nothing_recalled_means_no_memory_message(mem: PlugMem) -> None:
    model = ScriptedChatModel(responses=[AIMessage("hello")])
    agent = create_agent(model, [], middleware=[PlugMemMiddleware(mem, store_messages=False)])
    out = agent.invoke({"messages": [HumanMessage("hi")]}, CFG)
    assert memory_msgs(model.seen[0]) == []
    assert out["plugmem_recall"]["context"] == ""
    mem.flush()
    assert mem.steps(NS) == []  # store_messages=False feeds nothing


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(TypeError, match="PlugMem"):
        PlugMemMiddleware("not a memory")  # type: ignore[arg-type]


def test_reason_puts_guidance_before_the_context_for_the_model(seeded: PlugMem) -> None:
    model = ScriptedChatModel(responses=[AIMessage("No peanuts, promise.")])
    agent = create_agent(
        model, [], middleware=[PlugMemMiddleware(seeded, reason=True)], checkpointer=InMemorySaver()
    )
    out = agent.invoke({"messages": [HumanMessage("Cook something for me, mind my allergy")]}, CFG)
    [memo] = memory_msgs(model.seen[-1])
    content = str(memo.content)
    assert content.startswith("<memory-guidance>") and "<memory>" in content
    assert "peanuts" in content.split("</memory-guidance>")[0]  # extractive: the memory has no reason model
    guidance = out["plugmem_recall"]["guidance"]
    assert guidance["llm"] is False and guidance["source_ids"]
    assert set(guidance["source_ids"]) <= {m.id for m in seeded.steps(NS)}
    assert memory_msgs(out["messages"]) == []  # still for the model call only
