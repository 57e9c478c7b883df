"""What the agent receives, read as the model reads it: one user's story over two years.

The story changes where Sam lives, where Sam works, what Sam eats and Sam's favourite band,
teaches a procedure by a failed then successful tool call, and has a week of things to
look back on. The clock is fixed, so "last week" is a known window.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _story import LAST_WEEK, ask, build, lines, tag_of, text_of

from plugmem import MemoryPolicy, PlugMem

# the story's paraphrases need vectors; the lexical-only guarantees are in test_recall_lexical.py
pytestmark = pytest.mark.needs_model


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlugMem]:
    mem = build(tmp_path_factory.mktemp("story") / "mem")
    yield mem
    mem.close()


def _carries(mem: PlugMem, item: Any, fact_ids: list[str]) -> bool:
    """Whether `item` is the turn one of these facts was drawn from."""
    cat = mem.catalog("users/sam")
    return any(item.id == "t:" + cat.docs[f].source_ids[0] for f in fact_ids if f in cat.docs)


# -- 1 and 2: facts that change, and stale is visible -------------------------------------------
CHANGED = [
    ("Where do I live?", "Bristol", "Leeds"),
    ("Where do I work now?", "Northwind", "Globex"),
    ("Am I vegetarian?", "fish", "vegetarian"),
    ("What's my favourite band?", "Wet Leg", "Radiohead"),
]


@pytest.mark.parametrize(("query", "current", "old"), CHANGED)
@pytest.mark.parametrize("mode", ["auto", "fast", "deep"])
def test_current_fact_comes_first_and_the_stale_one_is_marked(
    story: PlugMem, query: str, current: str, old: str, mode: str
) -> None:
    r = ask(story, query, mode=mode)
    assert current in lines(r)[0], r.context
    # lines saying the old value and not the new one ("User left Globex, I'm … at Northwind" is current)
    stale_lines = [ln for ln in lines(r)[1:] if old in text_of(ln) and current not in text_of(ln)]
    assert stale_lines, r.context  # the old fact is still there, as history
    for ln in stale_lines:
        assert "superseded" in tag_of(ln) and current in tag_of(ln), ln  # marked, naming what replaced it
    assert len(r.items) == len(lines(r))  # items best first, and so is the context (policy order)
    stale = [(ln, it) for ln, it in zip(lines(r), r.items, strict=True) if it.superseded_by]
    assert stale and all(it.valid_until is not None and "superseded" in tag_of(ln) for ln, it in stale)
    for ln, it in stale:
        # what replaced it is in the context (as itself, or as the turn it came from), ranked above it;
        # a partly superseded turn (it also says things that still hold) only has to rank below it if both are in
        carriers = [o for o in r.items if o.id in it.superseded_by or _carries(story, o, it.superseded_by)]
        assert carriers or "partly" in tag_of(ln), (it.text, it.superseded_by)
        assert all(c.score > it.score for c in carriers), (it.text, it.superseded_by)


def test_policy_drop_leaves_stale_items_out_when_the_current_one_is_in(tmp_path: Path) -> None:
    mem = build(tmp_path / "m", MemoryPolicy(full_history_when_fits=False, stale="drop"))
    try:
        r = ask(mem, "Where do I live?")
        assert "Bristol" in lines(r)[0]
        assert not any("Leeds" in ln for ln in lines(r)), r.context
        # what is left marked only partly holds (it also says things that are still true)
        assert all("partly superseded" in tag_of(ln) for ln in lines(r) if "superseded" in tag_of(ln))
        keep = ask(mem, "Where do I live?", policy=MemoryPolicy(full_history_when_fits=False, stale="keep"))
        assert any("Leeds" in ln and "superseded" not in ln for ln in lines(keep))
    finally:
        mem.close()


def test_stale_turns_are_marked_in_the_full_history_too(tmp_path: Path) -> None:
    mem = build(tmp_path / "m", MemoryPolicy())
    try:
        r = ask(mem, "Where do I live?", budget_tokens=4000)
        assert r.tier == "full"
        leeds = next(ln for ln in lines(r) if "house in Leeds" in ln)
        assert "superseded" in leeds and "Bristol" in leeds
    finally:
        mem.close()


# -- 3: procedures that teach --------------------------------------------------------------------
@pytest.mark.parametrize(
    "query",
    [
        "How do I search flights?",
        "What's the way to find a flight?",
        "Find me a flight to Porto in September",
    ],
)
def test_a_how_to_question_gets_the_learned_procedure_first(story: PlugMem, query: str) -> None:
    r = ask(story, query)
    top = r.items[0]
    assert top.kind == "knowledge" and "search_flights(" in top.text
    first = lines(r)[0]
    assert first.startswith("[how-to, worked 2×")  # learned twice, merged, successes counted
    assert "date=2025-08-02" in first or "date=2025-07-12" in first  # the call that worked
    assert "month must be YYYY-MM-DD" in first and "date=2025-07" in first  # the lesson of the failure
    assert "Outcome:" in first
    # the raw calls it summarises are not repeated beside it
    assert not any(ln.startswith("[") and "called search_flights" in ln for ln in lines(r))


def test_procedures_learned_twice_are_one_item(story: PlugMem) -> None:
    procs = [k for k in story.store.knowledge("users/sam") if k.kind == "prescription" and k.tools]
    assert len(procs) == 1
    [proc] = procs
    assert proc.successes == 2 and proc.tools == ["search_flights"]
    assert {"f1-ask", "f2-ask"} <= set(proc.source_ids)


# -- 4: nothing when nothing fits ----------------------------------------------------------------
@pytest.mark.parametrize("mode", ["auto", "fast", "deep"])
def test_an_off_topic_question_gets_nothing(story: PlugMem, mode: str) -> None:
    r = ask(story, "What is the boiling point of mercury, and how does it compare with lead?", mode=mode)
    assert r.items == [] and r.context == "" and r.tokens == 0
    assert "nothing relevant" in r.reason
    assert r.tier != "deep" and r.llm_calls == 0


# -- 5: time-scoped questions ---------------------------------------------------------------------
def test_the_context_opens_with_now_and_every_item_shows_its_time(story: PlugMem) -> None:
    r = ask(story, "Where do I work now?")
    assert r.context.splitlines()[1].endswith("Now: 2025-06-30 09:00 UTC.")
    for ln in lines(r):
        assert ln.startswith("[") and any(ch.isdigit() for ch in ln.split("]")[0]), ln


def test_last_week_is_answered_from_last_week(story: PlugMem) -> None:
    r = ask(story, "What did I do last week?", budget_tokens=300)
    assert "time window" in r.reason
    assert r.items[0].kind in ("summary", "event")  # the look back lands on the temporal tree
    inside = [it for it in r.items[:4] if it.timestamp and LAST_WEEK[0] <= it.timestamp < LAST_WEEK[1]]
    assert len(inside) == len(r.items[:4]), [(it.kind, it.timestamp) for it in r.items]
    text = r.context
    for thing in ("ramen", "Pen y Fan", "jazz"):
        assert thing in text
    assert "Leeds" not in text and "Globex" not in text


def test_since_i_moved_is_dated_by_the_move(story: PlugMem) -> None:
    r = ask(story, "What have I eaten since we moved?")
    assert "time window" in r.reason and "2025" in r.reason
    top = lines(r)[:3]
    assert any("fish" in ln or "ramen" in ln for ln in top), r.context
    assert not any("vegetarian" in text_of(ln) and "superseded" not in tag_of(ln) for ln in lines(r))


# -- 6 and 7: one item per piece of evidence, best first ---------------------------------------
def test_items_are_best_first_and_the_context_follows_the_policy_order(story: PlugMem) -> None:
    r = ask(story, "Where do I work now?")
    scores = [it.score for it in r.items]
    assert scores == sorted(scores, reverse=True)
    timed = ask(
        story, "Where do I work now?", policy=MemoryPolicy(full_history_when_fits=False, order="time")
    )
    days = [re.search(r"\d{4}-\d{2}-\d{2}", tag_of(ln)) for ln in lines(timed)]
    shown = [m.group(0) for m in days if m]
    assert len(shown) == len(timed.items) > 3 and shown == sorted(shown)
    assert {it.id for it in timed.items} == {it.id for it in r.items}  # same items, other order


def test_a_fact_and_its_turn_are_one_item(story: PlugMem) -> None:
    r = ask(story, "Where do I work now?")
    facts = [it for it in r.items if it.kind == "knowledge"]
    turn_sources = {s for it in r.items if it.kind == "turn" for s in it.source_ids}
    for f in facts:
        assert not set(f.source_ids) & turn_sources, (f.text, turn_sources)


@pytest.mark.parametrize(
    "query", ["What's my favourite band?", "What music do I like?", "Where do I work now?"]
)
def test_an_event_and_the_turns_it_quotes_are_not_both_shown(story: PlugMem, query: str) -> None:
    # an event is sentences quoted from its turns: shown beside one of them, it repeats it
    r = ask(story, query, budget_tokens=1000, mode="fast")
    events = {s for it in r.items if it.kind == "event" for s in it.source_ids}
    turns = {s for it in r.items if it.kind == "turn" for s in it.source_ids}
    assert turns and not events & turns, (events & turns, lines(r))
