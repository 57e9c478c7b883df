"""Shared fixtures: a real memory on disk with the real ONNX model when it is present.

The shared folder, the environment and the `needs_model` / `needs_data` skips are set up
by the repository's root `conftest.py`. Tests that touch vectors take `mem` (or `vectors`),
which runs them twice: vectors in Chroma on disk ("embedded", the default) and on a real
Chroma server started once per session ("server"), so both keep the same promises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from _chroma_server import chroma_command, chroma_server

from plugmem import MemoryPolicy, PlugMem

VECTOR_BACKENDS = ["embedded", "server"]


@pytest.fixture(scope="session")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a Chroma server (`chroma run`) that lives as long as the test session."""
    command = chroma_command()
    if command is None:
        pytest.skip("the `chroma` command (shipped with the chromadb package) is not installed")
    with chroma_server(command, tmp_path_factory.mktemp("chroma-server") / "data") as url:
        yield url


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
