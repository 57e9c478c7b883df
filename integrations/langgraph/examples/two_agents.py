"""Two agents, one memory, separate namespaces: `python integrations/langgraph/examples/two_agents.py`.

A researcher and a writer share a conversation (a LangGraph `StateGraph`) but each has
its own `MemoryPolicy` from `policies.yaml`: its own namespace, recall mode and budget.

- The researcher remembers research notes (`("research", user)`, fast tier, 120 tokens,
  ranked by relevance); the writer remembers how the user wants briefs written
  (`("writing", user)`, auto mode, 300 tokens).
- Each agent's memory node writes the model input to its own state key
  (`researcher_input` / `writer_input`), so neither agent ever sees the other's memory;
  the shared `messages` hold only the conversation.
- After the turn, each agent stores the user's message and its own reply in its own
  namespace (`memory_writer` with a `store_filter`).
- `apply_retention` forgets notes older than the policy's `retention_days`.

The chat models are scripted (no API key) and record what they were shown.
"""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, TypedDict, cast

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatResult
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from plugmem_langgraph.node import MemoryNode, is_memory_message, memory_writer
from plugmem_langgraph.policies import apply_retention, load_policies
from pydantic import Field

from plugmem import MemoryPolicy, PlugMem

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[3] / "shared"
os.environ.setdefault("PLUGMEM_EMBEDDING_MODEL_DIR", str(SHARED / "models" / "all-MiniLM-L6-v2" / "onnx"))
USER = "alice"


class ScriptedChatModel(GenericFakeChatModel):
    """Replies from a script and remembers each prompt it saw."""

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


class TeamState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    researcher_input: list[AnyMessage]  # written by the researcher's memory node
    writer_input: list[AnyMessage]  # written by the writer's memory node


def agent_node(name: str, model: ScriptedChatModel, system: str) -> Any:
    """A node that calls `model` on its own input key and adds a named reply to the conversation."""

    def run(state: TeamState, config: RunnableConfig) -> dict[str, Any]:
        inputs: list[AnyMessage] = cast(dict[str, Any], state).get(f"{name}_input") or state["messages"]
        prompt = [SystemMessage(system), *inputs]
        reply = model.invoke(prompt, config)
        return {"messages": [AIMessage(content=reply.content, name=name)]}

    return run


def seed(mem: PlugMem, policies: dict[str, MemoryPolicy]) -> None:
    """Earlier sessions: research notes for the researcher, style wishes for the writer."""
    now = mem.clock()
    research = policies["researcher"].resolve_namespace({"user_id": USER})
    writing = policies["writer"].resolve_namespace({"user_id": USER})
    mem.add(
        [
            {
                "role": "user",
                "content": "Collect what we know about the Nimbus home battery pilot.",
                "id": "r1",
            },
            {
                "role": "assistant",
                "content": "The Nimbus pilot in Braga ran 40 home batteries from March to June.",
                "id": "r2",
            },
            {"role": "assistant", "content": "Pilot households cut their peak grid use by 18%.", "id": "r3"},
            {"role": "user", "content": "Also note that the Lumen solar project slipped to Q3.", "id": "r4"},
        ],
        namespace=research,
        session_id="research-1",
        timestamp=now - timedelta(days=60),
    )
    mem.add(
        [{"role": "assistant", "content": "Draft numbers from the 2022 feasibility study.", "id": "r0"}],
        namespace=research,
        session_id="research-0",
        timestamp=now - timedelta(days=400),
    )
    mem.add(
        [
            {
                "role": "user",
                "content": "For briefs, use three short bullet points and no jargon.",
                "id": "w1",
            },
            {"role": "user", "content": "Sign off every brief with '— Team Nimbus'.", "id": "w2"},
        ],
        namespace=writing,
        session_id="writing-1",
        timestamp=now - timedelta(days=30),
    )


def own_messages(agent: str) -> Any:
    """Store the user's messages and this agent's own replies, not the other agent's."""
    return lambda m: isinstance(m, HumanMessage) or getattr(m, "name", None) == agent


