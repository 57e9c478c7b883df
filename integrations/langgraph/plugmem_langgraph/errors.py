"""The integration's own error types, in one place beside plugmem's (`plugmem.errors`).

Each is a plugmem error and also the type LangGraph or a `Mapping` caller would catch, so code
written against LangGraph's store or a plain dict keeps working unchanged.
"""

from __future__ import annotations

from langgraph.store.base import InvalidNamespaceError as LangGraphNamespaceError

from plugmem import InvalidNamespaceError, PolicyError


class StoreNamespaceError(InvalidNamespaceError, LangGraphNamespaceError):
    """A namespace LangGraph's store rules reject: both plugmem's and LangGraph's error type."""


class UnknownAgentError(PolicyError, KeyError):
    """No policy is registered under that agent name (a KeyError too, so `Mapping.get` works)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown agent"
