"""PlugMemStore in the places LangGraph users put a store: compiled graphs, the prebuilt
ReAct agent, and LangMem's memory tools. Each runs unchanged on InMemoryStore too."""

from __future__ import annotations

import json
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

import pytest
from _store_fixtures import HashEmbeddings, ScriptedChatModel, StoreKind
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.config import get_store
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.store.base import BaseStore, IndexConfig
from langmem import create_manage_memory_tool, create_search_memory_tool
from plugmem_langgraph.store import PlugMemStore

USER = {"configurable": {"langgraph_user_id": "u1"}}


@pytest.fixture(params=["inmemory", "plugmem"])
def kind(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreKind]:
    k = StoreKind(request.param, "hash", tmp_path)
    yield k
    k.close_all()


class FactState(TypedDict, total=False):
    user: str
    fact: str
    question: str
    recalled: list[str]


def remember(state: FactState, *, store: BaseStore) -> FactState:
    """A node that gets the store by signature injection."""
    ns = ("facts", state["user"])
    store.put(ns, str(len(store.search(ns, limit=1000))), {"text": state["fact"]})
    return {}


def recall(state: FactState, runtime: Runtime[Any]) -> FactState:
    """A node that reads the store from the runtime, and one more time via get_store()."""
    assert runtime.store is get_store()
    assert runtime.store is not None
    found = runtime.store.search(("facts", state["user"]), query=state["question"], limit=2)
    return {"recalled": [item.value["text"] for item in found]}


async def aremember(state: FactState, *, store: BaseStore) -> FactState:
    ns = ("facts", state["user"])
    await store.aput(ns, str(len(await store.asearch(ns, limit=1000))), {"text": state["fact"]})
    return {}


async def arecall(state: FactState) -> FactState:
    found = await get_store().asearch(("facts", state["user"]), query=state["question"], limit=2)
    return {"recalled": [item.value["text"] for item in found]}


def build(store: BaseStore, *, asynchronous: bool = False) -> Any:
    graph = StateGraph(FactState)
    graph.add_node("remember", aremember if asynchronous else remember)
    graph.add_node("recall", arecall if asynchronous else recall)
    graph.add_edge(START, "remember")
    graph.add_edge("remember", "recall")
    graph.add_edge("recall", END)
    return graph.compile(store=store)


def test_a_compiled_graph_uses_the_store(kind: StoreKind) -> None:
    app = build(kind.open())
    app.invoke({"user": "u1", "fact": "I love pizza with melted cheese", "question": "pizza"})
    out = app.invoke(
        {"user": "u1", "fact": "Sunny weather makes me happy", "question": "weather forecast sunny"}
    )
    assert out["recalled"][0] == "Sunny weather makes me happy"
    out = app.invoke({"user": "u2", "fact": "I write Python code", "question": "pizza cheese"})
    assert out["recalled"] == ["I write Python code"]  # u1's facts stay in u1's namespace


async def test_a_compiled_graph_uses_the_store_asynchronously(kind: StoreKind) -> None:
    app = build(kind.open(), asynchronous=True)
    await app.ainvoke({"user": "u1", "fact": "I love pizza with melted cheese", "question": "x"})
    out = await app.ainvoke({"user": "u1", "fact": "Sunny weather today", "question": "melted cheese pizza"})
    assert out["recalled"][0] == "I love pizza with melted cheese"


def test_graph_memories_outlive_the_process_state(tmp_path: Path) -> None:
    index: IndexConfig = {"dims": 64, "embed": HashEmbeddings(64), "fields": ["text"]}
    with PlugMemStore(tmp_path / "g.sqlite", index=index) as first:
        build(first).invoke({"user": "u1", "fact": "My cat is called Miso", "question": "cat"})
    with PlugMemStore(tmp_path / "g.sqlite", index=index) as second:
        out = build(second).invoke({"user": "u1", "fact": "I like tea", "question": "what is my cat called"})
    assert out["recalled"][0] == "My cat is called Miso"


