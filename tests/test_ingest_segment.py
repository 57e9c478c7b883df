"""Segmentation: session breaks, time gaps, topic shifts (embeddings and lexical), agent goals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_ingest_helpers import T0, agent_trajectory, chat

from plugmem.ingest.segment import event_id, segment
from plugmem.model import Step

COOKING = [
    ("Ana", "I am making fresh pasta dough with flour and eggs tonight."),
    ("Ben", "Knead the pasta dough for ten minutes until the dough is smooth."),
    ("Ana", "Should the pasta dough rest before I roll the pasta sheets?"),
    ("Ben", "Rest the dough thirty minutes, then roll thin pasta sheets for ravioli."),
    ("Ana", "I will fill the ravioli with ricotta and spinach."),
    ("Ben", "Boil the ravioli in salted water for three minutes and serve with butter sauce."),
]
HIKING = [
    ("Ana", "Next month we are hiking the mountain trail to the glacier lake."),
    ("Ben", "The glacier trail climbs steep switchbacks; bring hiking boots and poles."),
    ("Ana", "How long is the hike from the trailhead up to the glacier lake?"),
    ("Ben", "The mountain hike is twelve kilometres; start early to reach the lake."),
    ("Ana", "We will camp by the lake and hike down the trail the next morning."),
    ("Ben", "Pack a warm tent, the mountain nights by the glacier are cold."),
]


def test_session_break_and_deterministic_ids() -> None:
    a = chat(
        [("Ana", "Hi Ben, I adopted a cat named Miso."), ("Ben", "Lovely, how old is Miso?")], session="s1"
    )
    b = chat(
        [("Ana", "Miso knocked over my plant today."), ("Ben", "Cats do that.")],
        session="s2",
        prefix="n",
        start=T0 + timedelta(minutes=5),
    )
    events = segment([*a, *b], None)
    assert [e.boundary for e in events] == ["start", "session"]
    assert events[0].step_ids == ["m1", "m2"] and events[1].step_ids == ["n1", "n2"]
    assert events[0].id == event_id("ns", "m1")
    assert [e.id for e in segment([*a, *b], None)] == [e.id for e in events]
    assert events[0].participants == ["Ana", "Ben"]
    assert "Miso" in events[0].entities
    assert events[0].start == a[0].timestamp and events[0].end == a[1].timestamp
    assert events[0].summary


def test_time_gap() -> None:
    steps = chat(
        [
            ("Ana", "I started a new job at Acme today."),
            ("Ben", "Congrats on Acme!"),
            ("Ana", "The commute to Acme is long."),
            ("Ben", "Maybe try the train."),
        ],
        minutes=1,
    )
    steps[2].timestamp = steps[1].timestamp + timedelta(minutes=45)
    steps[3].timestamp = steps[2].timestamp + timedelta(minutes=1)
    events = segment(steps, None, gap_minutes=30)
    assert [e.boundary for e in events] == ["start", "time_gap"]
    assert [len(e.step_ids) for e in events] == [2, 2]
    assert len(segment(steps, None, gap_minutes=60)) == 1


def test_topic_shift_lexical() -> None:
    steps = chat(COOKING + HIKING)
    events = segment(steps, None)
    assert [e.boundary for e in events] == ["start", "topic_shift"]
    assert events[1].step_ids[0] == "m7"


def test_topic_shift_threshold_is_relative_to_the_stream() -> None:
    """Turns that share no words at all: uniformly low similarity is this stream's normal, not a shift.

    A fixed cut-off (say 0.2) would cut at every gap here; mean − k·std cuts nowhere.
    """
    vocab = [
        "apple",
        "river",
        "violin",
        "garden",
        "rocket",
        "pillow",
        "candle",
        "desert",
        "harbor",
        "lantern",
    ]
    steps = chat([("Ana" if i % 2 == 0 else "Ben", f"{w} {w}s everywhere") for i, w in enumerate(vocab)])
    assert [e.boundary for e in segment(steps, None)] == ["start"]


def test_min_event_length() -> None:
    steps = chat(COOKING + HIKING)
    for e in segment(steps, None, min_steps=4):
        assert len(e.step_ids) >= 4


def test_max_event_length() -> None:
    steps = chat(COOKING * 4)
    events = segment(steps, None, max_steps=10, min_steps=3)
    assert all(len(e.step_ids) <= 10 for e in events)
    assert sum(len(e.step_ids) for e in events) == len(steps)


@pytest.mark.needs_model
def test_topic_shift_with_real_embeddings() -> None:
    from plugmem.index.embeddings import OnnxMiniLM, find_model_dir

    steps = chat(COOKING + HIKING)
    model = OnnxMiniLM(find_model_dir())
    vectors = model.embed_documents([s.content for s in steps])
    events = segment(steps, vectors)
    assert [e.boundary for e in events] == ["start", "topic_shift"]
    assert events[1].step_ids[0] == "m7"


def test_agent_new_goal_and_tool_done() -> None:
    events = segment(agent_trajectory(), None)
    assert [e.boundary for e in events] == ["start", "new_goal", "tool_done"]
    assert events[0].step_ids == ["u1", "a1", "t1", "a2", "t2", "a3"]
    assert events[1].step_ids == ["u2", "a4", "t3", "a5"]
    assert events[2].step_ids == ["a6"]
    assert "search_restaurants" in events[0].summary and "book_table" in events[0].summary


def test_previous_event_is_extended_when_continued() -> None:
    steps = chat(COOKING)
    first = segment(steps[:3], None)
    assert len(first) == 1
    more = segment(steps[3:], None, previous=first[0], previous_steps=steps[:3])
    assert len(more) == 1
    ev = more[0]
    assert ev.id == first[0].id
    assert ev.step_ids == [s.id for s in steps]
    assert ev.end == steps[-1].timestamp
    assert ev.boundary == "start"
    # without the previous steps at hand, it still extends
    blind = segment(steps[3:], None, previous=first[0])
    assert blind[0].id == first[0].id and blind[0].step_ids == [s.id for s in steps]


def test_previous_event_not_extended_across_session_or_goal() -> None:
    steps = chat(COOKING[:2])
    prev = segment(steps, None)[0]
    other = chat(COOKING[2:4], session="s2", prefix="x", start=T0 + timedelta(minutes=3))
    out = segment(other, None, previous=prev)
    assert out[0].id != prev.id and out[0].boundary == "session"

    traj = agent_trajectory()
    done = segment(traj[:6], None)[0]
    nxt = segment(traj[6:10], None, previous=done, previous_steps=traj[:6])
    assert nxt[0].id != done.id and nxt[0].boundary == "new_goal"


def test_empty_input() -> None:
    assert segment([], None) == []


def test_misaligned_vectors_fall_back_to_lexical() -> None:
    steps: list[Step] = chat(COOKING + HIKING)
    lexical = segment(steps, None)
    assert [e.step_ids for e in segment(steps, [[1.0, 0.0]] * 3)] == [e.step_ids for e in lexical]
