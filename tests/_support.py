"""Test data helpers shared by the core tests."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

T0 = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)


def conv(*texts: str, start: datetime = T0, prefix: str = "m") -> list[dict[str, object]]:
    """Alternating user/assistant dict messages one minute apart, ids m1, m2, …"""
    return [
        {
            "role": "user" if i % 2 == 0 else "assistant",
            "content": t,
            "id": f"{prefix}{i + 1}",
            "timestamp": start + timedelta(minutes=i),
        }
        for i, t in enumerate(texts)
    ]


def data_dir() -> Path:
    """The shared benchmark data folder (`$PLUGMEM_DATA_DIR`, set by the root conftest)."""
    return Path(os.environ["PLUGMEM_DATA_DIR"])


# one short conversation whose facts change (Lisbon, then Porto): the CLI tests read it back
TALK = conv(
    "I live in Lisbon and work as a nurse.",
    "Nice, Lisbon is lovely.",
    "My sister Ana has a beagle called Biscuit.",
    "Biscuit is a great name.",
    "Update: I moved to Porto last week.",
    "Good luck in Porto!",
)


def run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    """`plugmem ARGV` in-process: exit code, stdout, stderr."""
    from plugmem.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def as_json(capsys: Any, *argv: str) -> Any:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)
