"""plugmem: structured long-term memory for LLM agents.

from plugmem import PlugMem
with PlugMem.open("./memory") as mem:
    mem.add([{"role": "user", "content": "I moved to Lisbon"}], namespace=("users", "u1"))
    print(mem.recall("Where do I live?", namespace=("users", "u1")).context)

The memory, policy and result classes are imported on first use (PEP 562), so that
`import plugmem` and the `plugmem` command start fast: `plugmem --help` must not pay for
Chroma, onnxruntime and LangChain.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from plugmem.errors import (
    ConflictError,
    ContentTooLargeError,
    CorruptMemoryError,
    EmbeddingUnavailableError,
    IngestStalledError,
    IngestTimeoutError,
    InvalidInputError,
    InvalidNamespaceError,
    LLMOutputError,
    LLMUnavailableError,
    MemoryClosedError,
    MemoryLockedError,
    MemoryNotFoundError,
    ModelDownloadError,
    NotFoundError,
    PlugMemError,
    PolicyError,
    StorageError,
    StorageFullError,
)

if TYPE_CHECKING:
    from plugmem.memory import PlugMem
    from plugmem.policy import MemoryPolicy
    from plugmem.prompts import PROMPTS_VERSION, Prompts
    from plugmem.results import Guidance, Recall, RecallItem, Stats
    from plugmem.views import MemoryInspector

_LAZY = {
    "PlugMem": "plugmem.memory",
    "MemoryPolicy": "plugmem.policy",
    "PROMPTS_VERSION": "plugmem.prompts",
    "Prompts": "plugmem.prompts",
    "Guidance": "plugmem.results",
    "Recall": "plugmem.results",
    "RecallItem": "plugmem.results",
    "Stats": "plugmem.results",
    "MemoryInspector": "plugmem.views",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        globals()[name] = value = _installed_version()
        return value
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'plugmem' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


__all__ = [
    "PROMPTS_VERSION",
    "ConflictError",
    "ContentTooLargeError",
    "CorruptMemoryError",
    "EmbeddingUnavailableError",
    "Guidance",
    "IngestStalledError",
    "IngestTimeoutError",
    "InvalidInputError",
    "InvalidNamespaceError",
    "LLMOutputError",
    "LLMUnavailableError",
    "MemoryClosedError",
    "MemoryInspector",
    "MemoryLockedError",
    "MemoryNotFoundError",
    "MemoryPolicy",
    "ModelDownloadError",
    "NotFoundError",
    "PlugMem",
    "PlugMemError",
    "PolicyError",
    "Prompts",
    "Recall",
    "RecallItem",
    "Stats",
    "StorageError",
    "StorageFullError",
]


def _installed_version() -> str:
    """The version in the installed package's metadata (pyproject.toml is its only source).

    Read on first access rather than at import: importlib.metadata costs ~25 ms, which
    `plugmem --help` should not pay.
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("plugmem")
    except PackageNotFoundError:  # a source tree on sys.path that was never installed
        return "0+unknown"
