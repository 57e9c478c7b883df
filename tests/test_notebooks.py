"""The notebooks run top to bottom offline, and the committed copies carry their outputs.

Re-execute and save them (after a change that alters their output) with:

    PLUGMEM_EMBEDDING_MODEL_DIR=../shared/models/all-MiniLM-L6-v2/onnx .venv/bin/python tests/test_notebooks.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat import NotebookNode

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"

# what each notebook must show, in its freshly executed outputs
EXPECTED = {
    "quickstart.ipynb": [
        "embedding model available: True",
        "dict messages stored as: ['c1', 'c2', 'c3']",
        "LangChain messages stored as: ['c4', 'c5', 'c6', 'c7', 'c8']",
        "tier: full | full history",
        "why: fast tier requested",
        "why: deep tier requested",
        "<memory>",
        "sources: ['c",
        " in session 2023-0",
        "recalls per tier:",
        "Luna still recalled: False",
        "forgot unknown id: 0",
        "closed",
    ],
    "langgraph_walkthrough.ipynb": [
        "assistant namespace for this run: ('memories', 'alice')",
        "agent 'writer': field 'budget_tokens'",
        "needs 'user_id' in the config",
        "MEMORY: <memory>",
        "memory message id: plugmem-memory:assistant:t1",
        "memory messages in state after 2 turns: 1",
        "search_memory -> ['query', 'budget_tokens']",
        "[save_memory]\nmem-",
        "Source message ids: ",
        "answer: Your half marathon is in Lisbon, in October.",
        "(ids: a1)",
        "memory given to the model mentions choir: True",
        "memory messages stored in the thread: 0",
        "forgotten: 1",
        "closed",
    ],
}


def execute(path: Path) -> NotebookNode:
    """Run a notebook in the venv's `python3` kernel with the repository root as working directory."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=300,
        resources={"metadata": {"path": str(REPO)}},
        record_timing=False,
    )
    client.execute()
    return nb


def outputs_text(nb: NotebookNode) -> str:
    parts: list[str] = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
            elif "data" in out:
                parts.append(str(out["data"].get("text/plain", "")))
    return "".join(parts)


def errors(nb: NotebookNode) -> list[str]:
    return [
        f"cell {i}: {out.get('ename')}: {out.get('evalue')}"
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]


NEEDS_MODEL = {"quickstart.ipynb"}  # it prints that the embedding model is available


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=[pytest.mark.needs_model] if n in NEEDS_MODEL else []) for n in sorted(EXPECTED)],
)
def test_notebook_runs_offline(name: str) -> None:
    nb = execute(NOTEBOOKS / name)
    assert errors(nb) == []
    text = outputs_text(nb)
    missing = [s for s in EXPECTED[name] if s not in text]
    assert not missing, f"{name} did not print {missing}"
    assert "Traceback" not in text


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_committed_notebook_has_outputs(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.get("execution_count") for c in code), "commit the executed notebook"
    assert errors(nb) == []
    text = outputs_text(nb)
    assert all(s in text for s in EXPECTED[name])


if __name__ == "__main__":
    for target in sys.argv[1:] or sorted(EXPECTED):
        p = NOTEBOOKS / target
        executed = execute(p)
        problems = errors(executed)
        if problems:
            raise SystemExit(f"{target}: {problems}")
        nbformat.write(executed, p)
        print(f"executed and saved {p.relative_to(REPO)}")
