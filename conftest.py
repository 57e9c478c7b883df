"""Test-wide setup: find the shared model and data, and skip what needs them with one reason.

The shared folder is `../shared` beside the checkout, or wherever `PLUGMEM_SHARED` points;
nothing else is assumed about the machine. Its model and data are exported as
`PLUGMEM_EMBEDDING_MODEL_DIR` / `PLUGMEM_DATA_DIR` (unless already set) before any test
imports plugmem. Tests marked `needs_model` skip when `find_model_dir()` (the very lookup
the embedder uses) finds no model; tests marked `needs_data` when the data is missing.
Automatic model download is off in tests: the download path has its own tests, which point
HOME at a temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("PLUGMEM_SHARED") or REPO.parent / "shared")
if (SHARED / "models" / "all-MiniLM-L6-v2" / "onnx").is_dir():
    os.environ.setdefault("PLUGMEM_EMBEDDING_MODEL_DIR", str(SHARED / "models" / "all-MiniLM-L6-v2" / "onnx"))
os.environ.setdefault("PLUGMEM_DATA_DIR", str(SHARED / "data"))
os.environ.setdefault("PLUGMEM_MODEL_DOWNLOAD", "0")

from plugmem.index.embeddings import find_model_dir  # noqa: E402  (after the environment is set)

SKIP_REASON = (
    "needs the shared model and data (put the shared folder at ../shared beside the checkout, "
    "or set PLUGMEM_SHARED=/path/to/shared)"
)
DATA_FILES = ("locomo_dev.json", "locomo_audit_errors.json", "longmemeval_s_dev.json.gz")


def data_present() -> bool:
    data = Path(os.environ["PLUGMEM_DATA_DIR"])
    return all((data / f).is_file() for f in DATA_FILES)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs_model: needs the all-MiniLM-L6-v2 ONNX model on disk")
    config.addinivalue_line("markers", "needs_data: needs the shared benchmark data")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("needs_model") and find_model_dir() is None:
        pytest.skip(SKIP_REASON)
    if item.get_closest_marker("needs_data") and not data_present():
        pytest.skip(SKIP_REASON)
