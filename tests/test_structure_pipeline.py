"""The background pipeline builds the knowledge and event graphs through the facade."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from _support import T0, conv
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from plugmem import MemoryPolicy, PlugMem

pytestmark = pytest.mark.backends
NS = ("people", "caroline")


def _caroline(mem: PlugMem) -> None:
    msgs = conv(
        "I went to a LGBTQ support group yesterday and it was so powerful.",
        "That's amazing, Caroline! What happened there?",
        "I live in Boston now, near my friend Melanie.",
        "Boston is lovely.",
    )
    for m in msgs:
        m["name"] = "Caroline" if m["role"] == "user" else "Melanie"
    mem.add(msgs, namespace=NS, session_id="s1")


def test_graph_is_built_with_provenance_and_resolved_dates(mem: PlugMem) -> None:
    _caroline(mem)
    mem.flush()
    st = mem.stats(NS)
    assert st.events >= 1 and st.propositions >= 2 and st.entities >= 1 and st.summaries >= 1
    ns = mem.store.namespaces()[0]
    step_ids = {s.id for s in mem.steps(NS)}
    facts = mem.store.knowledge(ns)
    assert all(set(k.source_ids) <= step_ids and k.source_ids for k in facts)
    group = [k for k in facts if "support group" in k.statement]
    assert group and group[0].event_time is not None
    assert group[0].event_time.date() == (T0 - timedelta(days=1)).date()  # "yesterday" → 7 May 2023
    # the graph links knowledge to its steps and to entities
    g = mem.engine.graph(mem.catalog(ns))
    assert any(d.get("kind") == "entity" for _, d in g.nodes(data=True))
    assert any(g.has_edge("k:" + k.id, "t:" + k.source_ids[0]) for k in group)


def test_changed_fact_supersedes_the_old_one_which_stays_in_history(mem: PlugMem) -> None:
    _caroline(mem)
    later = conv(
        "I live in Seattle now, I moved for work.", "Seattle, wow!", start=T0 + timedelta(days=60), prefix="x"
    )
    for m in later:
        m["name"] = "Caroline" if m["role"] == "user" else "Melanie"
    mem.add(later, namespace=NS, session_id="s2")
    mem.flush()
    ns = mem.store.namespaces()[0]
    lives = [k for k in mem.store.knowledge(ns) if k.predicate and "live" in k.predicate]
    old = [k for k in lives if "Boston" in (k.object or k.statement)]
    new = [k for k in lives if "Seattle" in (k.object or k.statement)]
    assert old and new
    assert old[0].valid_until is not None and old[0].superseded_by == new[0].id  # closed, not deleted
    assert new[0].valid_until is None
    # both stay searchable (history questions need the old one), the old one knows what replaced it
    cat = mem.catalog(ns)
    stale = cat.docs["k:" + old[0].id]
    assert stale.valid_until is not None and stale.superseded_by == "k:" + new[0].id
    assert cat.docs["k:" + new[0].id].valid_until is None


def _extraction_json(step_id: str) -> str:
    return json.dumps(
        {
            "propositions": [
                {
                    "statement": "Caroline lives in Boston",
                    "subject": "Caroline",
                    "predicate": "lives in",
                    "object": "Boston",
                    "confidence": 0.9,
                    "source_ids": [step_id],
                }
            ],
            "entities": [{"name": "Caroline", "kind": "person"}, {"name": "Boston", "kind": "place"}],
        }
    )


def test_llm_extraction_is_accounted_per_batch(memory_at: Callable[[str], str]) -> None:
    llm = FakeListChatModel(responses=[_extraction_json("m3")] * 5)
    with PlugMem.open(memory_at("m"), policy=MemoryPolicy(full_history_when_fits=False), llm=llm) as mem:
        _caroline(mem)
        mem.flush()
        st = mem.stats()
        assert st.llm_calls.get("extract") == 1  # one call for the whole event batch
        assert st.llm_tokens.get("extract", 0) > 0
        ns = mem.store.namespaces()[0]
        assert any(
            k.statement == "Caroline lives in Boston" and k.source_ids == ["m3"]
            for k in mem.store.knowledge(ns)
        )


def test_llm_extraction_failure_is_recorded_and_turns_stay_recallable(
    memory_at: Callable[[str], str],
) -> None:
    llm = FakeListChatModel(responses=["not json at all"] * 10)
    with PlugMem.open(memory_at("m"), policy=MemoryPolicy(full_history_when_fits=False), llm=llm) as mem:
        _caroline(mem)
        mem.flush()
        st = mem.stats()
        assert st.failures >= 1 and st.pending == 0
        assert any(f["stage"].startswith("extract") for f in mem.store.failures())
        assert "m3" in mem.recall("Where does Caroline live?", namespace=NS).source_ids


def test_entities_kept_between_batches_follow_a_forget(mem: PlugMem) -> None:
    """Ingest keeps a namespace's entities between batches; a forget in between must not leave them stale.

    Ana is forgotten with her message, then named again: she must be stored again, which a kept
    copy that still held her would skip as "already known".
    """
    ns = NS
    mem.add(conv("My sister Ana has a beagle called Biscuit.", "Cute."), namespace=ns, session_id="s1")
    mem.flush()
    key = mem.store.namespaces()[0]
    assert any(e.name == "Ana" for e in mem.store.entities(key))
    mem.forget(namespace=ns, ids=["m1", "m2"])
    assert not any(e.name == "Ana" for e in mem.store.entities(key))
    later = conv(
        "My sister Ana called me from Porto today.", "Lovely.", start=T0 + timedelta(days=1), prefix="n"
    )
    mem.add(later, namespace=ns, session_id="s2")
    mem.flush()
    assert any(e.name == "Ana" for e in mem.store.entities(key))
