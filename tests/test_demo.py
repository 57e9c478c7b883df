"""`make demo` runs `plugmem demo`: a create_agent agent with PlugMemMiddleware and a scripted model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from plugmem.cli.demo import QUESTIONS, run_demo


def test_demo_shows_memory_reaching_the_model_and_the_changed_city(tmp_path: Path, capsys: Any) -> None:
    assert run_demo(tmp_path / "demo") == 0
    out = capsys.readouterr().out
    facts = out.split("facts about it:", 1)[1].split("recall(", 1)[0]
    assert "superseded on 2024-06-20" in facts and "User lives in Lisbon" in facts
    assert any(line.strip().startswith("current") and "Porto" in line for line in facts.splitlines())
    blocks = dict(zip([q for _, q, _ in QUESTIONS], out.split("Q: ")[1:], strict=True))
    memory_of = {
        q: b.split("memory given to the model", 1)[1].split("agent:", 1)[0] for q, b in blocks.items()
    }
    assert "Porto" in memory_of["Where do I live?"]
    assert "Pimenta" in memory_of["What's my cat called?"]
    assert "demo finished" in out