def build_graph(
    mem: PlugMem, policies: dict[str, MemoryPolicy], researcher: ScriptedChatModel, writer: ScriptedChatModel
) -> Any:
    g = StateGraph(TeamState)
    g.add_node("researcher_memory", MemoryNode(mem, policies["researcher"], output="researcher_input"))
    g.add_node("researcher", agent_node("researcher", researcher, "You research facts for the team."))
    g.add_node("writer_memory", MemoryNode(mem, policies["writer"], output="writer_input"))
    g.add_node("writer", agent_node("writer", writer, "You write briefs for the user."))
    g.add_node(
        "remember_research",
        memory_writer(mem, policies["researcher"], store_filter=own_messages("researcher")),
    )
    g.add_node(
        "remember_writing", memory_writer(mem, policies["writer"], store_filter=own_messages("writer"))
    )
    g.add_edge(START, "researcher_memory")
    g.add_edge("researcher_memory", "researcher")
    g.add_edge("researcher", "writer_memory")
    g.add_edge("writer_memory", "writer")
    g.add_edge("writer", "remember_research")
    g.add_edge("remember_research", "remember_writing")
    g.add_edge("remember_writing", END)
    return g.compile()


def memory_in(prompt: list[BaseMessage]) -> SystemMessage | None:
    return next((m for m in prompt if isinstance(m, SystemMessage) and is_memory_message(m)), None)


def show_recall(agent: str, prompt: list[BaseMessage]) -> str:
    msg = memory_in(prompt)
    if msg is None:
        print(f"{agent} recalled nothing")
        return ""
    meta = msg.response_metadata["plugmem"]
    print(
        f"{agent} recalled from {tuple(meta['namespace'])} "
        f"({meta['tier']} tier: {meta['reason']}; {meta['tokens']} tokens):"
    )
    for line in str(msg.content).splitlines():
        if line.startswith("["):
            print(f"    {line}")
    return str(msg.content)


def main(
    path: str | Path | None = None, policies_file: str | Path = HERE / "policies.yaml"
) -> dict[str, Any]:
    policies = load_policies(policies_file)
    for name, pol in policies.items():
        print(
            f"policy {name}: namespace {pol.namespace}, mode {pol.mode}, budget {pol.budget_tokens} tokens, "
            f"roles {list(pol.store_roles)}, retention {pol.retention_days} days"
        )
    with tempfile.TemporaryDirectory(prefix="plugmem-team-") as tmp:
        mem = PlugMem.open(Path(path) if path else Path(tmp) / "memory")
        try:
            seed(mem, policies)
            namespaces = {name: pol.resolve_namespace({"user_id": USER}) for name, pol in policies.items()}
            for name, pol in policies.items():
                n = apply_retention(mem, pol, namespaces[name])
                print(f"retention: {name} forgot {n} message(s) older than {pol.retention_days} days")
            mem.flush()

            researcher = ScriptedChatModel(
                messages=iter(
                    ["Findings: 40 home batteries ran in Braga from March to June; peak grid use fell 18%."]
                )
            )
            writer = ScriptedChatModel(
                messages=iter(
                    [
                        "• 40 homes in Braga tried a Nimbus battery from March to June.\n"
                        "• They drew 18% less power from the grid at peak times.\n"
                        "• The pilot is a good basis for a wider rollout.\n"
                        "— Team Nimbus"
                    ]
                )
            )
            app = build_graph(mem, policies, researcher, writer)
            question = "Write a short brief on the Nimbus battery pilot results."
            print(f"\nuser: {question}\n")
            out = app.invoke(
                {"messages": [HumanMessage(question, id="q1")]},
                {"configurable": {"user_id": USER, "thread_id": "brief-1"}},
            )
            recalled = {
                "researcher": show_recall("researcher", researcher.seen[0]),
                "writer": show_recall("writer", writer.seen[0]),
            }
            print("\nconversation:")
            for m in out["messages"]:
                who = m.name or m.type
                text = str(m.content).replace("\n", "\n      ")
                print(f"  {who}: {text}")
            print(
                f"memory messages in the shared conversation: {sum(is_memory_message(m) for m in out['messages'])}"
            )

            mem.flush()
            stored: dict[str, list[str]] = {}
            for name, ns in namespaces.items():
                steps = mem.steps(ns)
                stored[name] = [s.content for s in steps]
                print(f"\n{name} memory {ns}: {len(steps)} messages")
                for s in steps:
                    print(f"    {s.role}{'/' + s.name if s.name else ''}: {s.content.splitlines()[0]}")
            return {"recalled": recalled, "stored": stored, "messages": out["messages"]}
        finally:
            mem.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
