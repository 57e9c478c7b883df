"""Shared fixtures: a real memory on disk with the real ONNX model when it is present.

The shared folder, the environment and the `needs_model` / `needs_data` skips are set up
by the repository's root `conftest.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from plugmem import MemoryPolicy, PlugMem


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
