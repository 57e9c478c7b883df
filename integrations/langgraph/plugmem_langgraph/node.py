"""`MemoryNode`: recall memory for the user's latest message and put it in front of the model.

Use it (a) as a graph node before the model (`output="messages"`), or (b) as the
`pre_model_hook` of `langgraph.prebuilt.create_react_agent` (`output="llm_input_messages"`),
or (c) with any other state key holding the model's input (e.g. one per agent).

Why the state update looks the way it does:

- `output="messages"` keeps one memory `SystemMessage` per agent and thread, with a fixed
  id (`plugmem-memory:<policy>:<thread>`). The first time it is added right after the
  leading system messages (one `REMOVE_ALL_MESSAGES` rewrite, because `add_messages` can
  only append); afterwards the same id makes `add_messages` replace it in place, so turns
  never pile up stale memory messages. When recall finds nothing, the old one is removed.
- `output="llm_input_messages"` (and any other key) never touches `messages`: the hook
  hands the model `[*leading system messages, memory, *rest]` for this call only, which
  is the contract of `create_react_agent`'s `pre_model_hook`.
- Items whose every source message is already in the prompt are dropped from the
  rendered context: they would only repeat the conversation the model already sees.

With `reason=True` the node calls `PlugMem.reason` instead of `recall`: the memory message then
opens with short guidance for the current step (written by the memory's "reason" model, or the
best recalled facts and procedure steps without one), followed by the recalled context.

With `store_messages=True` the node also logs the thread's messages (roles allowed by the
policy, memory messages excluded) so memory builds up without a checkpointer. Ids make
that idempotent: a message already stored with the same content is a no-op.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.messages import (
    BaseMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
)
from langchain_core.runnables import Runnable, RunnableConfig, ensure_config
from langgraph.graph.message import REMOVE_ALL_MESSAGES

from plugmem import (
    Guidance,
    InvalidInputError,
    InvalidTypeError,
    MemoryPolicy,
    PlugMem,
    Recall,
    RecallMode,
    content_text,
    validate_namespace,
)
from plugmem_langgraph.messages import (
    MEMORY_MESSAGE_PREFIX,
    MessageFilter,
    is_memory_message,
    storable_message,
)
from plugmem_langgraph.policies import config_values, namespace_for

__all__ = [
    "MEMORY_MESSAGE_PREFIX",
    "MemoryNode",
    "is_memory_message",
    "memory_node",
    "memory_pre_model_hook",
    "memory_writer",
    "storable_messages",
]


def _messages_of(state: Any) -> list[BaseMessage]:
    """`state["messages"]` for dict states, `.messages` for pydantic/dataclass states, or a bare list."""
    if isinstance(state, Mapping):
        raw = state.get("messages")
    elif isinstance(state, Sequence) and not isinstance(state, (str, bytes)):
        raw = state
    else:
        raw = getattr(state, "messages", None)
    if raw is None:
        raise InvalidInputError("MemoryNode needs a state with a 'messages' list (e.g. MessagesState)")
    msgs = list(raw)
    bad = [type(m).__name__ for m in msgs if not isinstance(m, BaseMessage)]
    if bad:
        raise InvalidInputError(f"MemoryNode expects LangChain messages in state['messages'], got {bad[:3]}")
    return msgs


def storable_messages(
    memory: PlugMem,
    policy: MemoryPolicy,
    messages: Sequence[BaseMessage],
    store_filter: MessageFilter | None = None,
) -> list[BaseMessage]:
    """Messages of roles the agent's policy keeps, with content, not memory messages, in the form
    memory keeps them (`plugmem_langgraph.messages.storable_message`: derived ids, cut when too long).
    """
    out: list[BaseMessage] = []
    for m in messages:
        item = storable_message(
            m, store_roles=policy.store_roles, max_chars=memory.policy.max_message_chars, keep=store_filter
        )
        if item is not None:
            out.append(item.message)
    return out


def latest_human_text(messages: Sequence[BaseMessage]) -> str | None:
    for m in reversed(messages):
        if isinstance(m, HumanMessage):
            text = content_text(m.content, what="latest human message").strip()
            if text:
                return text
    return None


def _leading_system_count(messages: Sequence[BaseMessage]) -> int:
    n = 0
    for m in messages:
        if not isinstance(m, SystemMessage):
            break
        n += 1
    return n


def without_covered(recall: Recall, in_prompt: set[str], memory: PlugMem) -> tuple[str, list[str], int]:
    """Drop items whose sources are all already in the prompt; keep core's rendering of the rest.

    Core renders one line per item between a two-line header and a footer; if that shape
    ever changes, the context is kept whole rather than guessed at.
    """
    keep = [not (it.source_ids and set(it.source_ids) <= in_prompt) for it in recall.items]
    sources = [s for it, k in zip(recall.items, keep, strict=True) if k for s in it.source_ids]
    if all(keep):
        return recall.context, list(dict.fromkeys(sources)), recall.tokens
    if not any(keep):
        return "", [], 0
    lines = recall.context.split("\n")
    if len(lines) != len(recall.items) + 3:
        return recall.context, recall.source_ids, recall.tokens
    body = [line for line, k in zip(lines[2:-1], keep, strict=True) if k]
    text = "\n".join([*lines[:2], *body, lines[-1]])
    return text, list(dict.fromkeys(sources)), memory.tokens.count(text)


def with_guidance_block(guidance: Guidance | None, context: str) -> str:
    """The recalled context with the guidance before it, marked as memory, with the message ids it rests on."""
    if guidance is None:
        return context
    how = "written by the memory's reason model" if guidance.llm else "the best recalled facts"
    sources = f"\n(sources: {', '.join(guidance.source_ids)})" if guidance.source_ids else ""
    block = f"<memory-guidance>\nGuidance for this step from memory ({how}):\n{guidance.text}{sources}\n</memory-guidance>"
    return block + ("\n" + context if context.strip() else "")


@dataclass(slots=True)
class _Turn:
    """What one call of the node works on, resolved from state and config."""

    messages: list[BaseMessage]
    namespace: tuple[str, ...]
    thread: str | None
    query: str | None
    to_store: list[BaseMessage]


class MemoryNode(Runnable[Any, dict[str, Any]]):
    """Recalls for the latest HumanMessage within the policy's budget and injects it as a SystemMessage.

    Args:
        memory: the open `PlugMem`.
        policy: the agent's policy (namespace template, mode, budget, roles); default: the memory's.
        namespace: a fixed namespace instead of the policy template.
        output: the state key to write: `"messages"` (graph node), `"llm_input_messages"`
            (`create_react_agent` pre-model hook), or any key holding a model input list.
        store_messages: also log the thread's messages into memory (idempotent by id).
        store_filter: only store messages it accepts (e.g. one agent's own in a shared thread).
        budget_tokens, mode, k: override the policy for this node.
        skip_in_prompt: leave out recalled items whose sources are all already in the prompt.
        recall: set False for a node that only stores (see `memory_writer`).
        reason: put `PlugMem.reason`'s guidance for the current step before the recalled context.
    """

    def __init__(
        self,
        memory: PlugMem,
        policy: MemoryPolicy | None = None,
        *,
        namespace: Sequence[str] | None = None,
        output: str = "messages",
        store_messages: bool = False,
        store_filter: MessageFilter | None = None,
        budget_tokens: int | None = None,
        mode: RecallMode | None = None,
        k: int | None = None,
        skip_in_prompt: bool = True,
        recall: bool = True,
        reason: bool = False,
        name: str | None = None,
    ) -> None:
        if not isinstance(memory, PlugMem):
            raise InvalidTypeError(f"memory must be a PlugMem, got {type(memory).__name__}")
        if not output or not isinstance(output, str):
            raise InvalidInputError("output must be a state key such as 'messages' or 'llm_input_messages'")
        if budget_tokens is not None and budget_tokens < 1:
            raise InvalidInputError(f"budget_tokens must be a positive integer, got {budget_tokens!r}")
        self.memory = memory
        self.policy = policy or memory.policy
        self.namespace = validate_namespace(namespace) if namespace is not None else None
        self.output = output
        self.store_messages = store_messages
        self.store_filter = store_filter
        self.budget_tokens = budget_tokens
        self.mode = mode
        self.k = k
        self.skip_in_prompt = skip_in_prompt
        self.recall = recall
        self.reason = reason
        if reason and not recall:
            raise InvalidInputError("reason=True needs recall=True: guidance is drawn from what is recalled")
        if not recall and not store_messages:
            raise InvalidInputError(
                "a MemoryNode with recall=False must store messages (store_messages=True)"
            )
        self.name = name or f"plugmem_memory_{self.policy.name}"

    def __repr__(self) -> str:
        return f"MemoryNode(policy={self.policy.name!r}, output={self.output!r}, store_messages={self.store_messages})"

    # -- the parts -------------------------------------------------------------------
    def message_id(self, thread: str | None) -> str:
        """The fixed id of this node's memory message in one thread."""
        return f"{MEMORY_MESSAGE_PREFIX}:{self.policy.name}:{thread or 'default'}"

    def _turn(self, state: Any, config: RunnableConfig | None) -> _Turn:
        conf = ensure_config(config)
        messages = _messages_of(state)
        thread = config_values(conf).get("thread_id")
        return _Turn(
            messages=messages,
            namespace=namespace_for(self.policy, conf, self.namespace),
            thread=str(thread) if thread not in (None, "") else None,
            query=latest_human_text(messages) if self.recall else None,
            to_store=self._storable(messages) if self.store_messages else [],
        )

    def _storable(self, messages: Sequence[BaseMessage]) -> list[BaseMessage]:
        return storable_messages(self.memory, self.policy, messages, self.store_filter)

    def _recall_kwargs(self, turn: _Turn) -> dict[str, Any]:
        return {
            "namespace": turn.namespace,
            "budget_tokens": self.budget_tokens or self.policy.budget_tokens,
            "mode": self.mode or self.policy.mode,
            "k": self.k,
            "policy": self.policy,
        }

    def _memory_message(self, turn: _Turn, recall: Recall) -> SystemMessage | None:
        in_prompt = {m.id for m in turn.messages if m.id and not is_memory_message(m)}
        in_prompt.update(m.id for m in turn.to_store if m.id)
        if self.skip_in_prompt:
            context, sources, tokens = without_covered(recall, in_prompt, self.memory)
        else:
            context, sources, tokens = recall.context, recall.source_ids, recall.tokens
        guidance = recall.guidance if self.reason else None
        if guidance is not None:
            context = with_guidance_block(guidance, context)
            tokens = self.memory.tokens.count(context)
        if not context.strip():
            return None
        meta: dict[str, Any] = {
            "agent": self.policy.name,
            "namespace": list(turn.namespace),
            "tier": recall.tier,
            "reason": recall.reason,
            "tokens": tokens,
            "source_ids": sources,
        }
        if guidance is not None:
            meta["guidance"] = guidance.model_dump()
        return SystemMessage(
            id=self.message_id(turn.thread), content=context, response_metadata={"plugmem": meta}
        )

    def _update(self, turn: _Turn, memory_msg: SystemMessage | None) -> dict[str, Any]:
        if not self.recall:
            return {}
        mid = self.message_id(turn.thread)
        msgs = turn.messages
        if self.output != "messages":
            rest = [m for m in msgs if m.id != mid]
            if memory_msg is None:
                return {self.output: rest}
            lead = _leading_system_count(rest)
            return {self.output: [*rest[:lead], memory_msg, *rest[lead:]]}
        present = any(m.id == mid for m in msgs)
        if memory_msg is None:
            return {"messages": [RemoveMessage(id=mid)]} if present else {}
        if present:
            return {"messages": [memory_msg]}
        lead = _leading_system_count(msgs)
        return {"messages": [RemoveMessage(id=REMOVE_ALL_MESSAGES), *msgs[:lead], memory_msg, *msgs[lead:]]}

    # -- running -----------------------------------------------------------------------
    def _run(
        self, state: Any, run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> dict[str, Any]:
        turn = self._turn(state, config)
        msg = None
        if turn.query is not None:
            ask = self.memory.reason if self.reason else self.memory.recall
            msg = self._memory_message(turn, ask(turn.query, **self._recall_kwargs(turn)))
        if turn.to_store:
            self.memory.add(
                turn.to_store, namespace=turn.namespace, session_id=turn.thread, on_conflict="replace"
            )
        return self._update(turn, msg)

    async def _arun(
        self, state: Any, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig
    ) -> dict[str, Any]:
        turn = self._turn(state, config)
        msg = None
        if turn.query is not None:
            ask = self.memory.areason if self.reason else self.memory.arecall
            recall = await ask(turn.query, **self._recall_kwargs(turn))
            msg = self._memory_message(turn, recall)
        if turn.to_store:
            await self.memory.aadd(
                turn.to_store, namespace=turn.namespace, session_id=turn.thread, on_conflict="replace"
            )
        return self._update(turn, msg)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        return self._call_with_config(self._run, input, config, run_type="chain")

    async def ainvoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        return await self._acall_with_config(self._arun, input, config, run_type="chain")


def memory_node(
    memory: PlugMem,
    policy: MemoryPolicy | None = None,
    *,
    store_messages: bool = False,
    **kwargs: Any,
) -> MemoryNode:
    """A graph node that keeps one up-to-date memory SystemMessage in `state["messages"]`."""
    return MemoryNode(memory, policy, output="messages", store_messages=store_messages, **kwargs)


def memory_pre_model_hook(
    memory: PlugMem,
    policy: MemoryPolicy | None = None,
    *,
    store_messages: bool = False,
    **kwargs: Any,
) -> MemoryNode:
    """A `pre_model_hook` for `create_react_agent`: memory goes into `llm_input_messages` only."""
    return MemoryNode(memory, policy, output="llm_input_messages", store_messages=store_messages, **kwargs)


def memory_writer(
    memory: PlugMem,
    policy: MemoryPolicy | None = None,
    *,
    store_filter: MessageFilter | None = None,
    **kwargs: Any,
) -> MemoryNode:
    """A node that only stores the thread's messages (e.g. after the model, or as `post_model_hook`).

    A recalling node stores what came before the model's reply; this one, placed after the
    model, stores the reply in the same turn instead of the next one.
    """
    return MemoryNode(memory, policy, recall=False, store_messages=True, store_filter=store_filter, **kwargs)
