"""invoke_json: fences, retries with feedback, usage accounting, typed failure."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import FakeListChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel

from plugmem.errors import LLMJSONError, LLMOutputError
from plugmem.llm import extract_json
from plugmem.llm import invoke_structured as invoke_json
from plugmem.tokens import TokenCounter


class Answer(BaseModel):
    city: str
    days: int


class Recorder(BaseCallbackHandler):
    """Counts model calls and keeps the prompts the model actually received."""

    def __init__(self) -> None:
        self.prompts: list[list[BaseMessage]] = []

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], **kw: Any
    ) -> None:
        self.prompts.extend(messages)


def test_extract_json_variants() -> None:
    assert extract_json('```json\n{"a": 1}\n```') == {"a": 1}
    assert extract_json('Sure! Here it is: {"a": [1, 2]} hope that helps') == {"a": [1, 2]}
    assert extract_json("```\n[1, 2]\n```") == [1, 2]
    with pytest.raises(ValueError):
        extract_json("no json here")


def test_fenced_answer_parses_in_one_call() -> None:
    rec = Recorder()
    llm = FakeListChatModel(responses=['```json\n{"city": "Lisbon", "days": 3}\n```'], callbacks=[rec])
    ans, usage = invoke_json(llm, [HumanMessage("Where and how long?")], Answer, retries=2)
    assert ans == Answer(city="Lisbon", days=3)
    assert usage.calls == 1 == len(rec.prompts)
    counter = TokenCounter()
    assert usage.input_tokens == counter.count("Where and how long?")
    assert usage.output_tokens == counter.count('```json\n{"city": "Lisbon", "days": 3}\n```')


def test_retry_feeds_the_error_back() -> None:
    rec = Recorder()
    llm = FakeListChatModel(
        responses=['{"city": "Lisbon"}', '{"city": "Lisbon", "days": 3}'], callbacks=[rec]
    )
    ans, usage = invoke_json(llm, [HumanMessage("q")], Answer, retries=2)
    assert ans.days == 3 and usage.calls == 2
    second = rec.prompts[1]
    assert isinstance(second[-2], AIMessage) and second[-2].content == '{"city": "Lisbon"}'
    assert "days" in str(second[-1].content) and "could not be used" in str(second[-1].content)


def test_validator_errors_are_retried() -> None:
    def no_paris(a: Answer) -> None:
        if a.city == "Paris":
            raise ValueError("city must not be Paris")

    llm = FakeListChatModel(responses=['{"city": "Paris", "days": 1}', '{"city": "Rome", "days": 1}'])
    ans, usage = invoke_json(llm, [HumanMessage("q")], Answer, retries=1, validate=no_paris)
    assert ans.city == "Rome" and usage.calls == 2


def test_failure_after_retries_is_typed_and_carries_usage() -> None:
    llm = FakeListChatModel(responses=["nope", "still nope", "never"])
    with pytest.raises(LLMOutputError) as info:
        invoke_json(llm, [HumanMessage("q")], Answer, retries=2)
    err = info.value
    assert isinstance(err, LLMJSONError)
    assert err.attempts == 3 and err.usage.calls == 3 and err.last_output == "never"


def test_usage_metadata_is_preferred() -> None:
    msg = AIMessage(
        content='{"city": "Oslo", "days": 2}',
        usage_metadata={"input_tokens": 120, "output_tokens": 9, "total_tokens": 129},
    )
    llm = GenericFakeChatModel(messages=iter([msg]))
    _, usage = invoke_json(llm, [HumanMessage("q")], Answer)
    assert (usage.calls, usage.input_tokens, usage.output_tokens) == (1, 120, 9)
