"""`plugmem demo` (and `make demo`): a `create_agent` agent with `PlugMemMiddleware`, offline.

The chat model is scripted (no API key, no network), so what the demo shows is memory
itself: what the middleware hands the model before each answer, and what recall returns
after the user's city changed. It runs the same path a real agent would: LangChain's
`create_agent`, the middleware recalling before the model and feeding memory after it,
a checkpointer per conversation, plugmem's background worker building the graphs.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

USER = "maya"
# (when, thread, user says, the scripted assistant answers)
CONVERSATION: list[tuple[str, str, str, str]] = [
    (
        "2024-03-02T09:15:00",
        "s1",
        "Hi! I'm Maya. I live in Lisbon and I work on warehouse robots.",
        "Nice to meet you, Maya!",
    ),
    (
        "2024-03-02T09:16:00",
        "s1",
        "I'm allergic to peanuts, so keep that in mind for restaurants.",
        "Noted: no peanuts.",
    ),
    ("2024-03-09T18:40:00", "s2", "I adopted a cat last weekend, she's called Pimenta.", "Lovely name!"),
    (
        "2024-06-20T11:05:00",
        "s3",
        "Big news: I moved to Porto last week, I live in Porto now!",
        "Congratulations on the move to Porto!",
    ),
]
QUESTIONS: list[tuple[str, str, str]] = [
    ("2024-07-01T08:00:00", "Where do I live?", "You live in Porto (you moved there from Lisbon in June)."),
    ("2024-07-01T08:01:00", "Any food constraints for tonight's dinner?", "Yes: you're allergic to peanuts."),
    ("2024-07-01T08:02:00", "What's my cat called?", "Your cat is Pimenta."),
]
CITY_QUERY = "Where does Maya live?"


class ScriptedModel(BaseChatModel):
    """Answers with the next scripted reply and keeps every prompt it was given (to show the memory)."""

    replies: list[str]
    prompts: list[list[BaseMessage]] = Field(default_factory=list)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.prompts.append(list(messages))
        reply = self.replies[min(len(self.prompts), len(self.replies)) - 1]
        return ChatResult(generations=[ChatGeneration(message=AIMessage(reply))])

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedModel:
        return self

    @property
    def _llm_type(self) -> str:
        return "plugmem-demo-scripted"


class DemoClock:
    """The memory's clock, moved by the demo so each turn carries the date it was said on."""

    def __init__(self) -> None:
        self.now = datetime(2024, 3, 1, tzinfo=UTC)

    def set(self, iso: str) -> None:
        self.now = datetime.fromisoformat(iso).replace(tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _memory_lines(prompt: list[BaseMessage]) -> list[str]:
    from plugmem_langgraph import is_memory_message

    memo = [m for m in prompt if is_memory_message(m)]
    return str(memo[0].content).splitlines()[2:-1] if memo else []


def run_demo(path: Path | None = None, keep: bool = False) -> int:
    """Talk to an agent across four sessions, then ask it what it remembers."""
    from langchain.agents import create_agent
    from langgraph.checkpoint.memory import InMemorySaver
    from plugmem_langgraph import PlugMemMiddleware

    from plugmem.memory import PlugMem
    from plugmem.policy import MemoryPolicy

    root = path or Path(tempfile.mkdtemp(prefix="plugmem-demo-"))
    clock = DemoClock()
    print(f"plugmem demo: memory at {root} (SQLite + Chroma on disk, no server, no API key)")
    policy = MemoryPolicy(budget_tokens=160, full_history_when_fits=False)
    with PlugMem.open(root, policy=policy, clock=clock) as mem:
        print(
            f"embeddings: {'all-MiniLM-L6-v2 (ONNX)' if not mem.lexical_only else 'none, lexical recall (see above)'}"
        )
        print("agent: langchain create_agent + PlugMemMiddleware, a scripted chat model\n")
        replies = [a for *_, a in CONVERSATION] + [a for *_, a in QUESTIONS]
        model = ScriptedModel(replies=replies)
        agent = create_agent(model, [], middleware=[PlugMemMiddleware(mem)], checkpointer=InMemorySaver())
        for when, thread, said, _ in CONVERSATION:
            clock.set(when)
            out = _ask(agent, said, thread)
            print(f"[{when[:10]} {thread}] user: {said}\n{'':17}agent: {out['messages'][-1].content}")
        mem.flush()
        st = mem.stats(("memories", USER))
        print(
            f"\nmemory now holds {st.steps} messages in {st.sessions} sessions: {st.events} events, "
            f"{st.propositions} facts, {st.entities} entities\n"
        )
        _show_city_change(mem)
        for when, question, _ in QUESTIONS:
            clock.set(when)
            out = _ask(agent, question, "s4")
            held = out["plugmem_recall"]
            print(
                f"Q: {question}\n   memory given to the model ({held['tier']} tier, {held['tokens']} tokens):"
            )
            for line in _memory_lines(model.prompts[-1]) or ["(nothing)"]:
                print(f"     {line}")
            print(f"   agent: {out['messages'][-1].content}\n")
    if not keep and path is None:
        shutil.rmtree(root, ignore_errors=True)
    print("demo finished")
    return 0


def _ask(agent: Any, text: str, thread: str) -> dict[str, Any]:
    """One user turn; the run's config names the user (the namespace) and the conversation (the thread)."""
    out: dict[str, Any] = agent.invoke(
        {"messages": [HumanMessage(text)]}, {"configurable": {"user_id": USER, "thread_id": thread}}
    )
    return out


def _show_city_change(mem: Any) -> None:
    """The changed fact: the facts about the city (old one closed, new one current) and what recall returns."""
    from plugmem.views import MemoryInspector

    print("the user's city changed; facts about it:")
    for f in MemoryInspector(mem).facts(("memories", USER)):
        if any(city in f["statement"] for city in ("Lisbon", "Porto")) and f["statement"].startswith("User"):
            until = f" on {f['valid_until'][:10]}" if f["valid_until"] else ""
            print(f"   {f['status']:<10}{until:<14} {f['statement']}  (from {', '.join(f['source_ids'])})")
    r = mem.recall(CITY_QUERY, namespace=("memories", USER), budget_tokens=200, mode="fast")
    print(f"recall({CITY_QUERY!r}): {r.tier} tier, {r.tokens} tokens, {r.latency_ms:.1f} ms")
    for it in r.items:
        when = it.timestamp.date().isoformat() if it.timestamp else "-"
        print(f"   {when}  {it.kind:<9} {it.text}")
    print()


def command(args: argparse.Namespace) -> int:
    return run_demo(args.path, args.keep)
