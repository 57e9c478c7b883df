"""search_memory / save_memory: schemas, namespaces from config, roles, ToolNode and agents."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from _node_fixtures import CFG, NS, ScriptedChatModel, open_memory, ranked_memory, seed
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from plugmem_langgraph.tools import NO_MEMORY, SaveMemoryInput, SearchMemoryInput, create_memory_tools

from plugmem import MemoryPolicy, PlugMem, PolicyError


@pytest.fixture
def mem(tmp_path: Path) -> Iterator[PlugMem]:
    yield from ranked_memory(tmp_path)


def tools_by_name(tools: list[BaseTool]) -> dict[str, BaseTool]:
    return {t.name: t for t in tools}


def test_names_descriptions_and_schemas(mem: PlugMem) -> None:
    tools = tools_by_name(create_memory_tools(mem))
    assert set(tools) == {"search_memory", "save_memory"}
    search, save = tools["search_memory"], tools["save_memory"]
    assert search.args_schema is SearchMemoryInput and save.args_schema is SaveMemoryInput
    assert "long-term memory" in search.description and "ids" in search.description
    assert "future conversations" in save.description
    s_args, v_args = search.tool_call_schema.model_json_schema(), save.tool_call_schema.model_json_schema()  # type: ignore[union-attr]
    assert s_args["required"] == ["query"] and set(s_args["properties"]) == {"query", "budget_tokens"}
    assert v_args["required"] == ["content"] and set(v_args["properties"]) == {"content", "kind", "note"}
    assert "config" not in s_args["properties"]  # injected, never shown to the model
    assert all(p.get("description") for p in v_args["properties"].values())


def test_save_then_search_round_trip(mem: PlugMem) -> None:
    search, save = create_memory_tools(mem)
    mid = save.invoke(
        {"content": "The user is allergic to peanuts.", "kind": "fact", "note": "said at dinner"}, CFG
    )
    assert isinstance(mid, str) and mid.startswith("mem-")
    [step] = mem.steps(NS)
    assert step.id == mid and step.role == "user" and step.session_id == "t1"
    assert step.content == "The user is allergic to peanuts."
    assert step.metadata == {
        "source": "save_memory",
        "kind": "fact",
        "agent": "default",
        "note": "said at dinner",
    }
    out = search.invoke({"query": "peanut allergy"}, CFG)
    assert "allergic to peanuts" in out and out.startswith("<memory>")
    assert out.rstrip().endswith(f"Source message ids: {mid}")


def test_search_context_lists_source_ids_and_honours_budget(mem: PlugMem) -> None:
    seed(mem)
    search = tools_by_name(create_memory_tools(mem))["search_memory"]
    for budget in (60, 120):
        out = search.invoke({"query": "Where does Ana live?", "budget_tokens": budget}, CFG)
        context, ids = out.rsplit("\nSource message ids: ", 1)
        assert mem.tokens.count(context) <= budget
        assert set(ids.split(", ")) <= {f"m{i}" for i in range(1, 7)}
    assert "Porto" in context and "m3" in ids.split(", ")


@pytest.mark.needs_model  # its assertions rely on semantic recall
def test_search_as_tool_call_returns_artifact(mem: PlugMem) -> None:
    seed(mem)
    search = tools_by_name(create_memory_tools(mem))["search_memory"]
    msg = search.invoke(
        {"type": "tool_call", "id": "c1", "name": "search_memory", "args": {"query": "car"}}, CFG
    )
    assert isinstance(msg, ToolMessage) and "Panda" in msg.content
    art = msg.artifact
    assert art["namespace"] == list(NS) and art["tier"] in ("fast", "deep") and "m5" in art["source_ids"]
    assert all({"id", "kind", "score", "source_ids"} <= set(i) for i in art["items"])


def test_empty_memory_says_so(mem: PlugMem) -> None:
    assert tools_by_name(create_memory_tools(mem))["search_memory"].invoke({"query": "x"}, CFG) == NO_MEMORY


def test_namespace_is_resolved_per_call_from_config(mem: PlugMem) -> None:
    _, save = create_memory_tools(mem)
    save.invoke({"content": "Prefers tea"}, {"configurable": {"user_id": "alice"}})
    save.invoke({"content": "Prefers coffee"}, {"configurable": {"user_id": "bob"}})
    assert [s.content for s in mem.steps(("memories", "alice"))] == ["Prefers tea"]
    assert [s.content for s in mem.steps(("memories", "bob"))] == ["Prefers coffee"]


def test_fixed_namespace_ignores_config(mem: PlugMem) -> None:
    search, save = create_memory_tools(mem, namespace=("team", "shared"))
    save.invoke({"content": "The deploy window is Tuesday."})  # no config needed at all
    assert [s.content for s in mem.steps(("team", "shared"))] == ["The deploy window is Tuesday."]
    assert "Tuesday" in search.invoke({"query": "deploy window"}, {"configurable": {"user_id": "other"}})


def test_agent_policy_template_and_missing_key(mem: PlugMem) -> None:
    pol = MemoryPolicy(name="writer", namespace=("writing", "{org}", "{user_id}"))
    search, save = create_memory_tools(mem, policy=pol)
    save.invoke({"content": "Use British spelling."}, {"configurable": {"org": "acme", "user_id": "u1"}})
    assert len(mem.steps(("writing", "acme", "u1"))) == 1
    with pytest.raises(PolicyError, match=r"writer.*needs 'org'"):
        search.invoke({"query": "spelling"}, CFG)


def test_save_role_must_be_stored_by_the_policies(mem: PlugMem) -> None:
    with pytest.raises(PolicyError, match=r"role 'user'.*'assistant_only' stores only \['assistant'\]"):
        create_memory_tools(mem, policy=MemoryPolicy(name="assistant_only", store_roles=("assistant",)))
    tools = create_memory_tools(mem, policy=MemoryPolicy(store_roles=("system",)), save_role="system")
    tools_by_name(tools)["save_memory"].invoke(
        {"content": "Always answer in French.", "kind": "instruction"}, CFG
    )
    [step] = mem.steps(NS)
    assert step.role == "system" and step.metadata["kind"] == "instruction"


def test_memory_policy_roles_are_checked_too(tmp_path: Path) -> None:
    m = open_memory(tmp_path / "m", store_roles=("assistant", "tool"))
    try:
        with pytest.raises(PolicyError, match="memory's policy"):
            create_memory_tools(m, policy=MemoryPolicy())
    finally:
        m.close()


def test_invalid_arguments_are_rejected_before_storing(mem: PlugMem) -> None:
    _, save = create_memory_tools(mem)
    with pytest.raises(ValueError):
        save.invoke({"content": "x", "kind": "gossip"}, CFG)
    with pytest.raises(ValueError):
        save.invoke({"content": ""}, CFG)
    assert mem.steps(NS) == []


async def test_async_tools(mem: PlugMem) -> None:
    search, save = create_memory_tools(mem)
    mid = await save.ainvoke({"content": "The user's cat is called Miso.", "kind": "fact"}, CFG)
    out = await search.ainvoke({"query": "cat name"}, CFG)
    assert "Miso" in out and mid in out


def _tool_graph(mem: PlugMem, calls: list[dict[str, object]]) -> StateGraph[MessagesState]:
    """model → tools → model: a scripted model issues `calls`, then answers."""
    model = ScriptedChatModel(responses=[AIMessage("", tool_calls=cast(Any, calls)), AIMessage("done")])
    g = StateGraph(MessagesState)
    g.add_node("model", lambda s: {"messages": [model.invoke(s["messages"])]})
    g.add_node("tools", ToolNode(create_memory_tools(mem)))
    g.add_edge(START, "model")
    g.add_conditional_edges("model", lambda s: "tools" if s["messages"][-1].tool_calls else END)
    g.add_edge("tools", "model")
    return g


def test_in_a_toolnode_the_graph_config_picks_the_namespace(mem: PlugMem) -> None:
    app = _tool_graph(
        mem,
        [
            {"name": "save_memory", "args": {"content": "Bob's favourite colour is green."}, "id": "c1"},
            {"name": "search_memory", "args": {"query": "favourite colour"}, "id": "c2"},
        ],
    ).compile()
    out = app.invoke({"messages": [HumanMessage("remember my colour")]}, {"configurable": {"user_id": "bob"}})
    results = {m.tool_call_id: m for m in out["messages"] if isinstance(m, ToolMessage)}
    saved_id = results["c1"].content
    assert [s.id for s in mem.steps(("memories", "bob"))] == [saved_id]
    assert results["c2"].status == "success"
    assert out["messages"][-1].content == "done"


async def test_in_a_toolnode_async(mem: PlugMem) -> None:
    app = _tool_graph(mem, [{"name": "save_memory", "args": {"content": "Likes jazz"}, "id": "c1"}]).compile()
    await app.ainvoke({"messages": [HumanMessage("hi")]}, {"configurable": {"user_id": "carol"}})
    assert [s.content for s in mem.steps(("memories", "carol"))] == ["Likes jazz"]
