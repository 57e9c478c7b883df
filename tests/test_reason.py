"""`PlugMem.reason`: recall, then guidance for the current step (a model's, or extractive), with sources."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from _support import T0, conv
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import FakeListChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage

from plugmem import MemoryPolicy, PlugMem

NS = ("u", "1")
POLICY = MemoryPolicy(full_history_when_fits=False)


class Seen(BaseCallbackHandler):
    def __init__(self) -> None:
        self.prompts: list[list[BaseMessage]] = []

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], **kw: Any
    ) -> None:
        self.prompts.extend(messages)


def _filled(path: Path) -> None:
    with PlugMem.open(path, POLICY) as mem:
        mem.add(
            conv(
                "I'm allergic to peanuts, so restaurants must take allergies seriously.",
                "Noted, no peanuts.",
                "I adopted a cat called Pimenta; she knocks over my plants.",
                "Lovely!",
                "To renew my parking permit: log in to the city portal, upload the lease, pay 30 euros.",
                start=T0,
            ),
            namespace=NS,
            session_id="s1",
        )
        mem.flush()


def test_the_reason_model_writes_guidance_from_numbered_items_with_their_sources(tmp_path: Path) -> None:
    _filled(tmp_path / "m")
    seen = Seen()
    answer = '{"relevant": true, "guidance": "Pick a place that handles peanut allergies.", "used": [1]}'
    llm = FakeListChatModel(responses=[answer], callbacks=[seen])
    with PlugMem.open(tmp_path / "m", POLICY, llms={"reason": llm}) as mem:
        r = mem.reason("Which restaurants suit my peanut allergy?", namespace=NS, mode="fast")
    g = r.guidance
    assert g is not None and g.llm and g.text == "Pick a place that handles peanut allergies."
    [prompt] = seen.prompts
    shown = str(prompt[-1].content)
    first = max(r.items, key=lambda it: it.score)
    assert "[1] (" in shown and first.text[:60] in shown.split("\n[2]")[0]
    assert g.item_ids == [first.id] and g.source_ids == first.source_ids
    assert r.llm_calls == 1 and r.context  # the recall itself is still there


def test_nothing_relevant_means_no_guidance(tmp_path: Path) -> None:
    _filled(tmp_path / "m")
    llm = FakeListChatModel(responses=['{"relevant": false, "guidance": "", "used": []}'])
    with PlugMem.open(tmp_path / "m", POLICY, llms={"reason": llm}) as mem:
        r = mem.reason("Is the vet of my cat open on Sundays?", namespace=NS, mode="fast")
        assert r.guidance is None and r.llm_calls == 1
        empty = mem.reason("anything", namespace=("nobody",))
        assert empty.items == [] and empty.guidance is None and empty.llm_calls == 0  # no call for nothing


def test_without_a_model_the_guidance_is_extractive(tmp_path: Path) -> None:
    _filled(tmp_path / "m")
    with PlugMem.open(tmp_path / "m", POLICY) as mem:
        r = mem.reason("How do I renew my parking permit?", namespace=NS)
        assert mem.stats().llm_calls == {}
    g = r.guidance
    assert g is not None and not g.llm
    assert "city portal" in g.text and "m5" in g.source_ids
    best = max(r.items, key=lambda it: it.score)
    assert best.id in g.item_ids


def test_a_failing_model_falls_back_to_extractive_and_is_counted(tmp_path: Path) -> None:
    _filled(tmp_path / "m")
    llm = FakeListChatModel(responses=["no idea", "still no idea"])
    with PlugMem.open(tmp_path / "m", POLICY, llms={"reason": llm}) as mem:
        r = mem.reason("How do I renew my parking permit?", namespace=NS, mode="fast")
        outcomes = mem.stats().llm_outcomes["reason"]
    assert r.guidance is not None and not r.guidance.llm and "city portal" in r.guidance.text
    assert outcomes == {"retried": 1, "fallbacks": 1} and r.llm_calls == 2


def test_a_cut_answer_is_retried_with_half_the_items(tmp_path: Path) -> None:
    _filled(tmp_path / "m")
    seen = Seen()
    cut = AIMessage(
        content='{"relevant": true, "guidance": "Log in to the', response_metadata={"finish_reason": "length"}
    )
    good = AIMessage(content='{"relevant": true, "guidance": "Log in to the city portal.", "used": [1]}')
    llm = GenericFakeChatModel(messages=iter([cut, good]), callbacks=[seen])
    with PlugMem.open(tmp_path / "m", POLICY, llms={"reason": llm}) as mem:
        r = mem.reason("How do I renew my parking permit?", namespace=NS, mode="fast")
        outcomes = mem.stats().llm_outcomes["reason"]
    first, second = (str(p[-1].content) for p in seen.prompts)
    assert first.count("\n[") > second.count("\n[") >= 0
    assert r.guidance is not None and r.guidance.llm and outcomes == {"parsed": 1, "truncated": 1}


async def test_areason(tmp_path: Path) -> None:
    _filled(tmp_path / "m")
    mem = await PlugMem.aopen(tmp_path / "m", POLICY)
    try:
        r = await mem.areason("Any food constraints, like allergies?", namespace=NS)
    finally:
        await mem.aclose()
    assert r.guidance is not None and "peanuts" in r.guidance.text
