"""Shared fixtures: a real memory on disk with the real ONNX model when it is present.

The shared folder, the environment and the `needs_model` / `needs_data` skips are set up
by the repository's root `conftest.py`. Tests that touch vectors take `mem` (or `vectors`),
which runs them twice: vectors in Chroma on disk ("embedded", the default) and on a real
Chroma server started once per session ("server", the root conftest's `chroma_url`), so both
keep the same promises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from plugmem import MemoryPolicy, PlugMem

VECTOR_BACKENDS = ["embedded", "server"]


@pytest.fixture(params=VECTOR_BACKENDS)
def vectors(request: pytest.FixtureRequest) -> str | None:
    """`PlugMem.open(..., vectors=...)` for each backend: None (Chroma on disk) or a server URL."""
    if request.param == "embedded":
        return None
    url: str = request.getfixturevalue("chroma_url")
    return url


@pytest.fixture
def mem(memory_at: Callable[[str], str], vectors: str | None) -> Iterator[PlugMem]:
    m = PlugMem.open(memory_at("mem"), policy=MemoryPolicy(full_history_when_fits=False), vectors=vectors)
    yield m
    m.close()


@pytest.fixture
def lexical_mem(memory_at: Callable[[str], str]) -> Iterator[PlugMem]:
    m = PlugMem.open(memory_at("lex"), policy=MemoryPolicy(full_history_when_fits=False), embeddings=None)
    yield m
    m.close()
