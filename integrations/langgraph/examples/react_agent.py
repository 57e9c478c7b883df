"""A ReAct agent with long-term memory, offline: `python integrations/langgraph/examples/react_agent.py`.

What it shows:

1. `create_react_agent` with a weather tool, plugmem's `search_memory` / `save_memory`
   tools, and plugmem's memory as the `pre_model_hook` (recalled for the user's latest
   message and handed to the model, without piling up in the thread's messages).
2. Session 1 (thread t1): the user says where they live and what they eat; the model
   saves both with `save_memory`.
3. Session 2 (a new thread t2, so no chat history): the model is given the recalled
   memory before it answers, looks the weather up for the remembered city and searches
   memory for the diet.

The chat model is scripted (no API key): a `GenericFakeChatModel` whose `bind_tools`
returns itself and which records every prompt it was shown, so the output proves what
memory reached it. The checkpointer is plugmem's `PlugMemSaver` when the package has
it (then the thread's messages also flow into memory); otherwise LangGraph's
`InMemorySaver`, and the memory hook stores the messages itself.
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatResult
from langchain_core.tools import tool
from plugmem_langgraph.node import is_memory_message, memory_pre_model_hook, memory_writer
from plugmem_langgraph.tools import create_memory_tools
from pydantic import Field

from plugmem import MemoryPolicy, PlugMem

SHARED = Path(__file__).resolve().parents[4] / "shared"
os.environ.setdefault("PLUGMEM_EMBEDDING_MODEL_DIR", str(SHARED / "models" / "all-MiniLM-L6-v2" / "onnx"))


class ScriptedChatModel(GenericFakeChatModel):
    """Replies from a script (tool calls, then answers) and remembers each prompt it saw."""

    seen: list[list[BaseMessage]] = Field(default_factory=list)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.seen.append(list(messages))
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:
        # the script already holds the tool calls; binding changes nothing
        return self


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    canned = {"lisbon": "sunny, 24°C", "porto": "light rain, 17°C"}
    return f"{city}: {canned.get(city.lower(), 'clear, 20°C')}"


def script() -> Iterator[AIMessage]:
    """What the fake model says, call by call, across both sessions."""
    # session 1: save two memories, then acknowledge
    yield AIMessage(
        content="",
        tool_calls=[
            {
                "name": "save_memory",
                "args": {"content": "The user lives in Lisbon.", "kind": "fact"},
                "id": "call_save_city",
            },
            {
                "name": "save_memory",
                "args": {"content": "The user is vegetarian.", "kind": "preference"},
                "id": "call_save_diet",
            },
        ],
    )
    yield AIMessage(content="Noted: you live in Lisbon and you are vegetarian. I'll remember that.")
    # session 2: weather for the remembered city, and a memory search for the diet
    yield AIMessage(
        content="",
        tool_calls=[
            {"name": "get_weather", "args": {"city": "Lisbon"}, "id": "call_weather"},
            {"name": "search_memory", "args": {"query": "dietary preference"}, "id": "call_search"},
        ],
    )
    yield AIMessage(
        content="It's sunny and 24°C in Lisbon: perfect for dinner outside. "
        "Since you're vegetarian, try a grilled vegetable plate with açorda."
    )


def make_checkpointer(mem: PlugMem, policy: MemoryPolicy) -> tuple[Any, bool]:
    """PlugMemSaver when available (it feeds thread messages into memory), else InMemorySaver."""
    try:
        from plugmem_langgraph.checkpoint import PlugMemSaver
    except ImportError:
        from langgraph.checkpoint.memory import InMemorySaver

        print("checkpointer: InMemorySaver (plugmem_langgraph.checkpoint is not available)")
        return InMemorySaver(), False
    print("checkpointer: PlugMemSaver (thread messages are fed into memory)")
    return PlugMemSaver(memory=mem, policy=policy), True


def build_agent(mem: PlugMem, policy: MemoryPolicy, model: ScriptedChatModel) -> Any:
    from langgraph.prebuilt import create_react_agent
    from langgraph.warnings import LangGraphDeprecatedSinceV10

    checkpointer, saver_feeds_memory = make_checkpointer(mem, policy)
    # recall before every model call; store the thread after it (unless the saver already does)
    hook = memory_pre_model_hook(mem, policy)
    writer = None if saver_feeds_memory else memory_writer(mem, policy)
    tools = [get_weather, *create_memory_tools(mem, policy=policy)]
    with warnings.catch_warnings():
        # LangGraph 1.x points to langchain.agents.create_agent; the prebuilt agent still works
        warnings.simplefilter("ignore", LangGraphDeprecatedSinceV10)
        return create_react_agent(
            model,
            tools,
            pre_model_hook=hook,
            post_model_hook=writer,
            checkpointer=checkpointer,
            prompt="You are a helpful assistant with long-term memory.",
        )


def show_turn(title: str, messages: Sequence[BaseMessage]) -> None:
    print(f"\n=== {title} ===")
    for m in messages:
        if isinstance(m, HumanMessage):
            print(f"user: {m.content}")
        elif isinstance(m, AIMessage) and m.tool_calls:
            for c in m.tool_calls:
                print(f"model -> {c['name']}({c['args']})")
        elif isinstance(m, ToolMessage):
            lines = [
                ln
                for ln in str(m.content).splitlines()
                if ln.strip() and not ln.startswith(("<", "Recalled"))
            ]
            more = f" (+{len(lines) - 3} more lines)" if len(lines) > 3 else ""
            print(f"tool {m.name}: {' | '.join(lines[:3])}{more}")
        elif isinstance(m, AIMessage):
            print(f"model: {m.content}")


def show_memory_seen(model: ScriptedChatModel, since: int) -> None:
    """Print the memory message of each prompt the model received since call `since`."""
    for i, prompt in enumerate(model.seen[since:], start=since + 1):
        mem_msgs = [m for m in prompt if isinstance(m, SystemMessage) and is_memory_message(m)]
        if not mem_msgs:
            print(f"model call {i}: no memory in the prompt")
            continue
        meta = mem_msgs[0].response_metadata["plugmem"]
        lines = [ln for ln in str(mem_msgs[0].content).splitlines() if ln.startswith("[")]
        print(
            f"model call {i}: memory ({meta['tier']} tier, {meta['tokens']} tokens, sources {meta['source_ids']}):"
        )
        for ln in lines:
            print(f"    {ln}")


def main(path: str | Path | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="plugmem-react-") as tmp:
        mem = PlugMem.open(Path(path) if path else Path(tmp) / "memory")
        try:
            # tool results are not worth remembering here: the policy keeps user and assistant turns
            policy = MemoryPolicy(
                name="assistant",
                namespace=("memories", "{user_id}"),
                budget_tokens=400,
                store_roles=("user", "assistant"),
            )
            model = ScriptedChatModel(messages=script())
            agent = build_agent(mem, policy, model)
            user = {"user_id": "alice"}
            print(
                f"memory at {mem.path}; namespace template {policy.namespace} -> {policy.resolve_namespace(user)}"
            )

            first = {"configurable": {**user, "thread_id": "t1"}}
            out1 = agent.invoke(
                {
                    "messages": [
                        HumanMessage("Hi! I live in Lisbon and I'm vegetarian, please remember that.")
                    ]
                },
                first,
            )
            show_turn("session 1 (thread t1)", out1["messages"])
            saved = [
                m.content for m in out1["messages"] if isinstance(m, ToolMessage) and m.name == "save_memory"
            ]
            print(f"saved memory ids: {saved}")

            flush_feed = getattr(agent.checkpointer, "flush", None)
            if callable(flush_feed):
                flush_feed()  # PlugMemSaver feeds in the background: let session 1 reach memory
            mem.flush()
            calls_before = len(model.seen)
            second = {"configurable": {**user, "thread_id": "t2"}}
            out2 = agent.invoke(
                {"messages": [HumanMessage("What's the weather like at home? Any dinner idea?")]}, second
            )
            show_turn("session 2 (new thread t2, no chat history)", out2["messages"])
            print("\nwhat the model was given from memory in session 2:")
            show_memory_seen(model, calls_before)

            leaked = [m.id for m in out2["messages"] if is_memory_message(m)]
            print(
                f"\nmemory messages kept in the thread state: {len(leaked)} (the hook only feeds the model)"
            )
            ns = policy.resolve_namespace(user)
            stats = mem.stats(ns)
            print(f"stats for {ns}: {stats.steps} steps, {stats.sessions} sessions, recalls {stats.recalls}")
            return {
                "saved_ids": saved,
                "answer": out2["messages"][-1].content,
                "prompts": model.seen,
                "steps": stats.steps,
                "leaked": leaked,
            }
        finally:
            mem.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
