"""Structured output that survives: native when the model has it, JSON otherwise, cut answers detected.

The models are scripted fakes from langchain_core; `ToolFake` adds tool calling the way real
providers do (bind_tools), so LangChain's own `with_structured_output` runs unchanged.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import FakeListChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel
from test_ingest_helpers import T0, chat

from plugmem.ingest.extract_llm import LLMExtractor
from plugmem.ingest.segment import segment
from plugmem.llm import (
    WINDOW_HEADROOM,
    LLMTruncatedError,
    finish_reason,
    invoke_structured,
    looks_cut,
    native_structured,
)
from plugmem.model import Event, Step
from plugmem.tokens import TokenCounter

EMPTY = '{"propositions": [], "prescriptions": [], "entities": [], "relations": [], "summaries": []}'


class Answer(BaseModel):
    city: str
    days: int


class Prompts(BaseCallbackHandler):
    def __init__(self) -> None:
        self.seen: list[list[BaseMessage]] = []

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], **kw: Any
    ) -> None:
        self.seen.extend(messages)


class ToolFake(GenericFakeChatModel):
    """A scripted model with tool calling, so `with_structured_output` works as for real providers."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


def _call(name: str, args: dict[str, Any]) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": "c1"}])


def test_native_structured_output_is_detected_and_used() -> None:
    assert native_structured(FakeListChatModel(responses=["x"]), Answer) is None  # no tool calling: JSON
    fake = ToolFake(messages=iter([_call("Answer", {"city": "Lisbon", "days": 3})]))
    assert native_structured(fake, Answer) is not None
    ans, usage = invoke_structured(fake, [HumanMessage("q")], Answer)
    assert ans == Answer(city="Lisbon", days=3)
    assert (usage.calls, usage.parsed, usage.retried, usage.truncated) == (1, 1, 0, 0)
    assert usage.output_tokens > 0  # the tool call's arguments are what the model wrote


def test_native_bad_answer_is_fed_back_then_fixed() -> None:
    rec = Prompts()
    fake = ToolFake(
        messages=iter([_call("Answer", {"city": "Lisbon"}), _call("Answer", {"city": "Lisbon", "days": 2})]),
        callbacks=[rec],
    )
    ans, usage = invoke_structured(fake, [HumanMessage("q")], Answer, retries=1)
    assert ans.days == 2 and (usage.calls, usage.parsed, usage.retried) == (2, 1, 1)
    feedback = str(rec.seen[1][-1].content)
    assert "days" in feedback and "Lisbon" in feedback  # the error and the previous answer, as text


def test_native_can_be_refused_for_json() -> None:
    fake = ToolFake(messages=iter(['{"city": "Oslo", "days": 1}']))
    ans, _ = invoke_structured(fake, [HumanMessage("q")], Answer, native=False)
    assert ans.city == "Oslo"


def test_cut_answers_are_detected_not_retried() -> None:
    assert looks_cut('{"a": [1, 2') and looks_cut('```json\n{"a": "un}finished')
    assert not looks_cut('{"a": "}"}') and not looks_cut("no json") and not looks_cut('{"a": 1} trailing')
    by_reason = AIMessage(content='{"city": "Lis', response_metadata={"finish_reason": "length"})
    assert finish_reason(by_reason) == "length"
    anthropic_style = AIMessage(content="{}", response_metadata={"stop_reason": "max_tokens"})
    assert finish_reason(anthropic_style) == "max_tokens"
    fake = GenericFakeChatModel(messages=iter([by_reason, '{"city": "Lisbon", "days": 3}']))
    with pytest.raises(LLMTruncatedError) as info:
        invoke_structured(fake, [HumanMessage("q")], Answer, retries=2)
    assert info.value.attempts == 1 and info.value.usage.truncated == 1  # one call, not three
    # an unclosed object is a cut answer even when the provider does not say so
    with pytest.raises(LLMTruncatedError):
        invoke_structured(
            FakeListChatModel(responses=['{"city": "Lisbon", "da']), [HumanMessage("q")], Answer
        )


def _events(n: int) -> tuple[list[Event], dict[str, Step]]:
    turns: list[Step] = []
    for i in range(n):
        turns += chat(
            [("Ana", f"I visited museum number {i} in Porto today, it was lovely."), ("Ben", "Nice.")],
            session=f"s{i}",
            prefix=f"x{i}-",
            start=T0 + timedelta(days=i),
        )
    return segment(turns, None), {s.id: s for s in turns}


def test_a_cut_batch_is_retried_as_two_halves() -> None:
    events, steps = _events(4)
    rec = Prompts()
    cut = '{"propositions": [{"statement": "Ana visited museum number'
    llm = FakeListChatModel(responses=[cut, EMPTY, EMPTY], callbacks=[rec])
    x = LLMExtractor(llm, batch_events=8).extract(events, steps)
    assert x.failures == []
    assert (x.usage.calls, x.usage.truncated, x.usage.parsed, x.usage.fallbacks) == (3, 1, 2, 0)
    halves = [str(p[-1].content) for p in rec.seen[1:]]
    assert all(f"Event {e.id}" in halves[0] for e in events[:2])
    assert all(f"Event {e.id}" in halves[1] for e in events[2:])
    assert not any(f"Event {e.id}" in halves[0] for e in events[2:])


def test_a_single_event_still_cut_falls_back_to_rules_and_is_counted() -> None:
    events, steps = _events(1)
    llm = FakeListChatModel(responses=['{"propositions": [{"statement": "Ana'])
    x = LLMExtractor(llm).extract(events, steps)
    [failure] = x.failures
    assert "cut" in failure.error and failure.event_ids == [events[0].id]
    assert (x.usage.truncated, x.usage.fallbacks) == (1, 1)
    assert any("museum" in k.statement for k in x.knowledge)  # the rules filled in


def test_batches_fit_the_models_window() -> None:
    events, steps = _events(6)
    counter = TokenCounter()
    sizer = LLMExtractor(FakeListChatModel(responses=["x"]))
    one, two = sizer.prompt_tokens(events[:1], steps), sizer.prompt_tokens(events[:2], steps)
    window = two + (two - one) // 2  # room for two events, not three
    rec = Prompts()
    llm = FakeListChatModel(responses=[EMPTY] * 6, callbacks=[rec], profile={"max_input_tokens": window})
    x = LLMExtractor(llm, batch_events=8).extract(events, steps)
    assert x.failures == [] and x.usage.calls == len(rec.seen) == 3
    for prompt in rec.seen:
        assert sum(counter.count(str(m.content)) for m in prompt) * WINDOW_HEADROOM <= window


def test_native_extraction_with_a_tool_calling_model() -> None:
    events, steps = _events(1)
    sid = events[0].step_ids[0]
    args = {
        "propositions": [{"statement": "Ana visited museum number 0 in Porto.", "source_ids": [sid]}],
        "summaries": [{"event_id": events[0].id, "summary": "Ana's museum visit."}],
    }
    fake = ToolFake(messages=iter([_call("ExtractionOut", args)]))
    x = LLMExtractor(fake).extract(events, steps)
    assert x.failures == [] and x.usage.parsed == 1
    assert [k.statement for k in x.knowledge] == ["Ana visited museum number 0 in Porto."]
    assert json.loads(json.dumps(x.event_summaries)) == {events[0].id: "Ana's museum visit."}
