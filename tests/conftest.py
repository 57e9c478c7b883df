"""Shared fixtures: a real memory on disk with the real ONNX model when it is present.

The shared folder, the environment and the `needs_model` / `needs_data` skips are set up
by the repository's root `conftest.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from plugmem import MemoryPolicy, PlugMem


@pytest.fixture
def mem(memory_at: Callable[[str], str]) -> Iterator[PlugMem]:
    m = PlugMem.open(memory_at("mem"), policy=MemoryPolicy(full_history_when_fits=False))
    yield m
    m.close()


@pytest.fixture
def lexical_mem(memory_at: Callable[[str], str]) -> Iterator[PlugMem]:
    m = PlugMem.open(memory_at("lex"), policy=MemoryPolicy(full_history_when_fits=False), embeddings=None)
    yield m
    m.close()
