"""MemoryNode as a graph node, as create_react_agent's pre_model_hook, and as a writer."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from _node_fixtures import CFG, NS, ScriptedChatModel, open_memory, ranked_memory, seed
from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    BaseMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.message import REMOVE_ALL_MESSAGES
from langgraph.prebuilt import create_react_agent
from plugmem_langgraph.node import (
    MEMORY_MESSAGE_PREFIX,
    MemoryNode,
    is_memory_message,
    memory_node,
    memory_pre_model_hook,
    memory_writer,
)
from plugmem_langgraph.tools import create_memory_tools
from pydantic import BaseModel

from plugmem import MemoryPolicy, PlugMem, PolicyError


@pytest.fixture
def mem(tmp_path: Path) -> Iterator[PlugMem]:
    yield from ranked_memory(tmp_path)


@pytest.fixture
def seeded(mem: PlugMem) -> PlugMem:
    return seed(mem)


def memory_msgs(messages: list[AnyMessage] | list[BaseMessage]) -> list[BaseMessage]:
    return [m for m in messages if is_memory_message(m)]


def chat_graph(node: MemoryNode, model: ScriptedChatModel, *, checkpointer: Any = None) -> Any:
    """START → memory → model → END over MessagesState."""
    g = StateGraph(MessagesState)
    g.add_node("memory", node)
    g.add_node("model", lambda s: {"messages": [model.invoke(s["messages"])]})
    g.add_edge(START, "memory")
    g.add_edge("memory", "model")
    g.add_edge("model", END)
    return g.compile(checkpointer=checkpointer)


def test_one_memory_message_per_thread_updated_in_place(seeded: PlugMem) -> None:
    model = ScriptedChatModel(responses=[AIMessage("ok")])
    app = chat_graph(memory_node(seeded, budget_tokens=80), model, checkpointer=InMemorySaver())
    app.invoke({"messages": [SystemMessage("You are kind."), HumanMessage("What am I allergic to?")]}, CFG)
    out = app.invoke({"messages": [HumanMessage("What car do I drive?")]}, CFG)
    out = app.invoke({"messages": [HumanMessage("Where does my sister Ana live?")]}, CFG)
    msgs = out["messages"]
    [memo] = memory_msgs(msgs)
    assert memo.id == f"{MEMORY_MESSAGE_PREFIX}:default:t1"
    assert isinstance(memo, SystemMessage) and msgs.index(memo) == 1  # right after the system prompt
    assert "Porto" in memo.content and str(memo.content).startswith("<memory>")
    assert [type(m).__name__ for m in msgs[2:]] == ["HumanMessage", "AIMessage"] * 3
    meta = memo.response_metadata["plugmem"]
    assert meta["namespace"] == list(NS) and "m3" in meta["source_ids"] and meta["tokens"] <= 80
    # the model saw each turn's own recall: peanuts first, then the car, then Porto
    first, second, third = (memory_msgs(p)[0].content for p in model.seen)
    assert "peanuts" in first and "Panda" in second and "Porto" in third
    assert all(len(memory_msgs(p)) == 1 for p in model.seen)


def test_first_insertion_rewrites_once_then_replaces_by_id(seeded: PlugMem) -> None:
    node = memory_node(seeded)
    human = HumanMessage("What am I allergic to?", id="h1")
    first = node.invoke({"messages": [SystemMessage("sys", id="s"), human]}, CFG)["messages"]
    assert isinstance(first[0], RemoveMessage) and first[0].id == REMOVE_ALL_MESSAGES
    assert [m.id for m in first[1:]] == ["s", node.message_id("t1"), "h1"]
    again = node.invoke({"messages": first[1:]}, CFG)["messages"]
    assert len(again) == 1 and again[0].id == node.message_id("t1")


def test_stale_memory_is_removed_when_recall_finds_nothing(seeded: PlugMem) -> None:
    model = ScriptedChatModel(responses=[AIMessage("ok")])
    app = chat_graph(memory_node(seeded), model, checkpointer=InMemorySaver())
    app.invoke({"messages": [HumanMessage("What am I allergic to?")]}, CFG)
    seeded.forget(namespace=NS)
    out = app.invoke({"messages": [HumanMessage("And my car?")]}, CFG)
    assert memory_msgs(out["messages"]) == []
    assert memory_msgs(model.seen[-1]) == []


def test_empty_memory_adds_nothing(mem: PlugMem) -> None:
    assert memory_node(mem).invoke({"messages": [HumanMessage("hello")]}, CFG) == {}
    hook = memory_pre_model_hook(mem)
    msgs = [HumanMessage("hello", id="h")]
    assert hook.invoke({"messages": msgs}, CFG) == {"llm_input_messages": msgs}


def test_no_human_message_means_no_recall(seeded: PlugMem) -> None:
    state = {"messages": [SystemMessage("sys", id="s"), AIMessage("hi there", id="a")]}
    assert memory_node(seeded).invoke(state, CFG) == {}


@tool
def lookup_order(order_id: str) -> str:
    """Status of an order."""
    return f"order {order_id}: shipped"


def _react(mem: PlugMem, model: ScriptedChatModel, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return create_react_agent(
            model,
            [lookup_order, *create_memory_tools(mem)],
            prompt="You are a shop assistant.",
            checkpointer=InMemorySaver(),
            **kwargs,
        )


@pytest.mark.needs_model  # its assertions rely on semantic recall
def test_pre_model_hook_feeds_the_model_without_touching_state(seeded: PlugMem) -> None:
    model = ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[{"name": "lookup_order", "args": {"order_id": "42"}, "id": "c1"}]),
            AIMessage("Shipped, and no peanuts in the box."),
        ]
    )
    agent = _react(seeded, model, pre_model_hook=memory_pre_model_hook(seeded))
    out = agent.invoke({"messages": [HumanMessage("Is order 42 shipped? Remember my allergy.")]}, CFG)
    assert out["messages"][-1].content == "Shipped, and no peanuts in the box."
    assert memory_msgs(out["messages"]) == []  # the thread's messages stay clean
    assert len(model.seen) == 2  # the hook ran before both model calls
    for prompt in model.seen:
        assert isinstance(prompt[0], SystemMessage) and prompt[0].content == "You are a shop assistant."
        [memo] = memory_msgs(prompt)
        assert prompt.index(memo) == 1 and "peanuts" in memo.content
    assert isinstance(model.seen[1][-1], ToolMessage)  # the loop continued with the tool result


def test_hook_and_writer_build_memory_without_a_checkpointer_feed(mem: PlugMem) -> None:
    """pre_model_hook recalls, post_model_hook stores: the next thread remembers the first."""
    pol = MemoryPolicy(store_roles=("user", "assistant"), full_history_when_fits=False)
    model = ScriptedChatModel(
        responses=[
            AIMessage("", tool_calls=[{"name": "lookup_order", "args": {"order_id": "7"}, "id": "c1"}]),
            AIMessage("Order 7 has shipped to Lisbon."),
            AIMessage("You asked about order 7."),
        ]
    )
    agent = _react(
        mem, model, pre_model_hook=memory_pre_model_hook(mem, pol), post_model_hook=memory_writer(mem, pol)
    )
    agent.invoke(
        {"messages": [HumanMessage("Where is order 7?")]},
        {"configurable": {"user_id": "u1", "thread_id": "a"}},
    )
    steps = mem.steps(NS)
    assert [s.role for s in steps] == [
        "user",
        "assistant",
        "assistant",
    ]  # tool results not kept by the policy
    assert steps[-1].content == "Order 7 has shipped to Lisbon." and {s.session_id for s in steps} == {"a"}
    agent.invoke(
        {"messages": [HumanMessage("Which order did I ask about?")]},
        {"configurable": {"user_id": "u1", "thread_id": "b"}},
    )
    [memo] = memory_msgs(model.seen[-1])
    assert "order 7" in str(memo.content).lower()


def test_store_messages_is_idempotent_and_honours_roles(mem: PlugMem) -> None:
    pol = MemoryPolicy(store_roles=("user",))
    node = memory_node(mem, pol, store_messages=True)
    history: list[BaseMessage] = [
        SystemMessage("sys", id="s"),
        HumanMessage("I collect vintage cameras.", id="h1"),
        AIMessage("Nice!", id="a1"),
    ]
    node.invoke({"messages": history}, CFG)
    history += [HumanMessage("My favourite is a Leica M3.", id="h2")]
    node.invoke({"messages": history}, CFG)  # no checkpointer: the caller passes the whole history
    node.invoke({"messages": history}, CFG)
    steps = mem.steps(NS)
    assert [(s.id, s.role) for s in steps] == [("h1", "user"), ("h2", "user")]
    assert {s.session_id for s in steps} == {"t1"}


def test_store_filter_and_memory_messages_never_stored(mem: PlugMem) -> None:
    node = memory_node(mem, store_messages=True, store_filter=lambda m: m.name != "other")
    msgs = [
        HumanMessage("Plan the offsite.", id="h1"),
        AIMessage("Booked the venue.", id="a1", name="planner"),
        AIMessage("I would not.", id="a2", name="other"),
        SystemMessage("<memory>old</memory>", id=f"{MEMORY_MESSAGE_PREFIX}:x:t1"),
        AIMessage("", id="a3"),  # nothing to store
    ]
    node.invoke({"messages": msgs}, CFG)
    assert [s.id for s in mem.steps(NS)] == ["h1", "a1"]


def test_messages_without_ids_get_stable_ids(mem: PlugMem) -> None:
    node = memory_writer(mem)
    for _ in range(2):
        node.invoke({"messages": [HumanMessage("I like rain.")]}, CFG)
    [step] = mem.steps(NS)
    assert step.id.startswith("pm-msg-") and step.content == "I like rain."


def test_oversized_messages_are_truncated_not_fatal(tmp_path: Path) -> None:
    m = open_memory(tmp_path / "small", max_message_chars=300)
    try:
        memory_writer(m).invoke({"messages": [ToolMessage("x" * 5000, tool_call_id="c", id="t")]}, CFG)
        [step] = m.steps(NS)
        assert len(step.content) <= 300 and "truncated by plugmem" in step.content
    finally:
        m.close()


def test_skip_in_prompt_avoids_repeating_the_conversation(mem: PlugMem) -> None:
    mem.add(
        [{"role": "user", "content": "My dog is called Rex.", "id": "old"}], namespace=NS, session_id="s0"
    )
    thread = [HumanMessage("My cat is called Tom.", id="h1"), AIMessage("Hi Tom!", id="a1")]
    mem.add(thread, namespace=NS, session_id="t1")
    state = {"messages": [*thread, HumanMessage("What are my pets called?", id="h2")]}
    hook = memory_pre_model_hook(mem, budget_tokens=400)
    [memo] = memory_msgs(hook.invoke(state, CFG)["llm_input_messages"])
    assert "Rex" in memo.content and "Tom" not in memo.content
    assert memo.response_metadata["plugmem"]["source_ids"] == ["old"]
    assert mem.tokens.count(str(memo.content)) == memo.response_metadata["plugmem"]["tokens"]
    full = memory_pre_model_hook(mem, budget_tokens=400, skip_in_prompt=False)
    [memo] = memory_msgs(full.invoke(state, CFG)["llm_input_messages"])
    assert "Rex" in memo.content and "Tom" in memo.content


def test_each_user_gets_their_own_namespace(mem: PlugMem) -> None:
    mem.add([{"role": "user", "content": "I live in Oslo.", "id": "a"}], namespace=("memories", "alice"))
    mem.add([{"role": "user", "content": "I live in Lima.", "id": "b"}], namespace=("memories", "bob"))
    hook = memory_pre_model_hook(mem)
    state = {"messages": [HumanMessage("Where do I live?")]}
    alice = hook.invoke(state, {"configurable": {"user_id": "alice"}})["llm_input_messages"][0].content
    bob = hook.invoke(state, {"configurable": {"user_id": "bob"}})["llm_input_messages"][0].content
    assert "Oslo" in alice and "Lima" not in alice and "Lima" in bob and "Oslo" not in bob


def test_missing_config_key_names_the_agent(mem: PlugMem) -> None:
    node = memory_node(mem, MemoryPolicy(name="researcher", namespace=("r", "{team}")))
    with pytest.raises(PolicyError, match=r"researcher.*needs 'team'"):
        node.invoke({"messages": [HumanMessage("hi")]}, CFG)


def test_custom_output_key_per_agent(seeded: PlugMem) -> None:
    node = MemoryNode(seeded, output="researcher_input")
    out = node.invoke({"messages": [HumanMessage("What car do I drive?", id="h")]}, CFG)
    assert list(out) == ["researcher_input"]
    memo, human = out["researcher_input"]
    assert is_memory_message(memo) and "Panda" in memo.content and human.id == "h"


class PydanticState(BaseModel):
    messages: list[AnyMessage]


@pytest.mark.needs_model  # its assertions rely on semantic recall
def test_pydantic_state(seeded: PlugMem) -> None:
    out = memory_node(seeded).invoke(PydanticState(messages=[HumanMessage("Any allergies?", id="h")]), CFG)
    _, memo, human = out["messages"]
    assert is_memory_message(memo) and "peanuts" in memo.content and human.id == "h"


async def test_async_graph_with_checkpointer(seeded: PlugMem) -> None:
    model = ScriptedChatModel(responses=[AIMessage("ok")])
    app = chat_graph(memory_node(seeded, store_messages=True), model, checkpointer=InMemorySaver())
    await app.ainvoke({"messages": [HumanMessage("Where does Ana live?", id="h1")]}, CFG)
    out = await app.ainvoke({"messages": [HumanMessage("What car do I drive?", id="h2")]}, CFG)
    assert len(memory_msgs(out["messages"])) == 1
    assert "Panda" in memory_msgs(model.seen[-1])[0].content
    ids = [s.id for s in seeded.steps(NS, session_id="t1")]
    assert ids[0] == "h1" and ids[-1] == "h2" and len(ids) == 3  # h1, the reply, h2


def test_constructor_validation(mem: PlugMem) -> None:
    with pytest.raises(TypeError):
        MemoryNode(cast(Any, "not a memory"))
    with pytest.raises(ValueError, match="recall=False"):
        MemoryNode(mem, recall=False)
    with pytest.raises(ValueError):
        MemoryNode(mem, output="")


def test_reason_puts_guidance_for_the_step_before_the_context(seeded: PlugMem, tmp_path: Path) -> None:
    model = ScriptedChatModel(responses=[AIMessage("No peanuts, promise.")])
    graph = chat_graph(memory_node(seeded, reason=True), model)
    graph.invoke({"messages": [HumanMessage("Cook something for me, mind my allergy")]}, CFG)
    [memo] = memory_msgs(model.seen[-1])
    content = str(memo.content)
    assert content.startswith("<memory-guidance>") and "<memory>" in content
    guidance = content.split("</memory-guidance>")[0]
    assert "peanuts" in guidance and "(sources: " in guidance  # extractive: no reason model here
    meta = memo.response_metadata["plugmem"]["guidance"]
    assert (
        meta["llm"] is False
        and meta["source_ids"]
        and set(meta["source_ids"]) <= set(m.id for m in seeded.steps(NS))
    )
    plain = ScriptedChatModel(responses=[AIMessage("ok")])
    chat_graph(memory_node(seeded), plain).invoke(
        {"messages": [HumanMessage("Cook something, mind my allergy")]}, CFG
    )
    assert "<memory-guidance>" not in str(memory_msgs(plain.seen[-1])[0].content)  # off by default
    with pytest.raises(ValueError, match="reason=True needs recall"):
        MemoryNode(seeded, recall=False, store_messages=True, reason=True)
