"""Command line: `plugmem demo`, `plugmem recall`, `plugmem stats`, `plugmem add`."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypedDict

from plugmem.memory import PlugMem
from plugmem.namespace import validate_namespace

DEMO_SESSIONS: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "2024-03-02T09:15:00",
        [
            ("user", "Hi! I'm Maya. I just moved to Lisbon for a new job at a robotics startup."),
            ("assistant", "Welcome to Lisbon, Maya! What will you work on at the startup?"),
            ("user", "Motion planning for warehouse robots. My manager is called Tiago."),
            ("assistant", "Sounds exciting. Anything you need help with while settling in?"),
            ("user", "I'm allergic to peanuts, so I need restaurants that take allergies seriously."),
        ],
    ),
    (
        "2024-03-09T18:40:00",
        [
            ("user", "I adopted a cat last weekend, she's called Pimenta."),
            ("assistant", "Lovely name! How is Pimenta settling in?"),
            ("user", "Great, though she keeps knocking over my plants."),
            ("user", "Also: I started learning Portuguese on Tuesdays and Thursdays."),
        ],
    ),
    (
        "2024-04-20T11:05:00",
        [
            ("user", "Update: I got promoted to tech lead of the planning team!"),
            ("assistant", "Congratulations! Is Tiago still your manager?"),
            ("user", "No, I now report to Inês, the VP of engineering."),
        ],
    ),
]

DEMO_QUESTIONS = [
    "Who is my manager?",
    "Any food constraints I should keep in mind when picking a restaurant?",
    "What's my cat's name and what does she do?",
    "When do I have Portuguese lessons?",
]


class DemoState(TypedDict):
    question: str
    memory: str
    answer: str
    sources: list[str]


def run_demo(path: Path | None = None, keep: bool = False) -> int:
    """A LangGraph agent that stores three sessions and answers from memory, offline."""
    from langgraph.graph import END, START, StateGraph

    from plugmem.policy import MemoryPolicy

    root = path or Path(tempfile.mkdtemp(prefix="plugmem-demo-"))
    ns = ("demo", "maya")
    print(f"plugmem demo — memory at {root} (SQLite + Chroma on disk, no server, no API key)\n")
    with PlugMem.open(root, policy=MemoryPolicy(budget_tokens=120, full_history_when_fits=False)) as mem:
        print(f"embeddings: {'all-MiniLM-L6-v2 (ONNX)' if not mem.lexical_only else 'none — lexical only'}")
        n = 0
        for i, (when, turns) in enumerate(DEMO_SESSIONS):
            start = datetime.fromisoformat(when).replace(tzinfo=UTC)
            msgs = [
                {
                    "role": r,
                    "content": c,
                    "id": f"s{i + 1}-m{j + 1}",
                    "timestamp": start + timedelta(minutes=j),
                }
                for j, (r, c) in enumerate(turns)
            ]
            n += len(mem.add(msgs, namespace=ns, session_id=f"session-{i + 1}"))
        mem.flush()
        st = mem.stats(ns)
        print(
            f"stored {n} messages in {st.sessions} sessions → {st.events} events, {st.propositions} facts, "
            f"{st.entities} entities, {st.summaries} summaries\n"
        )

        def recall_node(state: DemoState) -> dict[str, Any]:
            r = mem.recall(state["question"], namespace=ns)
            # the context is in time order (for the model); the stand-in answer wants relevance order
            best = sorted(r.items, key=lambda it: -it.score)[:3]
            return {"memory": "\n".join(it.text for it in best), "sources": r.source_ids}

        def answer_node(state: DemoState) -> dict[str, Any]:
            # No LLM here: the "agent" answers with the three most relevant recalled items.
            lines = state["memory"].splitlines()
            return {"answer": " | ".join(lines) if lines else "I don't remember."}

        g = StateGraph(DemoState)
        g.add_node("recall", recall_node)
        g.add_node("answer", answer_node)
        g.add_edge(START, "recall")
        g.add_edge("recall", "answer")
        g.add_edge("answer", END)
        agent = g.compile()
        for q in DEMO_QUESTIONS:
            out = agent.invoke({"question": q, "memory": "", "answer": "", "sources": []})
            r = mem.recall(q, namespace=ns)
            print(f"Q: {q}\n   tier={r.tier} tokens={r.tokens} latency={r.latency_ms:.1f} ms — {r.reason}")
            print(f"   memory → {out['answer']}\n   sources: {out['sources']}\n")
        st = mem.stats()
        print(f"recalls per tier: {st.recalls}")
    if not keep and path is None:
        shutil.rmtree(root, ignore_errors=True)
    print("demo finished")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="plugmem", description="Structured long-term memory for LLM agents.")
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demo", help="store a short conversation and recall from it (offline)")
    d.add_argument("--path", type=Path, default=None, help="memory directory (default: a temporary one)")
    d.add_argument("--keep", action="store_true", help="keep the memory directory")
    r = sub.add_parser("recall", help="recall from a memory directory")
    r.add_argument("path", type=Path)
    r.add_argument("query")
    r.add_argument("--namespace", "-n", required=True, help="slash-separated, e.g. users/u42")
    r.add_argument("--budget", type=int, default=None)
    r.add_argument("--mode", choices=["auto", "fast", "deep"], default=None)
    a = sub.add_parser("add", help="add messages from a JSON file (a list of {role, content, ...})")
    a.add_argument("path", type=Path)
    a.add_argument("file", type=Path)
    a.add_argument("--namespace", "-n", required=True)
    a.add_argument("--session", default=None)
    s = sub.add_parser("stats", help="counts and health of a memory directory")
    s.add_argument("path", type=Path)
    args = p.parse_args(argv)

    if args.cmd == "demo":
        return run_demo(args.path, args.keep)
    if args.cmd == "stats":
        with PlugMem.open(args.path) as mem:
            print(mem.stats().model_dump_json(indent=2))
        return 0
    ns = validate_namespace(tuple(args.namespace.split("/")))
    if args.cmd == "add":
        msgs = json.loads(args.file.read_text(encoding="utf-8"))
        with PlugMem.open(args.path) as mem:
            ids = mem.add(msgs, namespace=ns, session_id=args.session)
            mem.flush()
        print(json.dumps({"added": len(ids)}))
        return 0
    with PlugMem.open(args.path) as mem:
        res = mem.recall(args.query, namespace=ns, budget_tokens=args.budget, mode=args.mode)
    print(res.context)
    print(
        json.dumps({"tier": res.tier, "reason": res.reason, "tokens": res.tokens, "sources": res.source_ids}),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
