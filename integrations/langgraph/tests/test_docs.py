"""The documentation's guides run as written: every Python block of every page, in order, in one namespace.

A page is read as the site shows it, with the README sections it includes expanded by the
same code the docs build uses (`docs/includes.py`), so what readers copy is what runs here.
What the guides call yours is provided from outside, as in the README test: `model` (a scripted
chat model that records what it was shown), `tools`, `checkpointer`, `get_weather`, `config`,
`graph` (an uncompiled StateGraph), `prompt` and `format_docs`. A `yaml` block whose first line
is `# <file name>` is written to that file first, since the next block reads it.

A `bash` block made only of `plugmem` commands runs too, with bash -e, in a folder holding the
quickstart's memory (`./memory`, namespace `memories/u42`, message `m1`), as the pages assume.
Other `bash` blocks install (`pip`, `make`) or run the examples (tests/test_examples.py runs
those); `py` blocks (the README's `reason` examples, one of which needs the local model) are
run by tests/test_readme_reason.py.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _node_fixtures import REPO, ScriptedChatModel
from langchain_core.messages import AIMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from plugmem_langgraph import PlugMemSaver

from plugmem import PlugMem

DOCS = REPO / "docs"
BLOCK = re.compile(r"^```(?P<lang>\w+)\n(?P<code>.*?)^```", re.DOTALL | re.MULTILINE)


def _includes() -> Any:
    spec = importlib.util.spec_from_file_location("plugmem_docs_includes", DOCS / "includes.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


NOT_GUIDES = {"CONTRACTS.md", "NOTES.md"}  # contributors' notes: their blocks are signatures, not programs


def pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if p.name not in NOT_GUIDES)


def blocks(page: Path) -> list[tuple[str, str]]:
    text = _includes().expand(page.read_text(encoding="utf-8"))
    return [(m["lang"], m["code"]) for m in BLOCK.finditer(text)]


def runs(page: Path, lang: str) -> bool:
    return any(b_lang == lang and (lang != "bash" or is_cli(code)) for b_lang, code in blocks(page))


def is_cli(code: str) -> bool:
    commands = [line for line in code.splitlines() if line.strip() and not line.startswith("#")]
    return bool(commands) and all(line.startswith("plugmem ") for line in commands)


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}."


def yours(model: ScriptedChatModel) -> dict[str, Any]:
    """What the guides leave to the reader."""
    graph = StateGraph(MessagesState)
    graph.add_node("model", lambda s: {"messages": [model.invoke(s["messages"])]})
    graph.add_edge(START, "model")
    graph.add_edge("model", END)
    return {
        "model": model,
        "tools": [],
        "checkpointer": InMemorySaver(),
        "get_weather": get_weather,
        "config": {"configurable": {"user_id": "alice", "thread_id": "t9"}},
        "graph": graph,
        "prompt": ChatPromptTemplate.from_template("Context: {context}\nQuestion: {question}"),
        "format_docs": lambda docs: "\n".join(d.page_content for d in docs),
    }


def test_every_guide_with_code_is_found() -> None:
    assert {p.stem for p in pages() if runs(p, "python")} >= {"quickstart", "langgraph", "policies"}
    assert {p.stem for p in pages() if runs(p, "bash")} >= {"operations", "upgrading"}


def page_id(page: Path) -> str:
    return str(page.relative_to(DOCS))


@pytest.mark.needs_model  # the guides show recall with the embedding model (the retriever example finds by meaning)
@pytest.mark.parametrize("page", [p for p in pages() if runs(p, "python")], ids=page_id)
def test_guide_python_blocks_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = [(lang, c) for lang, c in blocks(page) if lang in ("python", "yaml")]
    monkeypatch.chdir(tmp_path)  # "./memory" and written files land in a temporary folder
    model = ScriptedChatModel(responses=[AIMessage(content="Noted.")])
    namespace = yours(model)
    try:
        for n, (lang, c) in enumerate(code):
            if lang == "yaml":
                first = c.splitlines()[0]
                if first.startswith("# ") and first.endswith((".yaml", ".yml")):
                    Path(first[2:].strip()).write_text(c, encoding="utf-8")
                continue
            exec(
                compile(c, f"{page.relative_to(REPO)} (block {n + 1})", "exec"), namespace
            )  # our docs: run as written
    finally:  # savers drain into their memory, so they close first
        for value in list(namespace.values()):
            if isinstance(value, PlugMemSaver):
                value.close()
        for value in list(namespace.values()):
            if isinstance(value, PlugMem):
                value.close()
    if page.stem in ("quickstart", "langgraph"):
        assert model.seen, "the page's agent never called its model"


@pytest.mark.needs_model  # `plugmem model status` exits 1 when the model is missing, as it should
@pytest.mark.parametrize("page", [p for p in pages() if runs(p, "bash")], ids=page_id)
def test_guide_cli_blocks_run(page: Path, tmp_path: Path) -> None:
    with PlugMem.open(tmp_path / "memory") as mem:  # the quickstart's memory
        mem.add(
            [{"role": "user", "content": "I moved to Lisbon in March", "id": "m1"}],
            namespace=("memories", "u42"),
        )
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PLUGMEM_PATH", None)
    for code in (c for lang, c in blocks(page) if lang == "bash" and is_cli(c)):
        done = subprocess.run(
            ["bash", "-e", "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"{page_id(page)}:\n{code}\n{done.stdout}\n{done.stderr}"
        assert "Error" not in done.stderr, done.stderr
