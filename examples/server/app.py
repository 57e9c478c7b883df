"""A LangGraph app whose memory lives on servers: PostgreSQL for the log, a Chroma server for vectors.

    PLUGMEM_DATABASE=postgresql://plugmem:plugmem@localhost:5432/plugmem \
    PLUGMEM_VECTORS=http://localhost:8000 python examples/server/app.py

What it shows, in two sessions of one user:

1. One `PlugMem.open(database, vectors=...)`: every worker of a deployment opens the same
   database and Chroma server, so any of them can serve any thread.
2. `PlugMemSaver` checkpoints the threads in that database and feeds their messages into
   memory; `PlugMemStore` keeps the app's own items (a user profile) there too.
3. Session 2 (a new thread, no chat history) answers from what memory recalls and from the
   profile the store finds by meaning.

Without the two variables it runs embedded (a `./memory` directory, vectors on disk), which
is what `python examples/server/app.py` does on a laptop. The answering node is plain Python so
the example needs no API key; put a chat model there in a real app.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, MessagesState, StateGraph
from plugmem_langgraph import PlugMemSaver, PlugMemStore

from plugmem import MemoryPolicy, PlugMem

POLICY = MemoryPolicy(name="assistant", namespace=("memories", "{user_id}"), budget_tokens=300)


def open_memory(default_dir: Path) -> PlugMem:
    """The memory the environment names: a PostgreSQL URL (or a directory), and a Chroma server or none."""
    database = os.environ.get("PLUGMEM_DATABASE") or str(default_dir)
    vectors = os.environ.get("PLUGMEM_VECTORS") or None
    print(f"memory: {database.split('@')[-1]} (vectors: {vectors or 'on disk beside it'})")
    return PlugMem.open(database, policy=POLICY, vectors=vectors)


def build_app(mem: PlugMem, saver: PlugMemSaver, store: PlugMemStore) -> Any:
    """One node: recall for the latest message, look the profile up, answer, remember what was said."""

    def respond(state: MessagesState, config: RunnableConfig) -> dict[str, list[AIMessage]]:
        user = config["configurable"]["user_id"]
        question = str(state["messages"][-1].content)
        if "remember" in question.lower():
            store.put(("profiles", user), "diet", {"text": "vegetarian, no fish"})
            return {"messages": [AIMessage("Noted. I will remember where you live and what you eat.")]}
        recalled = mem.recall(question, namespace=POLICY.resolve_namespace({"user_id": user}))
        profile = store.search(("profiles", user), query="what does the user eat?", limit=1)
        diet = profile[0].value["text"] if profile else "unknown"
        said = " | ".join(item.text.rstrip(".") for item in recalled.items[:3]) or "nothing yet"
        return {"messages": [AIMessage(f"From memory: {said}. Diet on file: {diet}.")]}

    graph = StateGraph(MessagesState)
    graph.add_node("respond", respond)
    graph.add_edge(START, "respond")
    graph.add_edge("respond", END)
    return graph.compile(checkpointer=saver, store=store)


def main(default_dir: Path | None = None) -> str:
    with tempfile.TemporaryDirectory(prefix="plugmem-server-example-") as tmp:
        mem = open_memory(default_dir or Path(tmp) / "memory")
        saver = PlugMemSaver(memory=mem, policy=POLICY)
        store = PlugMemStore(mem, index="auto")
        try:
            app = build_app(mem, saver, store)
            say = "I live in Lisbon and I'm vegetarian, please remember that."
            first = {"configurable": {"user_id": "alice", "thread_id": "alice-1"}}
            print("session 1:", app.invoke({"messages": [HumanMessage(say)]}, first)["messages"][-1].content)
            saver.flush()
            mem.flush()  # the thread's messages are now recallable from any worker
            second = {"configurable": {"user_id": "alice", "thread_id": "alice-2"}}
            ask = "Where do I live, and what should I cook tonight?"
            answer = str(app.invoke({"messages": [HumanMessage(ask)]}, second)["messages"][-1].content)
            print("session 2:", answer)
            return answer
        finally:
            saver.close()
            store.close()
            mem.close()


if __name__ == "__main__":
    sys.exit(0 if "Lisbon" in main() else 1)
