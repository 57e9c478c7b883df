"""BM25 in SQLite FTS5, inside the memory's own database: a large namespace's lexical index off the heap.

Why FTS5 in the same file: it is already the source of truth, so the index commits with it, a
forget erases from it in the forget's own transaction, and a backup of the file is a backup of
the index. One FTS5 table per namespace (named by a hash, like a Chroma collection) keeps
tenants apart in storage and makes a search read only its namespace's postings.

Text goes in already cut by `plugmem.text.tokenize` (stopwords out, stems folded) and the query
is cut the same way, so both backends see the same terms; FTS5 only ranks them with its own
BM25 (k1 1.2, b 0.75). Each row carries a hash of its text, so a catalog load rewrites only the
rows that changed since the index was last in step with the log: reopening a large namespace
costs a hash per document, where BM25 in RAM cuts and indexes every text again.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from plugmem.namespace import NamespaceKey
from plugmem.storage.base import Tx
from plugmem.text import tokenize

# tokens keep their apostrophes ("ana's"), as `tokenize` makes them
TOKENIZER = "unicode61 remove_diacritics 0 tokenchars '''’'"
_ROWS = 500  # ids per IN (...) lookup, under SQLite's bound-parameter limit


class SqlStore(Protocol):
    """The two things this index needs from the memory's database."""

    def tx(self) -> AbstractContextManager[Tx]: ...

    def query(self, sql: str, params: Sequence[object] = ()) -> list[Any]: ...


def table_name(namespace: NamespaceKey) -> str:
    return "lex_" + hashlib.blake2b(namespace.encode(), digest_size=12).hexdigest()


def _rowid(doc_id: str) -> int:
    """A stable 63-bit row id per document id, so a document is found without scanning."""
    return int.from_bytes(hashlib.blake2b(doc_id.encode(), digest_size=8).digest()) >> 1


def _hash(text: str) -> str:
    """Of the text as given: a reopen compares it without cutting 100k texts into tokens again."""
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _quoted(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), _ROWS):
        yield items[i : i + _ROWS]


def table_exists(c: Tx, namespace: NamespaceKey) -> bool:
    row = c.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table_name(namespace),)).fetchone()
    return row is not None


def erase_in(
    c: Tx, namespace: NamespaceKey, removed: Sequence[str], changed: Sequence[tuple[str, str]]
) -> None:
    """Inside a forget's transaction: delete and rewrite documents, then merge away deleted terms.

    FTS5 keeps a deleted row's terms in its index segments until they are merged; `optimize`
    merges them all, so the forgotten words leave the file with the commit (secure_delete zeroes
    the freed pages).
    """
    if not (removed or changed) or not table_exists(c, namespace):
        return
    t = table_name(namespace)
    ids = [*removed, *(i for i, _ in changed)]
    for part in _chunks(ids):
        c.execute(f"DELETE FROM {t} WHERE rowid IN ({','.join('?' * len(part))})", [_rowid(i) for i in part])
    _insert(c, t, changed)
    c.execute(f"INSERT INTO {t}({t}) VALUES ('optimize')")


def drop_in(c: Tx, namespace: NamespaceKey) -> None:
    """Inside a transaction: remove a namespace's index whole (forgetting the namespace)."""
    c.execute(f"DROP TABLE IF EXISTS {table_name(namespace)}_vocab")
    c.execute(f"DROP TABLE IF EXISTS {table_name(namespace)}")


def _insert(c: Tx, table: str, items: Sequence[tuple[str, str]]) -> None:
    rows = [(_rowid(i), i, " ".join(tokenize(text)), _hash(text)) for i, text in items]
    c.executemany(f"INSERT INTO {table}(rowid, doc_id, body, hash) VALUES (?,?,?,?)", rows)


def open_fts(store: SqlStore, namespace: NamespaceKey, create: bool) -> FtsIndex | None:
    """The namespace's on-disk index; None when it has none and `create` is False."""
    if not create and not store.query("SELECT 1 FROM sqlite_master WHERE name = ?", (table_name(namespace),)):
        return None
    return FtsIndex(store, namespace)


