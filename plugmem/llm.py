"""Asking a chat model for JSON, validated by a pydantic schema, with retries and usage accounting.

Why not `with_structured_output`: many chat models (and every scripted fake) lack it.
We prompt for JSON, strip the fences models like to add, validate, and on failure
retry with the error fed back so the model can correct itself. Every call is counted:
from the model's `usage_metadata` when it reports one, else with tiktoken.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel, ValidationError

from plugmem.errors import LLMOutputError
from plugmem.model import LLMUsage
from plugmem.tokens import TokenCounter

M = TypeVar("M", bound=BaseModel)
Validator = Callable[[Any], None]

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)
_counter: TokenCounter | None = None


class LLMJSONError(LLMOutputError):
    """Raised after the last retry; carries what the attempts cost so callers can still account for it."""

    def __init__(self, message: str, *, usage: LLMUsage, attempts: int, last_output: str) -> None:
        super().__init__(message)
        self.usage = usage
        self.attempts = attempts
        self.last_output = last_output


def _default_counter() -> TokenCounter:
    global _counter
    if _counter is None:
        _counter = TokenCounter()
    return _counter


def message_text(msg: BaseMessage) -> str:
    """Flatten a message's content (a string or content blocks) to text."""
    content = msg.content
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and isinstance(block.get("text"), str):
            parts.append(block["text"])
    return "".join(parts)


def extract_json(text: str) -> Any:
    """The JSON value in a model answer: fenced or bare, possibly with prose around it."""
    candidates: list[str] = [m.group(1).strip() for m in _FENCE.finditer(text)]
    candidates.append(text.strip())
    last_error: Exception | None = None
    for cand in candidates:
        if not cand:
            continue
        try:
            return json.loads(cand)
        except json.JSONDecodeError as exc:
            last_error = exc
        # prose around an object: decode from the first brace that parses
        decoder = json.JSONDecoder()
        for i, ch in enumerate(cand):
            if ch in "{[":
                try:
                    value, _ = decoder.raw_decode(cand[i:])
                    return value
                except json.JSONDecodeError as exc:
                    last_error = exc
    raise ValueError(f"no JSON value found ({last_error})" if last_error else "empty answer")


def usage_of(
    prompt: Sequence[BaseMessage], answer: BaseMessage, counter: TokenCounter | None = None
) -> LLMUsage:
    """Tokens of one call: the model's own report when present, else counted with tiktoken."""
    meta = getattr(answer, "usage_metadata", None) if isinstance(answer, AIMessage) else None
    if meta:
        return LLMUsage(
            calls=1,
            input_tokens=int(meta.get("input_tokens", 0)),
            output_tokens=int(meta.get("output_tokens", 0)),
        )
    tc = counter or _default_counter()
    return LLMUsage(
        calls=1,
        input_tokens=sum(tc.count(message_text(m)) for m in prompt),
        output_tokens=tc.count(message_text(answer)),
    )


def _parse(text: str, schema: type[M], validate: Validator | None) -> M:
    value = extract_json(text)
    model = schema.model_validate(value)
    if validate is not None:
        validate(model)
    return model


def _feedback(error: Exception) -> str:
    if isinstance(error, ValidationError):
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()[:8])
    else:
        detail = str(error)
    return (
        f"Your previous answer could not be used: {detail[:1500]}\n"
        "Answer again with only the corrected JSON object, no prose."
    )


def _failed(
    schema: type[BaseModel], attempts: int, error: Exception, usage: LLMUsage, last: str
) -> LLMJSONError:
    return LLMJSONError(
        f"{schema.__name__}: no valid JSON after {attempts} attempt(s): {error}",
        usage=usage,
        attempts=attempts,
        last_output=last,
    )


def invoke_json(
    llm: BaseChatModel,
    messages: Sequence[BaseMessage],
    schema: type[M],
    *,
    retries: int = 1,
    validate: Validator | None = None,
    counter: TokenCounter | None = None,
) -> tuple[M, LLMUsage]:
    """Call `llm` until its answer parses into `schema` (at most 1 + `retries` calls).

    `validate` may raise ValueError for checks a schema cannot express (ids that must
    exist); its message is fed back like a parse error. Raises `LLMJSONError` (an
    `LLMOutputError`) after the last attempt; transport errors propagate unchanged.
    """
    convo = list(messages)
    usage = LLMUsage()
    error: Exception = ValueError("no attempt made")
    text = ""
    for _ in range(retries + 1):
        answer = llm.invoke(convo)
        usage.add(usage_of(convo, answer, counter))
        text = message_text(answer)
        try:
            return _parse(text, schema, validate), usage
        except (ValueError, ValidationError) as exc:
            error = exc
            convo = [*convo, AIMessage(content=text), HumanMessage(content=_feedback(exc))]
    raise _failed(schema, retries + 1, error, usage, text)


async def ainvoke_json(
    llm: BaseChatModel,
    messages: Sequence[BaseMessage],
    schema: type[M],
    *,
    retries: int = 1,
    validate: Validator | None = None,
    counter: TokenCounter | None = None,
) -> tuple[M, LLMUsage]:
    """Async twin of `invoke_json`."""
    convo = list(messages)
    usage = LLMUsage()
    error: Exception = ValueError("no attempt made")
    text = ""
    for _ in range(retries + 1):
        answer = await llm.ainvoke(convo)
        usage.add(usage_of(convo, answer, counter))
        text = message_text(answer)
        try:
            return _parse(text, schema, validate), usage
        except (ValueError, ValidationError) as exc:
            error = exc
            convo = [*convo, AIMessage(content=text), HumanMessage(content=_feedback(exc))]
    raise _failed(schema, retries + 1, error, usage, text)
