"""Smoke test of the installed wheels, as a user gets them: `make wheel-smoke` runs it.

It runs with the python of a clean virtualenv into which only the built wheels (and their
locked dependencies) were installed, in isolated mode (`python -I`: no PYTHONPATH, no script
directory, no current directory on sys.path), from a temporary directory. So every import
below resolves to site-packages, never to this checkout; the first check makes sure of it.
It then goes through the public API, the LangGraph integration (a `create_agent` agent with the
middleware and the checkpointer) and the installed commands.

It cannot use the test suite's fixtures (they live in the source tree); the scripted chat model
is the one `plugmem demo` ships.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

os.environ.setdefault("PLUGMEM_MODEL_DOWNLOAD", "0")  # never reach for the network here

import plugmem_langgraph
import plugmem_mcp
from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig

import plugmem

NS = ("memories", "u42")
BIN = Path(sys.executable).parent
started = time.perf_counter()


def step(what: str) -> None:
    print(f"  ok  {what} ({time.perf_counter() - started:.1f} s)", flush=True)


def installed_from_wheels() -> None:
    prefix = Path(sys.prefix).resolve()
    for module in (plugmem, plugmem_langgraph, plugmem_mcp):
        file = Path(str(module.__file__)).resolve()
        assert file.is_relative_to(prefix) and "site-packages" in file.parts, f"{module.__name__} from {file}"
        assert (file.parent / "py.typed").is_file(), f"{module.__name__} has no py.typed"
        dist = metadata.distribution(module.__name__.replace("_", "-"))
        direct = json.loads(dist.read_text("direct_url.json") or "{}")
        assert not direct.get("dir_info", {}).get("editable"), f"{module.__name__} is an editable install"
    assert sys.flags.isolated, "run with python -I"
    repo = Path(__file__).resolve().parents[2]  # this checkout: nothing of it may be importable
    assert not any(Path(p or ".").resolve().is_relative_to(repo) for p in sys.path), sys.path
    assert not any(Path(p or ".").resolve() == Path.cwd().resolve() for p in sys.path), sys.path
    assert plugmem.__version__ == metadata.version("plugmem"), plugmem.__version__
    versions = {metadata.version(d) for d in ("plugmem", "plugmem-langgraph", "plugmem-mcp")}
    assert versions == {plugmem.__version__}, versions
    step(f"plugmem {plugmem.__version__}, plugmem-langgraph and plugmem-mcp imported from {prefix}")


def public_api(path: Path) -> None:
    from plugmem import MemoryPolicy, PlugMem, Recall

    with PlugMem.open(path, policy=MemoryPolicy(full_history_when_fits=False)) as mem:
        mem.add([{"role": "user", "content": "I moved to Lisbon in March", "id": "m1"}], namespace=NS)
        mem.add(
            [{"role": "user", "content": "My sister Ana works as a nurse in Porto", "id": "m2"}],
            namespace=NS,
            session_id="s2",
        )
        mem.flush(timeout=120)
        r = mem.recall("Where do I live?", namespace=NS, budget_tokens=500)
        assert isinstance(r, Recall) and "Lisbon" in r.context, r.context
        assert r.items and r.items[0].source_ids == ["m1"], r.items
        g = mem.reason("Where do I live?", namespace=NS).guidance
        assert g is not None and "m1" in g.source_ids, g
        stats = mem.stats(NS)
        assert stats.steps == 2 and stats.pending == 0 and stats.failures == 0, stats
        embedded = "embeddings" if mem.embeddings is not None else "no embedding model: lexical"
    step(
        f"PlugMem open/add/flush/recall/reason ({r.tier} tier, {r.tokens} tokens, {embedded}); {stats.propositions} facts, {stats.events} events"
    )


def langgraph_agent(path: Path) -> None:
    from langchain.agents import create_agent
    from plugmem_langgraph import PlugMemMiddleware, PlugMemSaver

    from plugmem import PlugMem
    from plugmem.cli.demo import ScriptedModel

    model = ScriptedModel(replies=["You live in Lisbon."])
    with PlugMem.open(path) as mem:
        saver = PlugMemSaver(mem)
        agent = create_agent(model, [], middleware=[PlugMemMiddleware(mem)], checkpointer=saver)
        config: RunnableConfig = {"configurable": {"thread_id": "t1", "user_id": "u42"}}
        out = agent.invoke({"messages": [HumanMessage("Remind me: where do I live?")]}, config)
        assert out["messages"][-1].content == "You live in Lisbon.", out["messages"]
        prompt = "\n".join(str(m.content) for m in model.prompts[-1])
        assert "I moved to Lisbon in March" in prompt, prompt  # the middleware gave the model the memory
        saver.flush()
        saver.close()
        mem.flush(timeout=120)
        said = [s.content for s in mem.steps(NS, session_id="t1")]
        assert "Remind me: where do I live?" in said and "You live in Lisbon." in said, said
    step("create_agent + PlugMemMiddleware + PlugMemSaver: memory reached the model, the turn reached memory")


def run(*args: str) -> str:
    done = subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def cli(path: Path, work: Path) -> None:
    assert all(c in run("plugmem", "--help") for c in ("search", "facts", "export", "inspect", "mcp"))
    hits = json.loads(
        run("plugmem", "search", "Where do I live?", "-n", "memories/u42", "--path", str(path), "--json")
    )
    assert "Lisbon" in json.dumps(hits), hits
    facts = json.loads(run("plugmem", "facts", "-n", "memories/u42", "--path", str(path), "--json"))
    assert "Lisbon" in json.dumps(facts), facts
    run("plugmem", "export", "--path", str(path), "-o", str(work / "memory.jsonl"))
    run("plugmem", "import", str(work / "memory.jsonl"), "--path", str(work / "copy"))
    copied = json.loads(
        run(
            "plugmem",
            "search",
            "Where do I live?",
            "-n",
            "memories/u42",
            "--path",
            str(work / "copy"),
            "--json",
        )
    )
    assert "Lisbon" in json.dumps(copied), copied
    run("plugmem", "inspect", "--path", str(path), "--html", str(work / "memory.html"))
    assert "Lisbon" in (work / "memory.html").read_text(encoding="utf-8")
    assert "--path" in run("plugmem", "mcp", "--help")
    assert "usage" in run("plugmem-mcp", "--help").lower()
    assert "demo finished" in run("plugmem", "demo")  # `make demo`, from the wheels
    step(
        "plugmem --help, search, facts, export, import, inspect --html, mcp --help, demo; plugmem-mcp --help"
    )


def main() -> None:
    print(f"wheel smoke test with {sys.executable}")
    installed_from_wheels()
    with tempfile.TemporaryDirectory(prefix="plugmem-smoke-") as tmp:
        work = Path(tmp)
        public_api(work / "memory")
        langgraph_agent(work / "memory")
        cli(work / "memory", work)
    print(f"wheel smoke test passed in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