def tool_call(name: str, args: dict[str, Any]) -> AIMessage:
    return AIMessage("", tool_calls=[{"name": name, "args": args, "id": f"call-{uuid.uuid4().hex[:8]}"}])


def make_agent(model: ScriptedChatModel, store: BaseStore) -> Any:
    from langgraph.prebuilt import create_react_agent

    tools = [
        create_manage_memory_tool(namespace=("memories", "{langgraph_user_id}")),
        create_search_memory_tool(namespace=("memories", "{langgraph_user_id}")),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # moved to langchain.agents in 1.0
        return create_react_agent(model, tools, store=store)


def test_the_prebuilt_react_agent_with_langmem_tools(kind: StoreKind) -> None:
    store = kind.open(fields=["content"])
    model = ScriptedChatModel(
        responses=[
            tool_call(
                "manage_memory", {"content": "User loves pizza with melted cheese", "action": "create"}
            ),
            AIMessage("Noted."),
            tool_call("manage_memory", {"content": "User prefers sunny weather", "action": "create"}),
            AIMessage("Noted too."),
            tool_call("search_memory", {"query": "pizza cheese"}),
            AIMessage("You love pizza."),
        ]
    )
    agent = make_agent(model, store)
    agent.invoke({"messages": [HumanMessage("Remember: I love pizza with cheese")]}, USER)
    agent.invoke({"messages": [HumanMessage("Also: I like sunny weather")]}, USER)
    saved = store.search(("memories", "u1"))
    assert sorted(i.value["content"] for i in saved) == [
        "User loves pizza with melted cheese",
        "User prefers sunny weather",
    ]

    out = agent.invoke({"messages": [HumanMessage("What food do I like?")]}, USER)
    tool_messages = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert len(tool_messages) == 1
    results = json.loads(str(tool_messages[0].content))
    assert results[0]["value"]["content"] == "User loves pizza with melted cheese"
    assert results[0]["score"] is not None and results[0]["namespace"] == ["memories", "u1"]
    assert out["messages"][-1].content == "You love pizza."
    # the model saw the search result before it answered
    assert any(isinstance(m, ToolMessage) for m in model.seen[-1])


def test_langmem_tools_invoked_directly(kind: StoreKind) -> None:
    store = kind.open(fields=["content"])
    manage = create_manage_memory_tool(namespace=("memories", "{langgraph_user_id}"), store=store)
    search = create_search_memory_tool(namespace=("memories", "{langgraph_user_id}"), store=store)
    cfg = {"configurable": {"langgraph_user_id": "u7"}}

    manage.invoke({"content": "Meeting with Ana on Friday", "action": "create"}, cfg)
    (item,) = store.search(("memories", "u7"))
    manage.invoke({"content": "Meeting with Ana moved to Monday", "action": "update", "id": item.key}, cfg)
    updated = store.get(("memories", "u7"), item.key)
    assert updated is not None and updated.value == {"content": "Meeting with Ana moved to Monday"}

    found = json.loads(search.invoke({"query": "when is the meeting with Ana"}, cfg))
    assert [f["key"] for f in found] == [item.key]
    assert json.loads(search.invoke({"query": "Ana", "filter": {"content": "nope"}}, cfg)) == []

    manage.invoke({"action": "delete", "id": item.key}, cfg)
    assert store.search(("memories", "u7")) == []


async def test_langmem_tools_invoked_directly_async(kind: StoreKind) -> None:
    store = kind.open(fields=["content"])
    manage = create_manage_memory_tool(namespace=("memories", "{langgraph_user_id}"), store=store)
    search = create_search_memory_tool(namespace=("memories", "{langgraph_user_id}"), store=store)
    cfg = {"configurable": {"langgraph_user_id": "u8"}}
    await manage.ainvoke({"content": "Allergic to peanuts", "action": "create"}, cfg)
    await manage.ainvoke({"content": "Enjoys hiking in the mountains", "action": "create"}, cfg)
    found = json.loads(await search.ainvoke({"query": "peanuts allergy", "limit": 1}, cfg))
    assert [f["value"]["content"] for f in found] == ["Allergic to peanuts"]
