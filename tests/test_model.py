"""The embedding model installs itself: found, fetched through chromadb's downloader, or one clear warning.

The offline tests run for real: this machine has no network to the model host, so the
download is attempted and fails. HOME points at a temporary folder, so nothing is ever
written to the real `~/.cache/chroma`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from plugmem import ModelDownloadError, PlugMem
from plugmem.cli import main
from plugmem.index.embeddings import (
    MODEL_ENV,
    REQUIRED_FILES,
    chroma_model_home,
    fetch_model,
    find_model_dir,
    host_reachable,
    model_download_url,
)


@pytest.fixture
def no_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A machine without the model: empty HOME, no env var, automatic download on (as for a user)."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv(MODEL_ENV, raising=False)
    monkeypatch.setenv("PLUGMEM_MODEL_DOWNLOAD", "1")
    if host_reachable(model_download_url()):
        pytest.skip("the model host is reachable from here, so the offline path cannot be exercised")
    return home


def test_offline_open_warns_once_how_to_get_the_model(no_model: Path, tmp_path: Path, caplog: Any) -> None:
    assert find_model_dir() is None and chroma_model_home().is_relative_to(no_model)
    with caplog.at_level(logging.WARNING, logger="plugmem"), PlugMem.open(tmp_path / "mem") as mem:
        assert mem.lexical_only
        mem.add([{"role": "user", "content": "My dog is called Rex.", "id": "m1"}], namespace=("u",))
        assert "Rex" in mem.recall("dog's name Rex", namespace=("u",)).context  # lexical recall still answers
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    [text] = warnings
    assert "plugmem model fetch" in text and MODEL_ENV in text and "lexical" in text
    assert not any(no_model.rglob("*.onnx"))


def test_fetch_offline_raises_a_typed_error_and_leaves_nothing(no_model: Path) -> None:
    with pytest.raises(ModelDownloadError, match=MODEL_ENV):
        fetch_model()
    assert not any(p.is_file() for p in no_model.rglob("*"))


def test_model_commands_offline(no_model: Path, capsys: Any) -> None:
    assert main(["model", "status", "--json"]) == 1
    status = json.loads(capsys.readouterr().out)
    assert status["found"] is False and status["recall"].startswith("lexical")
    assert status["download_to"] == str(chroma_model_home())
    assert main(["model", "path"]) == 1
    assert "plugmem model fetch" in capsys.readouterr().err
    assert main(["model", "fetch"]) == 1
    assert "cannot reach" in capsys.readouterr().err


@pytest.mark.needs_model
def test_model_status_and_path_name_the_model_the_embedder_uses(capsys: Any) -> None:
    assert main(["model", "path"]) == 0
    assert capsys.readouterr().out.strip() == str(find_model_dir())
    assert main(["model", "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["found"] is True


@pytest.mark.needs_model
def test_fetch_is_a_no_op_when_the_cache_already_holds_the_model(tmp_path: Path) -> None:
    src = find_model_dir()
    assert src is not None
    onnx = tmp_path / "cache" / "onnx"
    onnx.mkdir(parents=True)
    for f in REQUIRED_FILES:
        (onnx / f).symlink_to(src / f)
    assert fetch_model(tmp_path / "cache") == onnx  # no network needed, nothing downloaded
