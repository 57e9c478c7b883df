"""Extractive summaries, the session → day → week tree, and event graph edges."""

from __future__ import annotations

from datetime import timedelta

from test_ingest_helpers import T0, chat

from plugmem.ingest.relations import event_edges, tree_edges
from plugmem.ingest.segment import segment
from plugmem.ingest.summarize import rollup, summarize_steps, week_key
from plugmem.model import Event
from plugmem.text import sentences


def test_sentences_respect_abbreviations() -> None:
    assert sentences("Dr. Smith came. He left! Did he?") == ["Dr. Smith came.", "He left!", "Did he?"]


def test_extractive_summary_keeps_speakers_and_skips_chitchat() -> None:
    steps = chat(
        [
            ("Caroline", "Hey Mel! Good to see you!"),
            ("Melanie", "Hi! Thanks!"),
            ("Caroline", "I went to a LGBTQ support group yesterday and it was so powerful."),
            ("Melanie", "That support group sounds powerful. What happened at the group?"),
            ("Caroline", "The transgender stories at the support group were inspiring."),
        ]
    )
    s = summarize_steps(steps, max_chars=200)
    assert "Caroline: I went to a LGBTQ support group" in s.text
    assert "Good to see you" not in s.text
    assert len(s.text) <= 200
    assert s.step_ids and set(s.step_ids) <= {x.id for x in steps}


def test_summary_with_vectors() -> None:
    steps = chat(
        [("A", "I bake sourdough bread."), ("B", "Bread baking is fun."), ("A", "Sourdough needs a starter.")]
    )
    vecs = [[1.0, 0.0], [0.9, 0.1], [0.95, 0.05]]
    s = summarize_steps(steps, vecs, max_sentences=1)
    assert s.text.count(":") == 1 and len(s.step_ids) == 1


def _events() -> list[Event]:
    day1 = chat([("Ana", "I adopted a cat named Miso."), ("Ben", "Miso is a cute name.")], session="s1")
    day1b = chat(
        [("Ana", "Miso broke a vase."), ("Ben", "Oh no, Miso!")],
        session="s2",
        prefix="b",
        start=T0 + timedelta(hours=3),
    )
    day2 = chat(
        [("Ana", "I took Miso to the vet in Boston."), ("Ben", "Is Miso fine?")],
        session="s3",
        prefix="c",
        start=T0 + timedelta(days=1),
    )
    return segment([*day1, *day1b, *day2], None)


def test_rollup_builds_the_temporal_tree() -> None:
    events = _events()
    tree = rollup(events, [])
    levels = {(s.level, s.key) for s in tree}
    assert levels == {
        ("session", "s1"),
        ("session", "s2"),
        ("session", "s3"),
        ("day", "2023-05-08"),
        ("day", "2023-05-09"),
        ("week", "2023-W19"),
    }
    day = next(s for s in tree if s.key == "2023-05-08")
    # a day holds the events that started on it, from whichever session
    assert day.child_ids == [e.id for e in events if e.start.date().isoformat() == "2023-05-08"]
    assert set(day.source_ids) == {"m1", "m2", "b1", "b2"}
    week = next(s for s in tree if s.level == "week")
    assert set(week.source_ids) == {s for e in events for s in e.step_ids}
    assert "Miso" in week.text
    assert week_key(T0) == "2023-W19"


def test_rollup_updates_in_place_and_is_idempotent() -> None:
    events = _events()
    tree = rollup(events[:1], [])
    again = rollup(events[:1], tree)
    assert [(s.id, s.text, s.child_ids) for s in again] == [(s.id, s.text, s.child_ids) for s in tree]
    grown = rollup(events[1:], tree)
    day = next(s for s in grown if s.key == "2023-05-08")
    assert len(day.child_ids) == 2 and set(day.source_ids) == {"m1", "m2", "b1", "b2"}
    assert next(s for s in grown if s.level == "week").id == next(s for s in tree if s.level == "week").id


def test_event_edges_next_shared_entity_and_llm_labels() -> None:
    from plugmem.model import Edge

    events = _events()
    edges = event_edges(
        events[1:], events[:1], llm_edges=[Edge(events[2].id, events[1].id, "relates", "cause")]
    )
    nexts = [(e.src, e.dst) for e in edges if e.kind == "next"]
    assert nexts == [(events[0].id, events[1].id), (events[1].id, events[2].id)]
    shared = [e for e in edges if e.label == "shared_entity"]
    assert shared and all(e.src in {ev.id for ev in events[1:]} for e in shared)
    assert any(e.label == "cause" for e in edges)
    bogus = event_edges(events, [], llm_edges=[Edge("nope", events[0].id, "relates", "cause")])
    assert not any(e.label == "cause" for e in bogus)


def test_shared_entity_fanout_is_bounded() -> None:
    many = []
    for i in range(12):
        pet = "Miso" if i < 6 else "Luna"
        many += chat(
            [("Ana", f"I fed {pet} in the morning of round {i}."), ("Ben", f"Good, {pet} was hungry.")],
            session=f"s{i}",
            prefix=f"x{i}-",
            start=T0 + timedelta(days=i),
        )
    events = segment(many, None)
    edges = event_edges(events, [], max_fanout=3)
    per_src: dict[str, int] = {}
    for e in edges:
        if e.label == "shared_entity":
            per_src[e.src] = per_src.get(e.src, 0) + 1
    assert per_src and max(per_src.values()) == 3
    assert events[0].id not in per_src  # nothing earlier to relate to


def test_tree_edges_are_part_of() -> None:
    tree = rollup(_events(), [])
    edges = tree_edges(tree)
    assert edges and all(e.kind == "part_of" for e in edges)
