"""plugmem: structured long-term memory for LLM agents.

from plugmem import PlugMem
with PlugMem.open("./memory") as mem:
    mem.add([{"role": "user", "content": "I moved to Lisbon"}], namespace=("users", "u1"))
    print(mem.recall("Where do I live?", namespace=("users", "u1")).context)
"""

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
    MemoryClosedError,
    MemoryLockedError,
    NotFoundError,
    PlugMemError,
    PolicyError,
    StorageError,
    StorageFullError,
)
from plugmem.memory import PlugMem
from plugmem.policy import MemoryPolicy
from plugmem.results import Recall, RecallItem, Stats

__all__ = [
    "ConflictError",
    "ContentTooLargeError",
    "CorruptMemoryError",
    "EmbeddingUnavailableError",
    "IngestStalledError",
    "IngestTimeoutError",
    "InvalidInputError",
    "InvalidNamespaceError",
    "LLMOutputError",
    "MemoryClosedError",
    "MemoryLockedError",
    "MemoryPolicy",
    "NotFoundError",
    "PlugMem",
    "PlugMemError",
    "PolicyError",
    "Recall",
    "RecallItem",
    "Stats",
    "StorageError",
    "StorageFullError",
]
__version__ = "0.1.0"
