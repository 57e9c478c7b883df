"""`make demo` runs `python -m plugmem demo`: its answers must come from memory, each question's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from plugmem.cli import DEMO_QUESTIONS, run_demo


def test_demo_answers_each_question_from_memory(tmp_path: Path, capsys: Any) -> None:
    assert run_demo(tmp_path / "demo") == 0
    out = capsys.readouterr().out
    answers = dict(zip(DEMO_QUESTIONS, out.split("Q: ")[1:], strict=True))
    expected = ["Inês", "peanuts", "Pimenta", "Tuesdays and Thursdays"]
    for (question, block), word in zip(answers.items(), expected, strict=True):
        answer = block.split("memory →", 1)[1].split("\n", 1)[0]
        assert word in answer, f"{question!r} was answered with {answer!r}"
    assert "demo finished" in out
