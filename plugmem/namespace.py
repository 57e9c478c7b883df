"""Namespaces: tuples like LangGraph's at the API, one `NamespaceKey` string everywhere inside.

Why two forms: callers think in parts (`("org", "user-42")`, as LangGraph's store does), while
storage, indexes and locks want one string to key on (`"org/user-42"`). `NamespaceKey` is a type
of its own so that a signature says which form it takes: the public calls validate and convert
once, with `ns_key`, and everything behind them takes the key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NewType

from plugmem.errors import InvalidNamespaceError

Namespace = tuple[str, ...]
NamespaceKey = NewType("NamespaceKey", str)
SEP = "/"
MAX_PART = 256


def validate_namespace(namespace: object) -> Namespace:
    """Return the namespace as a tuple, or raise `InvalidNamespaceError` saying why."""
    if isinstance(namespace, str):
        parts: Sequence[object] = (namespace,)
    elif isinstance(namespace, (tuple, list)):
        parts = namespace
    else:
        raise InvalidNamespaceError(
            f"namespace must be a tuple of strings such as ('users', 'u42'), got {type(namespace).__name__}"
        )
    if not parts:
        raise InvalidNamespaceError("namespace must not be empty")
    for p in parts:
        if not isinstance(p, str):
            raise InvalidNamespaceError(f"namespace parts must be strings, got {p!r} in {tuple(parts)!r}")
        if not p.strip():
            raise InvalidNamespaceError(f"namespace parts must be non-empty, got {tuple(parts)!r}")
        if SEP in p or "\x00" in p:
            raise InvalidNamespaceError(f"namespace part {p!r} must not contain '/' or NUL")
        try:
            p.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidNamespaceError(f"namespace part {p!r} is not valid Unicode text") from None
        if len(p) > MAX_PART:
            raise InvalidNamespaceError(f"namespace part is longer than {MAX_PART} characters")
    return tuple(str(p) for p in parts)


def ns_key(namespace: object) -> NamespaceKey:
    """The storage key of a namespace ("org/user-42/agent-a"): validated, then joined."""
    return NamespaceKey(SEP.join(validate_namespace(namespace)))
