"""Rule extraction: first person resolved to the speaker, dates resolved, provenance exact."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from _support import data_dir
from test_ingest_helpers import T0, agent_trajectory, chat

from plugmem.dates import parse_datetime
from plugmem.ingest.extract import Extractor, RuleExtractor, knowledge_id, resolve_pronouns
from plugmem.ingest.segment import segment
from plugmem.model import Extraction, Knowledge, Step

DATA = data_dir() / "locomo_dev.json"  # $PLUGMEM_DATA_DIR (see the root conftest)


def _extract(steps: list[Step]) -> Extraction:
    extractor: Extractor = RuleExtractor()
    return extractor.extract(segment(steps, None), {s.id: s for s in steps})


def _by_source(x: Extraction, sid: str) -> list[Knowledge]:
    return [k for k in x.knowledge if k.source_ids == [sid]]


def test_first_person_statement_resolved_to_speaker_and_date() -> None:
    steps = chat(
        [
            ("Caroline", "Hey Mel! Good to see you! How have you been?"),
            ("Melanie", "Hey Caroline! I'm swamped with the kids & work. What's up with you?"),
            ("Caroline", "I went to a LGBTQ support group yesterday and it was so powerful."),
        ]
    )
    x = _extract(steps)
    [k] = _by_source(x, "m3")
    assert k.statement == "Caroline went to a LGBTQ support group yesterday (7 May 2023)"
    assert (k.subject, k.predicate, k.object) == ("Caroline", "went to", "a LGBTQ support group")
    assert k.event_time is not None and k.event_time.date() == datetime(2023, 5, 7).date()
    assert k.valid_from == steps[2].timestamp
    assert k.kind == "proposition" and 0 < k.confidence <= 1
    assert "Caroline" in k.entities
    assert _by_source(x, "m1") == []  # greeting + question only


def test_possessive_and_questions() -> None:
    steps = chat(
        [
            ("Caroline", "My favorite color is teal, and my dog loves the beach."),
            ("Melanie", "What breed is your dog?"),
        ]
    )
    x = _extract(steps)
    statements = {k.statement for k in x.knowledge}
    assert "Caroline's favorite color is teal" in statements
    fav = next(k for k in x.knowledge if k.statement == "Caroline's favorite color is teal")
    assert (fav.subject, fav.predicate, fav.object) == ("Caroline", "favorite color is", "teal")
    assert any(s.startswith("Caroline's dog loves the beach") for s in statements)
    assert _by_source(x, "m2") == []


def test_verb_agreement_and_contractions() -> None:
    assert resolve_pronouns("I live in Boston", "Sam") == "Sam lives in Boston"
    assert resolve_pronouns("I really love my job", "Sam") == "Sam really loves Sam's job"
    assert resolve_pronouns("I'm married to Lee and I've got two kids", "Sam") == (
        "Sam is married to Lee and Sam has got two kids"
    )
    assert resolve_pronouns("I'd been there", "Sam") == "Sam had been there"
    assert resolve_pronouns("your plan helped me", "Sam", "Ana") == "Ana's plan helped Sam"
    assert resolve_pronouns("I need help if you need it", "Sam", "Ana") == "Sam needs help if Ana needs it"
    assert resolve_pronouns("I first watched it in 2019", "Sam") == "Sam first watched it in 2019"


def test_named_third_party_and_chitchat() -> None:
    steps = chat(
        [
            ("Ana", "Wow, that's so cool! Thanks! Did you hear from Jon?"),
            ("Ben", "Jon moved to Denver in 2021 for a job at Acme."),
        ]
    )
    x = _extract(steps)
    assert _by_source(x, "m1") == []
    [k] = _by_source(x, "m2")
    assert (k.subject, k.predicate, k.object) == ("Jon", "moved to", "Denver for a job at Acme")
    assert "(2021)" not in k.statement  # already absolute: not annotated twice
    assert {"Jon", "Denver"} <= set(k.entities)


def test_prescription_from_successful_tool_sequence() -> None:
    steps = agent_trajectory()
    x = _extract(steps)
    procs = [k for k in x.knowledge if k.kind == "prescription"]
    booking = next(k for k in procs if k.goal and "book a table" in k.goal)
    assert booking.goal == "book a table for two at Luigi's tomorrow at 7pm"
    assert booking.steps == [
        "search_restaurants(name=Luigi's)",
        "book_table(restaurant_id=r-42, party=2, time=19:00)",
    ]
    assert booking.source_ids == ["u1", "a1", "t1", "a2", "t2", "a3"]
    assert booking.statement.startswith("To book a table for two at Luigi's")
    weather = next(k for k in procs if k.goal and "weather" in k.goal)
    assert weather.steps == ["get_weather(city=Paris)"]


def test_failed_tool_sequence_is_not_a_procedure_and_errors_become_lessons() -> None:
    steps = agent_trajectory()[:6]
    steps[5].content = "Sorry, I couldn't book the table."
    assert [k for k in _extract(steps).knowledge if k.kind == "prescription"] == []
    steps = agent_trajectory()[:6]
    steps[2].content = "Error: restaurant name not found"
    [proc] = [k for k in _extract(steps).knowledge if k.kind == "prescription"]
    assert proc.steps == ["book_table(restaurant_id=r-42, party=2, time=19:00)"]
    assert proc.lessons == ['search_restaurants(name=Luigi\'s) failed: "Error: restaurant name not found"']


def test_prescription_from_stated_advice() -> None:
    steps = chat(
        [
            ("Ana", "How do I make cold brew coffee at home?"),
            (
                "Ben",
                "To make cold brew, first grind the beans coarsely, then steep them in cold water overnight, "
                "and finally strain through a paper filter.",
            ),
            ("Ana", "Any tips for keeping basil alive?"),
            (
                "Ben",
                "Water it when the soil is dry. Keep it in bright sunlight. Pinch off the flowers early.",
            ),
        ]
    )
    procs = [k for k in _extract(steps).knowledge if k.kind == "prescription"]
    brew = next(k for k in procs if k.goal == "make cold brew")
    assert brew.steps == [
        "grind the beans coarsely",
        "steep them in cold water overnight",
        "strain through a paper filter",
    ]
    assert brew.source_ids == ["m2"]
    basil = next(k for k in procs if k.goal == "keeping basil alive")
    assert basil.steps[0].startswith("water it when the soil is dry")
    assert len(basil.steps) == 3


def test_ids_are_deterministic_and_edges_point_at_real_nodes() -> None:
    steps = agent_trajectory() + chat(
        [("Caroline", "I adopted a puppy named Oscar last week."), ("Melanie", "Oscar is adorable!")],
        session="s9",
        prefix="c",
    )
    a, b = _extract(steps), _extract(steps)
    assert [k.id for k in a.knowledge] == [k.id for k in b.knowledge]
    ids = {s.id for s in steps}
    entity_ids = {e.id for e in a.entities}
    knowledge_ids = {k.id for k in a.knowledge}
    for e in a.edges:
        if e.kind == "derived_from":
            assert e.src in knowledge_ids and e.dst in ids
        if e.kind == "mentions":
            assert e.dst in entity_ids
    k = a.knowledge[0]
    assert k.id == knowledge_id(k.namespace, k.kind, k.statement, k.source_ids)


@pytest.mark.needs_data
def test_provenance_on_real_conversation() -> None:
    """Every knowledge item's source ids are real input step ids (one LoCoMo conversation, 4 sessions)."""
    conv = json.loads(DATA.read_text())[0]["conversation"]
    steps: list[Step] = []
    for n in range(1, 5):
        ts = parse_datetime(conv[f"session_{n}_date_time"])
        assert ts is not None
        for t in conv[f"session_{n}"]:
            steps.append(
                Step(
                    id=t["dia_id"],
                    namespace="ns",
                    session_id=f"session_{n}",
                    seq=len(steps),
                    role="user" if t["speaker"] == conv["speaker_a"] else "assistant",
                    content=t["text"],
                    timestamp=ts,
                    name=t["speaker"],
                )
            )
    x = _extract(steps)
    ids = {s.id for s in steps}
    assert len(x.knowledge) > 50
    for k in x.knowledge:
        assert k.source_ids and set(k.source_ids) <= ids, k
        assert k.valid_from is not None and k.valid_from.tzinfo == UTC
    first = {k.statement for k in x.knowledge if k.source_ids == ["D1:3"]}
    assert "Caroline went to a LGBTQ support group yesterday (7 May 2023)" in first
    assert T0.date() == datetime(2023, 5, 8).date()
