"""Asking a chat model for an answer that fits a pydantic schema, and surviving when it does not.

Two ways to ask, chosen per model:
- native structured output (`with_structured_output`, i.e. tool calling or a JSON schema the
  provider enforces) when the model has it: fewer broken answers, especially from small models;
- plain JSON otherwise (every scripted fake, many local models): we prompt for JSON, strip the
  fences models like to add and decode the first JSON value in the answer.
Either way the answer is validated (schema, then the caller's own checks such as "ids must
exist") and on failure the question is asked again with the error fed back. An answer cut at the
model's output limit (`finish_reason`/`stop_reason` says so, or the JSON just stops) is not
retried as is: `LLMTruncatedError` tells the caller to ask about less (a smaller batch).
Every call is counted, from the model's `usage_metadata` when it reports one, else with tiktoken,
and so is every outcome (parsed, retried, truncated), so no failure is silent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import Runnable
from pydantic import BaseModel, ValidationError

from plugmem.errors import LLMJSONError, LLMTruncatedError
from plugmem.model import LLMUsage
from plugmem.tokens import TokenCounter

M = TypeVar("M", bound=BaseModel)
Validator = Callable[[Any], None]

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)
# how providers say an answer hit the output limit (OpenAI/llama.cpp, Anthropic, Ollama, Gemini)
_CUT_REASONS = {"length", "max_tokens", "max_output_tokens", "model_length"}
# tiktoken counts fewer tokens than most local models' own tokenizers: leave this much headroom
# when checking that a prompt fits a model's window
WINDOW_HEADROOM = 1.3
_counter: TokenCounter | None = None


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


def finish_reason(msg: BaseMessage) -> str | None:
    """Why the model stopped, as its provider reports it (None when it does not say)."""
    meta = getattr(msg, "response_metadata", None) or {}
    for key in ("finish_reason", "stop_reason", "done_reason"):
        value = meta.get(key)
        if value:
            return str(value).lower()
    return None


def looks_cut(text: str) -> bool:
    """True when the text opens a JSON object or array that never closes (an answer cut mid-way)."""
    start = next((i for i, ch in enumerate(text) if ch in "{["), None)
    if start is None:
        return False
    depth, in_string, escaped = 0, False, False
    for ch in text[start:]:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return False
    return depth > 0


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
    out_text = message_text(answer)
    if isinstance(answer, AIMessage) and answer.tool_calls:
        out_text += json.dumps([c["args"] for c in answer.tool_calls])
    return LLMUsage(
        calls=1,
        input_tokens=sum(tc.count(message_text(m)) for m in prompt),
        output_tokens=tc.count(out_text),
    )


def native_structured(llm: BaseChatModel, schema: type[BaseModel]) -> Runnable[Any, Any] | None:
    """The model's own structured-output runnable (raw message included), or None if it has none.

    A model's profile may say it has none; otherwise we ask: chat models without tool
    calling (every scripted fake among them) refuse here with a RuntimeError subclass.
    """
    profile = getattr(llm, "profile", None) or {}
    if profile.get("structured_output") is False:
        return None
    try:
        return llm.with_structured_output(schema, include_raw=True)
    except (RuntimeError, ValueError, TypeError):
        return None


def _feedback(error: Exception, previous: str | None = None) -> str:
    if isinstance(error, ValidationError):
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()[:8])
    else:
        detail = str(error)
    shown = f"Your previous answer was: {previous[:1500]}\n" if previous else ""
    return (
        f"{shown}Your previous answer could not be used: {detail[:1500]}\n"
        "Answer again with only the corrected JSON object, no prose."
    )


class _Exchange(Generic[M]):
    """One question to a model, over its attempts: what to send next and what each answer was worth.

    Shared by the sync and async callers so both behave the same.
    """

    def __init__(
        self,
        llm: BaseChatModel,
        messages: Sequence[BaseMessage],
        schema: type[M],
        validate: Validator | None,
        counter: TokenCounter | None,
        native: bool | None,
    ) -> None:
        self.schema = schema
        self.validate = validate
        self.counter = counter
        self.convo = list(messages)
        self.usage = LLMUsage()
        self.structured = native_structured(llm, schema) if native is not False else None
        self.runnable: Runnable[Any, Any] = self.structured if self.structured is not None else llm
        self.attempts = 0
        self.error: Exception = ValueError("no attempt made")
        self.last = ""

    def _check(self, value: Any) -> M:
        model = self.schema.model_validate(value)
        if self.validate is not None:
            self.validate(model)
        return model

    def receive(self, out: Any) -> M | None:
        """The validated answer, or None to ask again; raises `LLMTruncatedError` on a cut answer."""
        self.attempts += 1
        if self.attempts > 1:
            self.usage.retried += 1
        raw = out["raw"] if self.structured is not None else out
        self.usage.add(usage_of(self.convo, raw, self.counter))
        self.last = message_text(raw)
        if isinstance(raw, AIMessage) and raw.tool_calls and not self.last:
            self.last = json.dumps(raw.tool_calls[0]["args"])
        try:
            if self.structured is not None:
                if out.get("parsing_error") is not None:
                    raise ValueError(str(out["parsing_error"]))
                if out.get("parsed") is None:
                    raise ValueError("the model returned no structured answer")
                result = self._check(out["parsed"])
            else:
                result = self._check(extract_json(self.last))
        except (ValueError, ValidationError) as exc:
            self.error = exc
            if finish_reason(raw) in _CUT_REASONS or looks_cut(self.last):
                self.usage.truncated += 1
                raise LLMTruncatedError(
                    f"{self.schema.__name__}: the answer was cut at the model's output limit "
                    f"({len(self.last)} characters); ask about less",
                    usage=self.usage,
                    attempts=self.attempts,
                    last_output=self.last,
                ) from exc
            if self.structured is not None:
                self.convo = [*self.convo, HumanMessage(content=_feedback(exc, self.last))]
            else:
                self.convo = [*self.convo, AIMessage(content=self.last), HumanMessage(content=_feedback(exc))]
            return None
        self.usage.parsed += 1
        return result

    def failed(self) -> LLMJSONError:
        return LLMJSONError(
            f"{self.schema.__name__}: no valid answer after {self.attempts} attempt(s): {self.error}",
            usage=self.usage,
            attempts=self.attempts,
            last_output=self.last,
        )


def invoke_structured(
    llm: BaseChatModel,
    messages: Sequence[BaseMessage],
    schema: type[M],
    *,
    retries: int = 1,
    validate: Validator | None = None,
    counter: TokenCounter | None = None,
    native: bool | None = None,
) -> tuple[M, LLMUsage]:
    """Ask `llm` until its answer fits `schema` (at most 1 + `retries` calls).

    `native=None` uses the model's structured output when it has one, else JSON; `False`
    forces JSON. `validate` may raise ValueError for checks a schema cannot express (ids that
    must exist); its message is fed back like a parse error. Raises `LLMTruncatedError` at the
    first cut answer and `LLMJSONError` (both `LLMOutputError`s) after the last attempt;
    transport errors propagate unchanged.
    """
    ex = _Exchange(llm, messages, schema, validate, counter, native)
    for _ in range(retries + 1):
        result = ex.receive(ex.runnable.invoke(ex.convo))
        if result is not None:
            return result, ex.usage
    raise ex.failed()


def max_input_tokens(llm: BaseChatModel) -> int | None:
    """The prompt size the model accepts, when its profile says (local models set it)."""
    profile = getattr(llm, "profile", None) or {}
    value = profile.get("max_input_tokens")
    return int(value) if isinstance(value, int) and value > 0 else None


def usage_counters(role: str, usage: LLMUsage) -> dict[str, int]:
    """The durable counters one role's usage adds to (`stats().llm_calls`, `llm_tokens`, `llm_outcomes`)."""
    counts = {
        f"llm.calls.{role}": usage.calls,
        f"llm.tokens.{role}": usage.tokens,
        f"llm.parsed.{role}": usage.parsed,
        f"llm.retried.{role}": usage.retried,
        f"llm.truncated.{role}": usage.truncated,
        f"llm.fallbacks.{role}": usage.fallbacks,
    }
    return {k: v for k, v in counts.items() if v}
