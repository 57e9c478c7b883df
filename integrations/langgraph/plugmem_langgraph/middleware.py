"""`PlugMemMiddleware`: memory for agents built with `langchain.agents.create_agent`.

`create_agent` takes middleware instead of the `pre_model_hook` of the older
`create_react_agent`, so memory plugs in here through the middleware hooks:

- `before_model` recalls for the latest user message, within the policy's budget, and
  keeps the result in the agent state (`plugmem_recall`, visible in the agent's output,
  never in its input). It recalls once per user message: the model calls of a tool loop
  reuse it instead of searching again.
  With `reason=True` it calls `PlugMem.reason` instead: the memory message then opens with
  short guidance for the current step (the memory's "reason" model, or extractive without one).
- `wrap_model_call` hands the model one memory `SystemMessage` (right after the system
  prompt) for that call only. It never enters `state["messages"]`, so a checkpointer never
  saves it, memory never stores it, and turns never pile up stale copies.
- `after_agent` feeds the turn's new messages into memory once the answer is ready:
  only the durable append runs there; extraction and indexing run in plugmem's own
  worker. A watermark in the state (`plugmem_fed`, the id of the last message fed) makes
  each message fed once; ids make a repeated add a no-op anyway, so this is also safe
  beside `PlugMemSaver`, which feeds the same thread from its checkpoints (pass
  `store_messages=False` to leave feeding to the saver alone).

The namespace is the policy's template filled from the run's context (`context=` of
`invoke`, a dict, dataclass or pydantic model) over `config["configurable"]`, as the
pre-model hook does; `namespace=` fixes it instead. The session is the thread id.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Annotated, Any, NotRequired, TypedDict, cast

from langchain.agents.middleware import AgentMiddleware, AgentState, ModelRequest, ModelResponse
from langchain.agents.middleware.types import ModelCallResult, OmitFromInput, PrivateStateAttr
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langgraph.config import get_config
from langgraph.runtime import Runtime
from pydantic import BaseModel

from plugmem import (
    InvalidInputError,
    InvalidTypeError,
    MemoryPolicy,
    PlugMem,
    Recall,
    RecallMode,
    content_text,
    validate_namespace,
)
from plugmem_langgraph.node import (
    MEMORY_MESSAGE_PREFIX,
    MessageFilter,
    storable_messages,
    with_guidance_block,
    without_covered,
)
from plugmem_langgraph.policies import config_values, namespace_for

__all__ = ["MemoryRecallState", "PlugMemMiddleware", "PlugMemState"]


class MemoryRecallState(TypedDict):
    """What `before_model` recalled, kept in the state for `wrap_model_call` (and for the caller to see)."""

    for_message: str  # id of the user message it was recalled for
    context: str  # empty when nothing worth showing was found
    namespace: list[str]
    tier: str
    reason: str
    tokens: int
    source_ids: list[str]
    guidance: NotRequired[dict[str, Any] | None]  # `Guidance` as a dict, with reason=True


class PlugMemState(AgentState[Any]):
    """The agent state with the middleware's two keys."""

    plugmem_recall: NotRequired[Annotated[MemoryRecallState | None, OmitFromInput]]
    plugmem_fed: NotRequired[Annotated[str | None, PrivateStateAttr]]


def context_values(context: object) -> dict[str, Any]:
    """A run context (dict, dataclass, pydantic model or None) as the values a namespace template reads."""
    if context is None:
        return {}
    if isinstance(context, Mapping):
        return dict(context)
    if isinstance(context, BaseModel):
        return context.model_dump()
    if dataclasses.is_dataclass(context) and not isinstance(context, type):
        return {f.name: getattr(context, f.name) for f in dataclasses.fields(context)}
    return {k: v for k, v in vars(context).items() if not k.startswith("_")}


def _latest_human(messages: Sequence[BaseMessage]) -> HumanMessage | None:
    for m in reversed(messages):
        if isinstance(m, HumanMessage) and content_text(m.content, what="latest human message").strip():
            return m
    return None


def _leading_system_count(messages: Sequence[BaseMessage]) -> int:
    n = 0
    for m in messages:
        if not isinstance(m, SystemMessage):
            break
        n += 1
    return n