class FtsIndex:
    """One namespace's lexical index in an FTS5 table of the memory's SQLite database."""

    def __init__(self, store: SqlStore, namespace: NamespaceKey) -> None:
        self._store = store
        self._ns = namespace
        self._t = table_name(namespace)
        with store.tx() as c:
            c.execute(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {self._t} USING fts5("
                f'doc_id UNINDEXED, hash UNINDEXED, body, tokenize="{TOKENIZER}")'
            )
            c.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS {self._t}_vocab USING fts5vocab({self._t}, 'row')")
            self._n = int(c.execute(f"SELECT count(*) FROM {self._t}").fetchone()[0])

    def __len__(self) -> int:
        return self._n

    # -- writes --------------------------------------------------------------------------
    def add(self, items: Sequence[tuple[str, str]]) -> None:
        if not items:
            return
        latest = list(dict(items).items())  # one row per id, the last text given wins
        with self._store.tx() as c:
            have = self._hashes(c, [i for i, _ in latest])
            fresh = [(i, t) for i, t in latest if have.get(i) != _hash(t)]
            stale = [i for i, _ in fresh if i in have]
            self._delete(c, stale)
            _insert(c, self._t, fresh)
            self._n += len(fresh) - len(stale)

    def remove(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        with self._store.tx() as c:
            self._delete(c, list(self._hashes(c, list(ids))))
            # counted again: a forget may have deleted rows in its own transaction (`erase_in`)
            self._n = int(c.execute(f"SELECT count(*) FROM {self._t}").fetchone()[0])

    def sync(self, items: Sequence[tuple[str, str]], *, generation: int | None = None) -> None:
        """Rewrite only what differs from the log: rows of gone documents out, new or changed ones in.

        One process owns the file, so no other writer can have moved the log past `items`.
        """
        items = list(dict(items).items())
        want = {i: _hash(t) for i, t in items}
        rows = self._store.query(f"SELECT rowid, doc_id, hash FROM {self._t}")
        have = {str(r[1]): str(r[2]) for r in rows}
        gone = [int(r[0]) for r in rows if str(r[1]) not in want]  # by the row id found, whatever wrote it
        fresh = [(i, t) for i, t in items if have.get(i) != want[i]]
        if gone or fresh:
            with self._store.tx() as c:
                for part in _chunks(gone):
                    c.execute(f"DELETE FROM {self._t} WHERE rowid IN ({','.join('?' * len(part))})", part)
                self._delete(c, [i for i, _ in fresh if i in have])
                _insert(c, self._t, fresh)
        self._n = len(want)

    def drop(self) -> None:
        """Remove the table itself (the namespace's lexical index goes back to RAM)."""
        with self._store.tx() as c:
            drop_in(c, self._ns)
        self._n = 0

    def _hashes(self, c: Tx, ids: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for part in _chunks(ids):
            rows = c.execute(
                f"SELECT doc_id, hash FROM {self._t} WHERE rowid IN ({','.join('?' * len(part))})",
                [_rowid(i) for i in part],
            )
            out.update((str(i), str(h)) for i, h in rows)
        return out

    def _delete(self, c: Tx, ids: Sequence[str]) -> None:
        for part in _chunks(ids):
            c.execute(
                f"DELETE FROM {self._t} WHERE rowid IN ({','.join('?' * len(part))})",
                [_rowid(i) for i in part],
            )

    # -- reads ---------------------------------------------------------------------------
    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        terms = list(dict.fromkeys(tokenize(query)))
        if not terms or not self._n:
            return []
        match = "body: (" + " OR ".join(_quoted(t) for t in terms) + ")"
        rows = self._store.query(
            f"SELECT doc_id, -bm25({self._t}) FROM {self._t} WHERE {self._t} MATCH ? ORDER BY rank LIMIT ?",
            (match, k),
        )
        return [(str(i), float(s)) for i, s in rows if s > 0]

    def coverage(self, query: str, ids: Sequence[str], *, known_only: bool = False) -> float:
        """As `LexicalIndex.coverage`, with document frequencies from the FTS5 vocabulary."""
        terms = list(dict.fromkeys(tokenize(query)))
        if not terms:
            return 0.0
        marks = ",".join("?" * len(terms))
        df = {
            str(t): int(n)
            for t, n in self._store.query(
                f"SELECT term, doc FROM {self._t}_vocab WHERE term IN ({marks})", terms
            )
        }
        if known_only:
            terms = [t for t in terms if df.get(t)]
            if not terms:
                return 0.0
        n = max(1, self._n)
        idf = {t: math.log(1 + n / (df.get(t, 0) + 0.5)) for t in terms}
        total = sum(idf.values())
        best = 0.0
        for part in _chunks(list(ids)):
            rows = self._store.query(
                f"SELECT body FROM {self._t} WHERE rowid IN ({','.join('?' * len(part))})",
                [_rowid(i) for i in part],
            )
            for (body,) in rows:
                toks = set(str(body).split())
                best = max(best, sum(w for t, w in idf.items() if t in toks))
        return best / total if total > 0 else 0.0
