"""What recall needs from a lexical index, and which one a namespace gets.

Why an interface: BM25 in RAM (`lexical.LexicalIndex`) is the fastest while a namespace is
small, but it holds every document's tokens in the process (≈ 1.5 GB RSS at 100k messages
with the rest of the catalog). Past a size the index moves into the database the memory
already has (`lexical_fts.FtsIndex`, SQLite FTS5; `lexical_pg.PgFtsIndex`, a tsvector table on
PostgreSQL), which costs a little latency and no RAM. Each database's index also supplies the
two steps a forget runs inside its own transaction (`EraseIn`, `DropIn`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from plugmem.namespace import NamespaceKey
from plugmem.storage.base import Tx

# inside a forget's transaction: delete `removed` documents and rewrite `changed` (id, text) ones
EraseIn = Callable[[Tx, NamespaceKey, Sequence[str], Sequence[tuple[str, str]]], None]
# inside a forget's transaction: remove a namespace's whole index
DropIn = Callable[[Tx, NamespaceKey], None]


class LexicalSearch(Protocol):
    """A namespace's lexical index: (id, text) documents in, (id, score) best first out."""

    def __len__(self) -> int: ...

    def add(self, items: Sequence[tuple[str, str]]) -> None:
        """Add or replace documents."""

    def remove(self, ids: Sequence[str]) -> None:
        """Delete documents; unknown ids are ignored."""

    def sync(self, items: Sequence[tuple[str, str]], *, generation: int | None = None) -> None:
        """Hold exactly these documents (what a catalog load found in the log).

        `generation`: the namespace's generation (`Store.generation`) read before `items` were;
        an index other processes share leaves its rows as they are when the namespace has moved
        past it (a forget's erased documents must not come back from a stale load; the catalog
        is loaded again on its next use).
        """

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """Top-k (id, score), higher is better; empty when no query term is indexed."""

    def coverage(self, query: str, ids: Sequence[str], *, known_only: bool = False) -> float:
        """IDF-weighted share (0..1) of the query's terms that the best of `ids` contains."""

    def drop(self) -> None:
        """Erase everything this index holds for its namespace."""


@dataclass(frozen=True, slots=True)
class LexicalBackends:
    """Which lexical index a namespace gets: BM25 in RAM below `disk_from` documents, else `on_disk`.

    `disk_from=None` (or no `on_disk`) keeps every namespace in RAM; `disk_from=0` puts every
    namespace on disk (how the benchmark compares the two on the same data).
    """

    in_memory: Callable[[], LexicalSearch]
    # (namespace, create) → the namespace's index on disk; None when it has none and create is False
    on_disk: Callable[[NamespaceKey, bool], LexicalSearch | None] | None = None
    disk_from: int | None = None

    def wants_disk(self, docs: int) -> bool:
        return self.on_disk is not None and self.disk_from is not None and docs >= self.disk_from
