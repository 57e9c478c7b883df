"""Consolidation: changed facts supersede (closed, never deleted); duplicates merge with provenance."""

from __future__ import annotations

from datetime import timedelta

from test_ingest_helpers import T0, chat

from plugmem.ingest.consolidate import consolidate
from plugmem.ingest.extract import RuleExtractor, knowledge_id
from plugmem.ingest.segment import segment
from plugmem.ingest.slots import predicate_slot
from plugmem.model import Knowledge


def fact(sid: str, statement: str, s: str, p: str, o: str, *, day: int) -> Knowledge:
    return Knowledge(
        id=knowledge_id("ns", "proposition", statement, [sid]),
        namespace="ns",
        kind="proposition",
        statement=statement,
        source_ids=[sid],
        subject=s,
        predicate=p,
        object=o,
        valid_from=T0 + timedelta(days=day),
    )


def _rel(predicate: str, obj: str) -> str | None:
    slot = predicate_slot(predicate, obj)
    return slot.relation if slot is not None else None


def test_predicate_slots_for_facts_without_slots() -> None:
    assert _rel("lives in", "Boston") == _rel("moved to", "Denver") == "residence"
    assert _rel("works at", "Acme") == _rel("started working at", "Initech") == "employer"
    assert _rel("favorite color is", "teal") == "favorite:color"
    assert _rel("has", "3 kids") == _rel("has", "two kids") == "count:kid"
    assert _rel("is married to", "Lee") == "partner"
    assert _rel("went to", "a support group") is None
    assert _rel("loves", "painting") is None
    slot = predicate_slot("moved to", "Denver for a job at Acme")
    assert slot is not None and slot.value == "denver"


def test_changed_fact_closes_the_old_one_which_stays() -> None:
    old = fact("m1", "Sam lives in Boston", "Sam", "lives in", "Boston", day=0)
    new = fact("m9", "Sam moved to Denver", "Sam", "moved to", "Denver", day=30)
    out = consolidate([new], [old])
    assert [k.id for k in out.to_add] == [new.id]
    [closed] = out.to_close
    assert closed.id == old.id and closed.statement == old.statement
    assert closed.valid_until == new.valid_from
    assert closed.superseded_by == new.id
    assert old.valid_until is None  # inputs untouched
    assert [(e.src, e.dst, e.kind) for e in out.edges] == [(new.id, old.id, "supersedes")]


def test_non_functional_facts_accumulate() -> None:
    a = fact("m1", "Sam loves hiking", "Sam", "loves", "hiking", day=0)
    b = fact("m2", "Sam loves painting", "Sam", "loves", "painting", day=1)
    out = consolidate([b], [a])
    assert out.to_close == [] and [k.id for k in out.to_add] == [b.id]


def test_out_of_order_fact_arrives_closed() -> None:
    newer = fact("m9", "Sam works at Initech", "Sam", "works at", "Initech", day=30)
    older = fact("m1", "Sam works at Acme", "Sam", "works at", "Acme", day=0)
    out = consolidate([older], [newer])
    [added] = out.to_add
    assert added.id == older.id and added.valid_until == newer.valid_from and added.superseded_by == newer.id
    assert out.to_close == []


def test_chain_within_one_batch() -> None:
    a = fact("m1", "Sam has 1 kid", "Sam", "has", "1 kid", day=0)
    b = fact("m2", "Sam has 2 kids", "Sam", "has", "2 kids", day=100)
    c = fact("m3", "Sam has 3 kids", "Sam", "has", "3 kids", day=400)
    out = consolidate([c, a, b], [])
    by_id = {k.id: k for k in out.to_add}
    assert by_id[a.id].superseded_by == b.id and by_id[b.id].superseded_by == c.id
    assert by_id[c.id].valid_until is None
    assert len(out.edges) == 2


def test_duplicates_merge_with_union_of_sources() -> None:
    old = fact("m1", "Sam's favorite color is teal", "Sam", "favorite color is", "teal", day=0)
    same_spo = fact("m7", "Sam's favourite colour: teal", "Sam", "favorite color is", "teal", day=5)
    same_text = fact("m8", "sam's favorite color is teal!", "Sam", "favorite color is", "Teal", day=6)
    out = consolidate([same_spo, same_text], [old])
    assert out.to_add == [] and out.to_close == []
    [merged] = out.merged
    assert merged.id == old.id
    assert merged.source_ids == ["m1", "m7", "m8"]
    assert out.merged_ids == {same_spo.id: old.id, same_text.id: old.id}


def test_reconsolidation_is_idempotent() -> None:
    old = fact("m1", "Sam lives in Boston", "Sam", "lives in", "Boston", day=0)
    out = consolidate([old], [old])
    assert out.to_add == [] and out.to_close == [] and out.merged == []


def test_supersession_end_to_end_from_conversation() -> None:
    first = chat([("Sam", "I live in Boston with my partner."), ("Ana", "Boston is lovely.")], session="s1")
    later = chat(
        [("Sam", "Big news: I moved to Denver last month!"), ("Ana", "Denver, wow!")],
        session="s2",
        prefix="n",
        start=T0 + timedelta(days=60),
    )
    ex = RuleExtractor()
    k1 = ex.extract(segment(first, None), {s.id: s for s in first}).knowledge
    k2 = ex.extract(segment(later, None), {s.id: s for s in later}).knowledge
    out = consolidate(k2, consolidate(k1, []).to_add)
    [closed] = out.to_close
    assert closed.statement.startswith("Sam lives in Boston")
    assert closed.valid_until == later[0].timestamp
    assert closed.superseded_by in {k.id for k in out.to_add}
