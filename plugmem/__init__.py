"""plugmem: structured long-term memory for LLM agents.

from plugmem import PlugMem
with PlugMem.open("./memory") as mem:
    mem.add([{"role": "user", "content": "I moved to Lisbon"}], namespace=("users", "u1"))
    print(mem.recall("Where do I live?", namespace=("users", "u1")).context)
"""

from plugmem.errors import (
    ContentTooLargeError,
    EmbeddingUnavailableError,
    IngestStalledError,
    InvalidInputError,
    InvalidNamespaceError,
    LLMOutputError,
    LLMUnavailableError,
    MemoryClosedError,
    NotFoundError,
    PlugMemError,
    PolicyError,
)
from plugmem.memory import PlugMem
from plugmem.policy import MemoryPolicy
from plugmem.prompts import PROMPTS_VERSION, Prompts
from plugmem.results import Guidance, Recall, RecallItem, Stats

__all__ = [
    "PROMPTS_VERSION",
    "ContentTooLargeError",
    "EmbeddingUnavailableError",
    "Guidance",
    "IngestStalledError",
    "InvalidInputError",
    "InvalidNamespaceError",
    "LLMOutputError",
    "LLMUnavailableError",
    "MemoryClosedError",
    "MemoryPolicy",
    "NotFoundError",
    "PlugMem",
    "PlugMemError",
    "PolicyError",
    "Prompts",
    "Recall",
    "RecallItem",
    "Stats",
]
__version__ = "0.1.0"
