"""Entities: names found by rules; aliases merged only on evidence, never on looks."""

from __future__ import annotations

from test_ingest_helpers import chat

from plugmem.ingest.consolidate import consolidate_entities
from plugmem.ingest.entities import EntityIndex, entity_id, find_mentions
from plugmem.model import Entity


def _index(turns: list[tuple[str, str]]) -> EntityIndex:
    ix = EntityIndex("ns")
    ix.observe(chat(turns))
    return ix


def test_mentions_skip_stop_words_and_sentence_starts() -> None:
    found = [
        m.text
        for m in find_mentions("Hey Mel! I went to New York with Bank of America people. Yesterday was fun.")
    ]
    assert "Mel" in found and "New York" in found and "Bank of America" in found
    assert not {"Hey", "I", "Yesterday"} & set(found)
    starts = [m for m in find_mentions("Paris was lovely. We loved Paris.") if m.text == "Paris"]
    assert [m.sentence_start for m in starts] == [True, False]


def test_months_and_days_are_not_entities() -> None:
    ix = _index(
        [("Ana", "We met on Friday in May at the Louvre."), ("Ben", "The Louvre in May sounds great.")]
    )
    names = {e.name for e in ix.entities()}
    assert "Louvre" in names
    assert not {"Friday", "May"} & names


def test_speakers_are_people() -> None:
    ix = _index([("Caroline", "I love painting."), ("Melanie", "Me too.")])
    kinds = {e.name: e.kind for e in ix.entities()}
    assert kinds["Caroline"] == "person" and kinds["Melanie"] == "person"


def test_vocative_nickname_merges_into_the_addressee() -> None:
    ix = _index(
        [
            ("Caroline", "Hi there, how was your week?"),
            ("Melanie", "Busy with the kids and work."),
            ("Caroline", "Hey Mel! That sounds like a lot."),
            ("Melanie", "It is, but I manage."),
            ("Caroline", "You're amazing, Mel!"),
        ]
    )
    assert ix.canonical("Mel") == "Melanie"
    mel = ix.entity("Melanie")
    assert mel is not None and "Mel" in mel.aliases
    assert any("Mel" in why for _, _, why in ix.evidence)


def test_call_me_and_short_for() -> None:
    ix = _index(
        [
            ("Alexander", "Please, call me Sasha. Everyone does."),
            ("Joanna", "Nice! My sister Liz, short for Elizabeth, says hi."),
        ]
    )
    assert ix.canonical("Sasha") == "Alexander"
    assert ix.canonical("Liz") == "Elizabeth"


def test_similar_names_without_evidence_stay_apart() -> None:
    ix = _index(
        [
            ("John", "Jon from work joined our team today."),
            ("Maria", "Is Jon the one who plays basketball?"),
            ("John", "Yes, Jon plays every week with Johnny."),
        ]
    )
    assert ix.canonical("Jon") == "Jon"
    assert ix.canonical("John") == "John"
    assert ix.canonical("Johnny") == "Johnny"
    assert {e.name for e in ix.entities()} >= {"Jon", "John", "Johnny"}


def test_greeting_a_third_person_once_is_not_evidence() -> None:
    ix = _index([("Ana", "I went to the park."), ("Ben", "Hey Sam! Oh sorry, that was for my brother.")])
    assert ix.canonical("Sam") == "Sam"
    assert ix.canonical("Ana") == "Ana"


def test_two_speakers_never_merge() -> None:
    ix = _index([("Ana", "Hey Ben!"), ("Ben", "Hey Ana! Call me Ana, ha.")])
    assert ix.canonical("Ana") == "Ana" and ix.canonical("Ben") == "Ben"


def test_my_name_is_names_an_unnamed_user() -> None:
    ix = EntityIndex("ns")
    steps = chat([("u", "Hi, my name is Priya and I run a bakery."), ("a", "Nice to meet you!")])
    for s in steps:
        s.name = None
    ix.observe(steps)
    assert ix.speaker_label(steps[0]) == "Priya"
    assert ix.speaker_label(steps[1]) == "Assistant"


def test_entity_consolidation_follows_aliases_only() -> None:
    mel = Entity(entity_id("ns", "Mel"), "ns", "Mel", [], "thing")
    jon = Entity(entity_id("ns", "Jon"), "ns", "Jon", [], "person")
    melanie = Entity(entity_id("ns", "Melanie"), "ns", "Melanie", ["Mel"], "person")
    john = Entity(entity_id("ns", "John"), "ns", "John", [], "person")
    out = consolidate_entities([melanie, john], [mel, jon])
    assert out.merged == {mel.id: melanie.id}
    assert jon.id not in out.merged and john.id not in out.merged
    upserted = {e.name: e for e in out.upsert}
    assert "Mel" in upserted["Melanie"].aliases and "Mel" not in upserted
