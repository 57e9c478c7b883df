"""The scheduler and both deep modes, on a real memory; the LLM is a scripted fake."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from _support import T0, conv
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from plugmem import MemoryPolicy, PlugMem
from plugmem.recall.fast import FastResult
from plugmem.recall.scheduler import decide_escalation

NS = ("u", "1")


def _history(mem: PlugMem) -> None:
    mem.add(
        conv(
            "I started pottery classes with my friend Jonas in January.",
            "That sounds relaxing!",
            "Jonas and I made two bowls and a vase so far.",
            "Nice, what's next?",
            start=T0,
        ),
        namespace=NS,
        session_id="s1",
    )
    mem.add(
        conv(
            "Bad news: my flight to Oslo got cancelled.",
            "Oh no, did you rebook?",
            "Yes, I'm flying to Oslo on Friday instead, to visit Jonas's sister Ida.",
            "Have a good trip!",
            start=T0 + timedelta(days=30),
            prefix="b",
        ),
        namespace=NS,
        session_id="s2",
    )
    mem.flush()  # these tests are about tiers: on a loaded machine, read-your-writes could time out first


def test_escalation_signals_and_share_ceiling() -> None:
    calm = FastResult(ranked=[], top_dense=0.8, margin=0.3, coverage=1.0)
    # counting over a period: on LoCoMo dev the deep tier found less than fast for these
    d = decide_escalation("How many times did I go hiking last month?", calm, deep_share=0.0, max_share=0.3)
    assert d.tier == "fast" and "sufficient" in d.reason
    hard = FastResult(ranked=[], top_dense=0.3, margin=0.01, coverage=0.2)
    # the fitted model (plugmem/recall/escalation.json) sends guesses and comparisons to deep
    q = "Would Jonas be more likely to enjoy pottery than Ida?"
    d = decide_escalation(q, hard, deep_share=0.0, max_share=0.3)
    assert d.tier == "deep" and "paraphrase" in d.reason and "compare" in d.reason
    capped = decide_escalation(q, hard, deep_share=0.3, max_share=0.3)
    assert capped.tier == "fast" and "ceiling" in capped.reason


def test_auto_mode_respects_deep_share_ceiling(mem: PlugMem) -> None:
    _history(mem)
    policy = MemoryPolicy(full_history_when_fits=False, max_deep_share=0.25)
    hard = "Would Jonas be more likely to enjoy pottery than Ida?"
    tiers = [mem.recall(hard, namespace=NS, policy=policy).tier for _ in range(12)]
    assert "deep" in tiers
    assert tiers.count("deep") <= 0.25 * 12 + 1
    assert 0 < mem.stats().escalation_rate <= 0.34


def test_deterministic_deep_walks_to_related_turns(mem: PlugMem) -> None:
    _history(mem)
    r = mem.recall("Who will I visit in Oslo?", namespace=NS, mode="deep", budget_tokens=150)
    assert r.tier == "deep" and r.llm_calls == 0
    assert "b3" in r.source_ids
    # neighbour turns around the hit are pulled in by the walk
    assert {"b2", "b4"} & set(r.source_ids)


def _fake(*responses: str) -> FakeListChatModel:
    return FakeListChatModel(responses=list(responses))


def _open_with_llm(path: Path, llm: FakeListChatModel, policy: MemoryPolicy | None = None) -> PlugMem:
    """Ingest without the LLM (it would also be used for extraction), then reopen with it."""
    pol = policy or MemoryPolicy(full_history_when_fits=False)
    with PlugMem.open(path, policy=pol) as m:
        _history(m)
        m.flush()
    return PlugMem.open(path, policy=pol, llm=llm)


def test_llm_deep_plan_walk_reflect_stops_when_answered(tmp_path: Path) -> None:
    llm = _fake(
        '{"sub_questions": ["where is the trip"], "entities": ["Oslo"], "time_constraints": []}',
        '{"expand": []}',
        '{"enough": true, "missing": ""}',
    )
    with _open_with_llm(tmp_path / "m", llm) as mem:
        r = mem.recall("Who will I visit in Oslo?", namespace=NS, mode="deep")
        assert r.tier == "deep" and "answered" in r.reason
        assert r.llm_calls == 3 and r.llm_tokens > 0
        assert "b3" in r.source_ids
        assert mem.stats().llm_calls.get("plan") == 3


def test_llm_deep_stops_at_round_limit(tmp_path: Path) -> None:
    plan = '{"sub_questions": [], "entities": [], "time_constraints": []}'
    not_yet = '{"enough": false, "missing": "pottery"}'
    llm = _fake(plan, *(['{"expand": []}', not_yet] * 10))
    policy = MemoryPolicy(full_history_when_fits=False, deep_max_rounds=2)
    with _open_with_llm(tmp_path / "m", llm, policy) as mem:
        r = mem.recall("What did I make with Jonas?", namespace=NS, mode="deep")
        assert "max rounds" in r.reason
        assert r.llm_calls == 1 + 2 * 2  # plan + (walk + reflect) per round


def test_llm_deep_stops_at_token_limit(tmp_path: Path) -> None:
    plan = '{"sub_questions": [], "entities": [], "time_constraints": []}'
    llm = _fake(plan, *(['{"expand": []}', '{"enough": false, "missing": ""}'] * 10))
    policy = MemoryPolicy(full_history_when_fits=False, deep_max_rounds=10, deep_max_llm_tokens=100)
    with _open_with_llm(tmp_path / "m", llm, policy) as mem:
        r = mem.recall("What did I make with Jonas?", namespace=NS, mode="deep")
        assert "token limit" in r.reason
        assert r.llm_calls < 1 + 2 * 10


def test_llm_deep_falls_back_to_deterministic_on_garbage(tmp_path: Path) -> None:
    llm = _fake(*(["this is not json"] * 10))
    with _open_with_llm(tmp_path / "m", llm) as mem:
        r = mem.recall("Who will I visit in Oslo?", namespace=NS, mode="deep")
        assert r.tier == "deep" and "deterministic" in r.reason
        assert "b3" in r.source_ids


@pytest.mark.parametrize("order", ["time", "relevance"])
def test_context_order_follows_policy(mem: PlugMem, order: str) -> None:
    _history(mem)
    pol = MemoryPolicy(full_history_when_fits=False, order=order)  # type: ignore[arg-type]
    r = mem.recall("Oslo flight Jonas pottery", namespace=NS, policy=pol, mode="fast", budget_tokens=400)
    lines = r.context.splitlines()[2:-1]
    assert len(lines) == len(r.items) >= 3
    scores = [i.score for i in r.items]
    assert scores == sorted(scores, reverse=True)  # items are best first whatever the context order
    days = [re.search(r"\d{4}-\d{2}-\d{2}", ln.split("] ")[0]) for ln in lines]
    shown = [m.group(0) for m in days if m]
    if order == "time":
        assert shown == sorted(shown)
    else:
        # a summary renders condensed onto one line; every line still opens with its own item's words
        assert all(ln.split("] ", 1)[1][:20] in i.text for ln, i in zip(lines, r.items, strict=True))
    assert r.context.startswith("<memory>") and r.context.endswith("</memory>")


def test_auto_stays_fast_when_deep_is_over_the_latency_budget(mem: PlugMem) -> None:
    _history(mem)
    hard = "Would Jonas be more likely to enjoy pottery than Ida?"
    mem.recall(hard, namespace=NS, mode="deep")  # measures what a deep recall costs here
    tight = MemoryPolicy(full_history_when_fits=False, latency_budget_ms=0.001, max_deep_share=1.0)
    r = mem.recall(hard, namespace=NS, policy=tight)
    assert r.tier == "fast" and "latency budget" in r.reason


def test_deep_is_retried_after_being_skipped_as_too_slow(mem: PlugMem) -> None:
    """One slow deep recall must not rule deep out for good: the estimate decays while skipped."""
    _history(mem)
    hard = "Would Jonas be more likely to enjoy pottery than Ida?"
    mem.recall(hard, namespace=NS, mode="deep")  # builds the graph
    steady = mem.recall(hard, namespace=NS, mode="deep").latency_ms
    tight = MemoryPolicy(
        full_history_when_fits=False, latency_budget_ms=max(steady / 3, 0.01), max_deep_share=1.0
    )
    tiers = [mem.recall(hard, namespace=NS, policy=tight).tier for _ in range(60)]
    assert tiers[0] == "fast"
    assert "deep" in tiers


def test_a_question_about_one_speaker_is_answered_from_their_turns(mem: PlugMem) -> None:
    def said(name: str, text: str, i: int) -> dict[str, object]:
        return {"role": "user", "name": name, "content": text, "id": f"f{i}", "timestamp": T0}

    mem.add(
        [
            said("Caroline", "I went to a pottery workshop last weekend.", 1),
            said("Melanie", "Pottery workshop? I love pottery, I went to one too and made a mug.", 2),
            said("Melanie", "My pottery workshop was the best part of my month.", 3),
            said("Caroline", "At the workshop I made a vase for my mom.", 4),
        ],
        namespace=NS,
        session_id="s1",
    )
    policy = MemoryPolicy(full_history_when_fits=False)
    r = mem.recall(
        "What did Caroline make at the pottery workshop?", namespace=NS, mode="fast", policy=policy
    )
    ranked = [i.source_ids[0] for i in r.items if i.kind == "turn"]
    assert "about Caroline" in r.reason
    assert ranked.index("f4") < ranked.index("f2") and ranked.index("f1") < ranked.index("f3")
    both = mem.recall("What did Caroline and Melanie make at the workshop?", namespace=NS, policy=policy)
    assert "about" not in both.reason.split(";")[-1]


def test_advice_requests_and_guesses_weigh_meaning_over_words() -> None:
    from plugmem.index.catalog import DENSE_WEIGHT
    from plugmem.recall.intent import dense_weight

    assert dense_weight("Can you recommend a show or movie for me to watch tonight?") > DENSE_WEIGHT
    assert dense_weight("My kitchen is a mess again. Any tips for keeping it clean?") > DENSE_WEIGHT
    assert dense_weight("Would Melanie likely enjoy the song The Four Seasons by Vivaldi?") > DENSE_WEIGHT
    assert dense_weight("When did Caroline go to the LGBTQ support group?") == DENSE_WEIGHT
    assert dense_weight("What is my dog's name?") == DENSE_WEIGHT


def test_a_request_for_advice_is_held_to_a_low_relevance_floor() -> None:
    from plugmem.recall.intent import asks_advice
    from plugmem.recall.relevance import dense_floor, judge

    far = FastResult(ranked=[], top_dense=0.27, lexical_coverage=0.17)
    assert dense_floor(25_000) > 0.27
    assert not judge(far, docs=25_000, has_vectors=True).relevant
    q = "I've been having trouble with the battery life on my phone lately. Any tips?"
    assert asks_advice(q)
    assert judge(far, docs=25_000, has_vectors=True, advice=asks_advice(q)).relevant
    assert not asks_advice("What is the battery life of my phone?")
