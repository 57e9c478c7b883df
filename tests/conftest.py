"""Shared fixtures: a real memory on disk with the real ONNX model when it is present."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from plugmem import MemoryPolicy, PlugMem

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
os.environ.setdefault("PLUGMEM_EMBEDDING_MODEL_DIR", str(SHARED / "models" / "all-MiniLM-L6-v2" / "onnx"))
DATA_DIR = Path(os.environ.get("PLUGMEM_DATA_DIR", str(SHARED / "data")))

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


@pytest.fixture
def mem(tmp_path: Path) -> Iterator[PlugMem]:
    m = PlugMem.open(tmp_path / "mem", policy=MemoryPolicy(full_history_when_fits=False))
    yield m
    m.close()


@pytest.fixture
def lexical_mem(tmp_path: Path) -> Iterator[PlugMem]:
    m = PlugMem.open(tmp_path / "lex", policy=MemoryPolicy(full_history_when_fits=False), embeddings=None)
    yield m
    m.close()
