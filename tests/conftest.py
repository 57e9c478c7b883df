"""Shared fixtures: a real memory on disk with the real ONNX model when it is present."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
os.environ.setdefault("PLUGMEM_EMBEDDING_MODEL_DIR", str(SHARED / "models" / "all-MiniLM-L6-v2" / "onnx"))
DATA_DIR = Path(os.environ.get("PLUGMEM_DATA_DIR", str(SHARED / "data")))

from plugmem import MemoryPolicy, PlugMem  # noqa: E402  (after the model dir is set)


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
