"""Facts that change, in any phrasing: the slot vocabulary and supersession through real extraction."""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_ingest_helpers import T0, chat

from plugmem.ingest.consolidate import consolidate
from plugmem.ingest.extract import RuleExtractor
from plugmem.ingest.segment import segment
from plugmem.ingest.slots import RELATIONS, Slot, slots_in
from plugmem.model import Knowledge


def _knowledge(text: str, *, day: int, prefix: str) -> list[Knowledge]:
    steps = chat([("Sam", text), ("Ana", "Oh, good to know.")], prefix=prefix, start=T0 + timedelta(days=day))
    return RuleExtractor().extract(segment(steps, None), {s.id: s for s in steps}).knowledge


def _supersede(before: str, after: str) -> tuple[list[Knowledge], list[Knowledge]]:
    """Extract both statements as Sam said them 100 days apart; return (closed, added)."""
    old = consolidate(_knowledge(before, day=0, prefix="a"), []).to_add
    out = consolidate(_knowledge(after, day=100, prefix="b"), old)
    return out.to_close, out.to_add


CHANGES = {
    "residence": [
        ("I live in Boston, near the harbour.", "Big news: I moved to Denver last month."),
        ("We bought a house in Leeds in the spring.", "We sold up and moved to Bristol."),
        ("I'm based in Paris these days.", "I relocated to Berlin for the new job."),
    ],
    "employer": [
        ("I work at Acme as a backend developer.", "I quit Acme, I joined Globex as a data analyst."),
        ("I'm a data analyst at Globex.", "I left Globex, I'm an ML engineer at Northwind now."),
        ("I work for Initech on their billing system.", "I started a new job at Hooli last week."),
    ],
    "diet": [
        ("I'm vegetarian, so keep restaurant tips meat-free.", "I started eating fish again, mostly salmon."),
        ("I'm vegan since college.", "I'm not vegan anymore, I eat everything now."),
        ("I became pescatarian last year.", "I went back to eating meat over the holidays."),
    ],
    "favorite": [
        ("My favourite band is Radiohead.", "These days my favourite band is Wet Leg."),
        ("My favorite food is sushi.", "My favorite food is now ramen."),
        ("My favourite colour is teal.", "My favourite colour is orange these days."),
    ],
}


@pytest.mark.parametrize(
    ("relation", "before", "after"),
    [(rel, b, a) for rel, pairs in CHANGES.items() for b, a in pairs],
)
def test_a_changed_fact_closes_the_old_one_in_any_phrasing(relation: str, before: str, after: str) -> None:
    closed, added = _supersede(before, after)
    assert closed, f"{before!r} → {after!r} closed nothing"
    [old] = closed
    assert any(rel.startswith(relation) for rel in old.slots), old.slots
    assert old.valid_until == T0 + timedelta(days=100)
    assert old.superseded_by in {k.id for k in added}


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("I work at Acme as a designer.", "I no longer work at Acme."),
        ("I'm vegetarian.", "I'm not vegetarian anymore."),
        ("I'm married to Tom.", "Tom and I broke up in March."),
        ("I have a dog named Rex.", "Sadly our dog died last week."),
    ],
)
def test_negations_close_a_fact_without_a_replacement(before: str, after: str) -> None:
    closed, added = _supersede(before, after)
    [old] = closed
    ender = next(k for k in added if k.id == old.superseded_by)
    assert ender.ends and not set(ender.slots) & set(old.slots)


@pytest.mark.parametrize(
    "unrelated",
    ["We visited friends in Leeds.", "I love Denver's coffee shops.", "My sister works at Globex."],
)
def test_unrelated_statements_close_nothing(unrelated: str) -> None:
    closed, _ = _supersede("I live in Boston.", unrelated)
    assert closed == []


def test_the_same_value_again_closes_nothing() -> None:
    closed, _ = _supersede("I live in Denver.", "I'm still living in Denver, love it.")
    assert closed == []


def test_vocabulary_reads_the_common_phrasings() -> None:
    assert slots_in("sold up and moved to Bristol") == [Slot("residence", "bristol")]
    assert slots_in("am a data analyst at Globex") == [
        Slot("role", "data analyst"),
        Slot("employer", "globex"),
    ]
    assert slots_in("left Globex") == [Slot("employer", "globex", ends=True)]
    assert slots_in("started eating fish again") == [Slot("diet", "eats fish")]
    assert slots_in("can't stand sushi anymore") == [Slot("opinion:sushi", "dislike")]
    assert slots_in("moved my Portuguese lessons to Wednesdays") == [
        Slot("schedule:portuguese lesson", "wednesdays")
    ]
    assert slots_in("favourite band is Wet Leg", possessive=True) == [Slot("favorite:band", "wet leg")]
    assert slots_in("email is sam@example.com", possessive=True) == [Slot("contact:email", "sam@example.com")]
    # names keep things out: a place needs a capitalised name, an anaphor is no value
    assert slots_in("moved to tears by the film") == []
    assert slots_in("love you so much") == []
    assert slots_in("visited my parents who live in Ohio") == []


def test_every_relation_the_rules_emit_is_in_the_shared_vocabulary() -> None:
    phrases = [p for pairs in CHANGES.values() for pair in pairs for p in pair]
    for text in phrases:
        for k in _knowledge(text, day=0, prefix="x"):
            for rel in [*k.slots, *k.ends]:
                assert rel.split(":")[0] in RELATIONS, (text, rel)
