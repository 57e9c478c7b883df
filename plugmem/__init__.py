"""plugmem: structured long-term memory for LLM agents.

from plugmem import PlugMem
with PlugMem.open("./memory") as mem:
    mem.add([{"role": "user", "content": "I moved to Lisbon"}], namespace=("users", "u1"))
    print(mem.recall("Where do I live?", namespace=("users", "u1")).context)

`__all__` is the contract: integrations (plugmem-langgraph, plugmem-mcp) import only these names,
and `tests/test_exports.py` keeps the list and the package in step. The memory, policy and result
classes and the message helpers are imported on first use (PEP 562), so that `import plugmem` and
the `plugmem` command start fast: `plugmem --help` must not pay for Chroma, onnxruntime and LangChain.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from plugmem.errors import (
    ConflictError,
    ContentTooLargeError,
    ContextWindowError,
    CorruptMemoryError,
    EmbeddingUnavailableError,
    IngestStalledError,
    IngestTimeoutError,
    InvalidInputError,
    InvalidNamespaceError,
    InvalidTypeError,
    LLMJSONError,
    LLMOutputError,
    LLMTruncatedError,
    LLMUnavailableError,
    MCPUnavailableError,
    MemoryClosedError,
    MemoryLockedError,
    MemoryNotFoundError,
    ModelDownloadError,
    NotFoundError,
    PlugMemError,
    PolicyError,
    SchemaTooNewError,
    StorageError,
    StorageFullError,
    TokenizerUnavailableError,
    VectorServerError,
)
from plugmem.namespace import Namespace, NamespaceKey, ns_key, validate_namespace

if TYPE_CHECKING:
    from plugmem.cli import default_path, default_vectors
    from plugmem.memory import PlugMem
    from plugmem.normalize import ROLE_ALIASES, content_text, parse_timestamp
    from plugmem.policy import MemoryPolicy, RecallMode, load_policy_file
    from plugmem.prompts import PROMPTS_VERSION, Prompts
    from plugmem.results import Guidance, Recall, RecallItem, Stats
    from plugmem.storage.base import Tx
    from plugmem.storage.database import Database, open_database
    from plugmem.storage.sqlite import connect_sqlite
    from plugmem.views import MemoryInspector

_LAZY = {
    "PlugMem": "plugmem.memory",
    "MemoryPolicy": "plugmem.policy",
    "RecallMode": "plugmem.policy",
    "load_policy_file": "plugmem.policy",
    "ROLE_ALIASES": "plugmem.normalize",
    "content_text": "plugmem.normalize",
    "parse_timestamp": "plugmem.normalize",
    "default_path": "plugmem.cli",
    "default_vectors": "plugmem.cli",
    "connect_sqlite": "plugmem.storage.sqlite",
    "Database": "plugmem.storage.database",
    "open_database": "plugmem.storage.database",
    "Tx": "plugmem.storage.base",
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
    "ROLE_ALIASES",
    "ConflictError",
    "ContentTooLargeError",
    "ContextWindowError",
    "CorruptMemoryError",
    "Database",
    "EmbeddingUnavailableError",
    "Guidance",
    "IngestStalledError",
    "IngestTimeoutError",
    "InvalidInputError",
    "InvalidNamespaceError",
    "InvalidTypeError",
    "LLMJSONError",
    "LLMOutputError",
    "LLMTruncatedError",
    "LLMUnavailableError",
    "MCPUnavailableError",
    "MemoryClosedError",
    "MemoryInspector",
    "MemoryLockedError",
    "MemoryNotFoundError",
    "MemoryPolicy",
    "ModelDownloadError",
    "Namespace",
    "NamespaceKey",
    "NotFoundError",
    "PlugMem",
    "PlugMemError",
    "PolicyError",
    "Prompts",
    "Recall",
    "RecallItem",
    "RecallMode",
    "SchemaTooNewError",
    "Stats",
    "StorageError",
    "StorageFullError",
    "TokenizerUnavailableError",
    "Tx",
    "VectorServerError",
    "connect_sqlite",
    "content_text",
    "default_path",
    "default_vectors",
    "load_policy_file",
    "ns_key",
    "open_database",
    "parse_timestamp",
    "validate_namespace",
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
