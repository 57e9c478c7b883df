"""PlugMemRetriever: Documents with provenance, budgets, namespaces from config, LCEL chains."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from _node_fixtures import CFG, NS, ScriptedChatModel, open_memory, ranked_memory, seed, text_of
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda, RunnablePassthrough
from langgraph.graph import END, START, MessagesState, StateGraph
from plugmem_langgraph.retriever import PlugMemRetriever

from plugmem import MemoryPolicy, PlugMem, PolicyError

META_KEYS = {
    "id",
    "kind",
    "score",
    "timestamp",
    "source_ids",
    "session_id",
    "tier",
    "tokens",
    "reason",
    "namespace",
}


@pytest.fixture
def mem(tmp_path: Path) -> Iterator[PlugMem]:
    yield from ranked_memory(tmp_path)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlugMem]:
    """One seeded memory shared by the read-only tests (seeding and indexing take a moment)."""
    for m in ranked_memory(tmp_path_factory.mktemp("seeded")):
        yield seed(m)


def test_documents_carry_text_and_provenance(seeded: PlugMem) -> None:
    docs = PlugMemRetriever(memory=seeded, namespace=NS).invoke("What am I allergic to?")
    assert docs and all(isinstance(d, Document) for d in docs)
    assert any("peanuts" in d.page_content for d in docs)
    for d in docs:
        assert set(d.metadata) == META_KEYS
        assert d.metadata["tier"] in ("fast", "deep")
        assert d.metadata["reason"]
        assert d.metadata["namespace"] == list(NS)
        assert d.metadata["tokens"] > 0
        assert isinstance(d.metadata["source_ids"], list) and d.metadata["source_ids"]
        assert set(d.metadata["source_ids"]) <= {f"m{i}" for i in range(1, 7)}
        if d.metadata["timestamp"] is not None:  # ISO string (knowledge may have no time)
            datetime.fromisoformat(d.metadata["timestamp"])
    peanut = next(d for d in docs if "peanuts" in d.page_content and d.metadata["kind"] == "turn")
    assert peanut.metadata["source_ids"] == ["m1"] and peanut.metadata["session_id"] == "s0"


def test_budget_and_k_bound_the_documents(seeded: PlugMem) -> None:
    wide = PlugMemRetriever(memory=seeded, namespace=NS, budget_tokens=2000).invoke("sister Ana")
    narrow = PlugMemRetriever(memory=seeded, namespace=NS, budget_tokens=60).invoke("sister Ana")
    one = PlugMemRetriever(memory=seeded, namespace=NS, k=1).invoke("sister Ana")
    assert len(narrow) < len(wide)
    assert sum(d.metadata["tokens"] for d in narrow) <= 60
    assert len(one) == 1 and "Ana" in one[0].page_content


def test_mode_is_passed_to_recall(seeded: PlugMem) -> None:
    docs = PlugMemRetriever(memory=seeded, namespace=NS, mode="fast").invoke("Fiat")
    assert {d.metadata["tier"] for d in docs} == {"fast"}
    assert docs[0].metadata["reason"] == "fast tier requested"


def test_full_history_tier_through_policy(tmp_path: Path) -> None:
    with open_memory(tmp_path / "m") as mem:
        seed(mem)
        docs = PlugMemRetriever(memory=mem, namespace=NS, policy=MemoryPolicy()).invoke("anything at all")
    assert len(docs) == 6 and {d.metadata["tier"] for d in docs} == {"full"}
    assert "fits" in docs[0].metadata["reason"]


def test_namespace_from_config_and_isolation(mem: PlugMem) -> None:
    seed(mem)
    mem.add([{"role": "user", "content": "I am allergic to cats", "id": "x1"}], namespace=("memories", "u2"))
    r = PlugMemRetriever(memory=mem)  # policy template ("memories", "{user_id}")
    u1 = r.invoke("allergic", config=CFG)
    u2 = r.invoke("allergic", config={"configurable": {"user_id": "u2"}})
    assert any("peanuts" in d.page_content for d in u1) and not any("cats" in d.page_content for d in u1)
    assert u2 and all(d.metadata["source_ids"] == ["x1"] for d in u2)
    assert u2[0].metadata["namespace"] == ["memories", "u2"]


def test_missing_config_key_is_a_clear_error(mem: PlugMem) -> None:
    r = PlugMemRetriever(memory=mem, policy=MemoryPolicy(name="researcher", namespace=("r", "{user_id}")))
    with pytest.raises(PolicyError, match=r"researcher.*user_id.*got keys \['thread_id'\]"):
        r.invoke("x", config={"configurable": {"thread_id": "t"}})


def test_empty_memory_returns_no_documents(mem: PlugMem) -> None:
    assert PlugMemRetriever(memory=mem, namespace=("empty", "ns")).invoke("anything") == []


async def test_async_matches_sync(seeded: PlugMem) -> None:
    r = PlugMemRetriever(memory=seeded, namespace=NS, mode="fast")
    sync = r.invoke("Where does my sister live?")
    asy = await r.ainvoke("Where does my sister live?")
    assert [d.page_content for d in asy] == [d.page_content for d in sync]
    via_config = await PlugMemRetriever(memory=seeded, mode="fast").ainvoke("sister", config=CFG)
    assert any("Ana" in d.page_content for d in via_config)


def _format(docs: list[Document]) -> str:
    return "\n".join(f"- {d.page_content} (from {', '.join(d.metadata['source_ids'])})" for d in docs)


@pytest.mark.needs_model  # its assertions rely on semantic recall
def test_in_an_lcel_chain(seeded: PlugMem) -> None:
    model = ScriptedChatModel(responses=[AIMessage("Avoid peanuts.")])
    prompt = ChatPromptTemplate.from_messages([("system", "Memory:\n{context}"), ("human", "{question}")])
    retriever = PlugMemRetriever(memory=seeded, namespace=NS, budget_tokens=200)
    chain = (
        {"context": retriever | _format, "question": RunnablePassthrough()}
        | prompt
        | model
        | StrOutputParser()
    )
    assert chain.invoke("Any food allergies?") == "Avoid peanuts."
    shown = text_of(model.seen[0])
    assert "peanuts" in shown and "m1" in shown and "Any food allergies?" in shown


async def test_lcel_chain_async_reads_namespace_from_config(seeded: PlugMem) -> None:
    model = ScriptedChatModel(responses=[AIMessage("Porto.")])
    prompt = ChatPromptTemplate.from_messages([("system", "{context}"), ("human", "{question}")])
    retriever = PlugMemRetriever(memory=seeded)  # namespace from the chain's config
    chain = {"context": retriever | _format, "question": RunnablePassthrough()} | prompt | model
    out = await chain.ainvoke("Where does Ana live?", config=CFG)
    assert out.content == "Porto."
    assert "Porto" in text_of(model.seen[0])


def test_inside_a_graph_node_uses_the_run_config(seeded: PlugMem) -> None:
    retriever = PlugMemRetriever(memory=seeded, k=2)

    def node(state: MessagesState) -> dict[str, list[AIMessage]]:
        docs = retriever.invoke(str(state["messages"][-1].content))  # config comes from the graph run
        return {"messages": [AIMessage(" | ".join(d.page_content for d in docs))]}

    g = StateGraph(MessagesState)
    g.add_node("answer", node)
    g.add_edge(START, "answer")
    g.add_edge("answer", END)
    out = g.compile().invoke({"messages": [HumanMessage("What car do I drive?")]}, CFG)
    assert "Panda" in out["messages"][-1].content


def test_retriever_as_runnable_lambda_step(seeded: PlugMem) -> None:
    counted = (PlugMemRetriever(memory=seeded, namespace=NS, k=3) | RunnableLambda(len)).invoke("Ana")
    assert counted == 3
