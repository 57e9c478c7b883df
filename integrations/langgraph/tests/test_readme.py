"""The README's Python blocks run as written, in order, in one namespace.

Only `model` and `tools` are provided from outside (the README says they are the user's);
the model is scripted, so the test also shows what memory reached it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from _node_fixtures import REPO, ScriptedChatModel
from langchain_core.messages import AIMessage

README = REPO / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_readme_python_blocks_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    blocks = python_blocks(README.read_text())
    assert len(blocks) >= 3, "the README lost its examples"
    agents = [b for b in blocks if "create_agent(" in b]
    assert agents and "PlugMemMiddleware(mem)" in agents[0]  # the first agent example
    monkeypatch.chdir(tmp_path)  # "./memory" lands in a temporary folder
    model = ScriptedChatModel(responses=[AIMessage(content="You live in Lisbon.")])
    namespace: dict[str, Any] = {"model": model, "tools": []}
    try:
        for block in blocks:
            exec(compile(block, str(README), "exec"), namespace)  # the README is ours: run it as written
    finally:
        if "mem" in namespace:
            namespace["mem"].close()
    assert "Lisbon" in capsys.readouterr().out  # the first block's recall printed the fact
    prompt = "\n".join(str(m.content) for m in model.seen[-1])
    assert "I moved to Lisbon in March" in prompt  # the agent's model was given the memory
    assert (tmp_path / "memory").is_dir()
