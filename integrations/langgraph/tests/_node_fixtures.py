"""Helpers for the retriever, tools, node, policies and example tests.

A real `PlugMem` on disk (with the MiniLM ONNX model when it is present), a scripted
chat model that records what it was shown, and small conversation builders.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableConfig
from pydantic import Field

from plugmem import MemoryPolicy, PlugMem
from plugmem.index.embeddings import default_embeddings

REPO = Path(__file__).resolve().parents[3]

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
CFG: RunnableConfig = {"configurable": {"user_id": "u1", "thread_id": "t1"}}
NS = ("memories", "u1")


def conv(*texts: str, prefix: str = "m", start: datetime = T0) -> list[dict[str, Any]]:
    """Alternating user/assistant dict messages a minute apart, ids m1, m2, …"""
    return [
        {
            "role": "user" if i % 2 == 0 else "assistant",
            "content": t,
            "id": f"{prefix}{i + 1}",
            "timestamp": start + timedelta(minutes=i),
        }
        for i, t in enumerate(texts)
    ]


FACTS = conv(
    "I am allergic to peanuts, keep that in mind for recipes.",
    "Noted: no peanuts in anything I suggest.",
    "My sister Ana lives in Porto and works as a nurse.",
    "Good to know about Ana.",
    "I drive a blue Fiat Panda.",
    "A blue Panda, got it.",
)


@functools.cache
def shared_embeddings() -> Embeddings | None:
    """plugmem's default embedder (MiniLM ONNX when on disk), loaded once per test session."""
    return default_embeddings()


def open_memory(path: Path | str, **policy: Any) -> PlugMem:
    """A real PlugMem on disk; the embedding model is shared so each open stays cheap."""
    return PlugMem.open(
        path, policy=MemoryPolicy(**policy) if policy else None, embeddings=shared_embeddings()
    )


def ranked_memory(tmp_path: Path) -> Iterator[PlugMem]:
    """For a `mem` fixture: recall always ranks (no full-history shortcut), so budgets matter."""
    m = open_memory(tmp_path / "mem", full_history_when_fits=False)
    try:
        yield m
    finally:
        m.close()


def seed(mem: PlugMem, namespace: Sequence[str] = NS) -> PlugMem:
    mem.add(FACTS, namespace=namespace, session_id="s0")
    mem.flush()
    return mem


class ScriptedChatModel(BaseChatModel):
    """Answers from a script (cycling on the last reply) and records every prompt."""

    responses: list[AIMessage]
    seen: list[list[BaseMessage]] = Field(default_factory=list)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.seen.append(list(messages))
        reply = self.responses[min(len(self.seen), len(self.responses)) - 1]
        return ChatResult(generations=[ChatGeneration(message=reply.model_copy())])

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:
        return self

    @property
    def _llm_type(self) -> str:
        return "scripted"


def text_of(messages: Sequence[BaseMessage]) -> str:
    return "\n".join(str(m.content) for m in messages)