class PlugMemMiddleware(AgentMiddleware[PlugMemState, Any, Any]):
    """Recall before the model, feed memory after the agent (see the module docstring).

    Args:
        memory: the open `PlugMem`.
        policy: the agent's policy (namespace template, mode, budget, roles); default: the memory's.
        namespace: a fixed namespace instead of the policy template.
        budget_tokens, mode, k: override the policy for this agent.
        store_messages: feed the thread's new messages into memory after each run.
        store_filter: only feed messages it accepts.
        skip_in_prompt: leave out recalled items whose sources are all already in the conversation.
        reason: put `PlugMem.reason`'s guidance for the current step before the recalled context.
    """

    state_schema = PlugMemState

    def __init__(
        self,
        memory: PlugMem,
        policy: MemoryPolicy | None = None,
        *,
        namespace: Sequence[str] | None = None,
        budget_tokens: int | None = None,
        mode: RecallMode | None = None,
        k: int | None = None,
        store_messages: bool = True,
        store_filter: MessageFilter | None = None,
        skip_in_prompt: bool = True,
        reason: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(memory, PlugMem):
            raise InvalidTypeError(f"memory must be a PlugMem, got {type(memory).__name__}")
        if budget_tokens is not None and budget_tokens < 1:
            raise InvalidInputError(f"budget_tokens must be a positive integer, got {budget_tokens!r}")
        self.memory = memory
        self.policy = policy or memory.policy
        self.namespace = validate_namespace(namespace) if namespace is not None else None
        self.budget_tokens = budget_tokens
        self.mode = mode
        self.k = k
        self.store_messages = store_messages
        self.store_filter = store_filter
        self.skip_in_prompt = skip_in_prompt
        self.reason = reason

    def __repr__(self) -> str:
        return f"PlugMemMiddleware(policy={self.policy.name!r}, store_messages={self.store_messages})"

    @property
    def message_id(self) -> str:
        """The id of the memory message handed to the model (how `is_memory_message` knows it)."""
        return f"{MEMORY_MESSAGE_PREFIX}:{self.policy.name}"

    # -- where: namespace and session -------------------------------------------------------
    def _where(self, runtime: Runtime[Any]) -> tuple[tuple[str, ...], str | None]:
        configurable = config_values(get_config())
        values = {**configurable, **context_values(getattr(runtime, "context", None))}
        namespace = namespace_for(self.policy, {"configurable": values}, self.namespace)
        thread = configurable.get("thread_id")
        return namespace, str(thread) if thread not in (None, "") else None

    # -- before the model: recall once per user message ---------------------------------------
    def _question(self, state: PlugMemState) -> tuple[HumanMessage | None, bool]:
        """The user message to recall for, and whether the state already holds its recall."""
        human = _latest_human(state["messages"])
        held = state.get("plugmem_recall")
        return human, human is not None and held is not None and held["for_message"] == human.id

    def _recall_kwargs(self, namespace: tuple[str, ...]) -> dict[str, Any]:
        return {
            "namespace": namespace,
            "budget_tokens": self.budget_tokens or self.policy.budget_tokens,
            "mode": self.mode or self.policy.mode,
            "k": self.k,
            "policy": self.policy,
        }

    def _recall_state(
        self, state: PlugMemState, human: HumanMessage, namespace: tuple[str, ...], recall: Recall
    ) -> dict[str, Any]:
        in_prompt = {m.id for m in state["messages"] if m.id}
        if self.skip_in_prompt:
            context, sources, tokens = without_covered(recall, in_prompt, self.memory)
        else:
            context, sources, tokens = recall.context, recall.source_ids, recall.tokens
        guidance = recall.guidance if self.reason else None
        if guidance is not None:
            context = with_guidance_block(guidance, context)
            tokens = self.memory.tokens.count(context)
        held: MemoryRecallState = {
            "for_message": str(human.id),
            "context": context if context.strip() else "",
            "namespace": list(namespace),
            "tier": recall.tier,
            "reason": recall.reason,
            "tokens": tokens,
            "source_ids": sources,
        }
        if guidance is not None:
            held["guidance"] = guidance.model_dump()
        return {"plugmem_recall": held}

    def before_model(self, state: PlugMemState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        human, held = self._question(state)
        if human is None:
            return {"plugmem_recall": None} if state.get("plugmem_recall") else None
        if held:
            return None
        namespace, _ = self._where(runtime)
        text = content_text(human.content, what="latest human message").strip()
        ask = self.memory.reason if self.reason else self.memory.recall
        recall = ask(text, **self._recall_kwargs(namespace))
        return self._recall_state(state, human, namespace, recall)

    async def abefore_model(self, state: PlugMemState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        human, held = self._question(state)
        if human is None:
            return {"plugmem_recall": None} if state.get("plugmem_recall") else None
        if held:
            return None
        namespace, _ = self._where(runtime)
        text = content_text(human.content, what="latest human message").strip()
        ask = self.memory.areason if self.reason else self.memory.arecall
        recall = await ask(text, **self._recall_kwargs(namespace))
        return self._recall_state(state, human, namespace, recall)

    # -- the model call: one memory message, for this call only ---------------------------------
    def _with_memory(self, request: ModelRequest[Any]) -> ModelRequest[Any]:
        held = cast("MemoryRecallState | None", request.state.get("plugmem_recall"))
        if not held or not held["context"]:
            return request
        memo = SystemMessage(
            id=self.message_id,
            content=held["context"],
            response_metadata={"plugmem": {"agent": self.policy.name, **held}},
        )
        msgs = list(request.messages)
        lead = _leading_system_count(msgs)
        return request.override(messages=[*msgs[:lead], memo, *msgs[lead:]])

    def wrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], ModelResponse[Any]],
    ) -> ModelCallResult[Any]:
        return handler(self._with_memory(request))

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelCallResult[Any]:
        return await handler(self._with_memory(request))

    # -- after the agent: feed what is new, once ----------------------------------------------
    def _unfed(self, state: PlugMemState) -> tuple[list[BaseMessage], str | None]:
        """Messages after the watermark that memory keeps, and the new watermark."""
        msgs = state["messages"]
        if not msgs:
            return [], None
        ids = [m.id for m in msgs]
        fed = state.get("plugmem_fed")
        start = ids.index(fed) + 1 if fed is not None and fed in ids else 0
        new = storable_messages(self.memory, self.policy, msgs[start:], self.store_filter)
        return new, msgs[-1].id

    def after_agent(self, state: PlugMemState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        if not self.store_messages:
            return None
        new, mark = self._unfed(state)
        if new:
            namespace, thread = self._where(runtime)
            self.memory.add(new, namespace=namespace, session_id=thread)
        return {"plugmem_fed": mark} if mark != state.get("plugmem_fed") else None

    async def aafter_agent(self, state: PlugMemState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        if not self.store_messages:
            return None
        new, mark = self._unfed(state)
        if new:
            namespace, thread = self._where(runtime)
            await self.memory.aadd(new, namespace=namespace, session_id=thread)
        return {"plugmem_fed": mark} if mark != state.get("plugmem_fed") else None
