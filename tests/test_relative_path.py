"""A memory opened by a relative path stays where it was opened, even after the process changes directory.

Chroma keeps one client per path string per process: two memories opened as "./memory" from two
directories must not share (or write into) the first one's vector database.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from plugmem import PlugMem

NS = ("u",)


@pytest.mark.needs_model
def test_same_relative_path_in_two_directories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    monkeypatch.chdir(first)
    with PlugMem.open("./memory") as mem:
        mem.add([{"role": "user", "content": "I live in Porto", "id": "x"}], namespace=NS)
        mem.flush()
    monkeypatch.chdir(second)
    shutil.rmtree(first)  # e.g. a test's temporary folder, cleaned up
    with PlugMem.open("./memory") as mem:
        mem.add([{"role": "user", "content": "My cat is called Pimenta", "id": "y"}], namespace=NS)
        mem.flush()
        assert [it.source_ids for it in mem.recall("cat", namespace=NS, mode="fast").items][:1] == [["y"]]
    assert (second / "memory" / "chroma").is_dir() and not first.exists()
