"""BM25 in PostgreSQL: a large namespace's lexical index in the server's database, off every process's heap.

Why in the database: on the server backend several processes share a memory, and each one
holding BM25 in RAM for a large namespace costs its heap and a full re-index on every reload.
The `lexical` table (schema migration 3) sits beside the log, so the index commits with it, a
forget erases from it in the forget's own transaction, and every process reads the same rows.

One table for the memory with a namespace column, rather than a table per namespace as on
SQLite: DDL on a shared server takes locks every process would queue behind. A namespace's rows
are found through the primary key; each row's tsvector also holds a namespace lexeme ("ns:" and a
hash: no token has a colon) that every search ANDs with its terms, so the GIN index itself leaves
out other namespaces' postings before a row is read, and the namespace column is checked as well.

Text goes in already cut by `plugmem.text.tokenize`, written as a tsvector literal (positions
0..n-1 of each token, so a term's frequency is the length of its position list), never through
PostgreSQL's parser: both backends see the same terms, apostrophes included. Ranking is the
same BM25 formula as `lexical.LexicalIndex` (Lucene's IDF, k1 1.5, b 0.75) computed in SQL over
the documents that hold any query term, so a partial match still ranks; document frequencies are
counted from those same rows, exact, and kept for the `coverage` calls recall makes next with
the same query (one scan of the matching rows per recall instead of three). The document count
and mean length come from this process's running totals (recounted on every catalog load), as
BM25 in RAM uses its base's statistics.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from plugmem.index.lexical import K1, B
from plugmem.namespace import NamespaceKey
from plugmem.storage.base import Tx
from plugmem.text import tokenize

_ROWS = 1000  # ids per `= ANY(?)` lookup
_MAX_POS = 16383  # PostgreSQL's highest tsvector position; later ones are clamped to it (and merged)
_MAX_LEXEME = 2046  # bytes: PostgreSQL refuses a longer lexeme

_UPSERT = (
    "INSERT INTO lexical(namespace, doc_id, hash, len, tsv) VALUES (?,?,?,?,?::tsvector)"
    " ON CONFLICT (namespace, doc_id) DO UPDATE SET hash = excluded.hash, len = excluded.len, tsv = excluded.tsv"
)

# BM25 of every row holding a query term: term frequencies from the tsvector's position lists,
# document frequencies counted over the same rows (each row holding a term is among them). The
# document frequencies come back too (rows marked 't'), so `coverage` after a search needs no scan.
_SEARCH = """
WITH hits AS (
    SELECT doc_id, len, tsv FROM lexical WHERE namespace = ? AND tsv @@ ?::tsquery
), tf AS (
    SELECT h.doc_id, h.len, t.lexeme, cardinality(t.positions) AS tf
    FROM hits h, unnest(h.tsv) t WHERE t.lexeme = ANY(?::text[])
), df AS (
    SELECT lexeme, count(*) AS df FROM tf GROUP BY lexeme
), ranked AS (
    SELECT tf.doc_id,
        sum(ln(1 + (?::float8 - df.df + 0.5) / (df.df + 0.5)) * tf.tf
            / (tf.tf + ?::float8 * (1 - ?::float8 + ?::float8 * tf.len / ?::float8))) AS score
    FROM tf JOIN df USING (lexeme)
    GROUP BY tf.doc_id ORDER BY score DESC, tf.doc_id LIMIT ?
)
SELECT 'd', doc_id, score FROM ranked
UNION ALL SELECT 't', lexeme, df FROM df
"""

_DF = """
SELECT t.lexeme, count(*) FROM lexical l, unnest(l.tsv) t
WHERE l.namespace = ? AND l.tsv @@ ?::tsquery AND t.lexeme = ANY(?::text[]) GROUP BY t.lexeme
"""


class SqlStore(Protocol):
    """The two things this index needs from the memory's database."""

    def tx(self) -> AbstractContextManager[Tx]: ...

    def query(self, sql: str, params: Sequence[object] = ()) -> list[Any]: ...


def _hash(text: str) -> str:
    """Of the text as given: a reopen compares it without cutting 100k texts into tokens again."""
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _lexeme(term: str) -> str:
    """A term as a quoted lexeme of a tsvector or tsquery literal (quotes and backslashes doubled)."""
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


def _ns_lexeme(namespace: NamespaceKey) -> str:
    return _lexeme("ns:" + hashlib.blake2b(namespace.encode(), digest_size=12).hexdigest())


def _tsvector(namespace: NamespaceKey, tokens: Sequence[str]) -> str:
    """The tsvector literal of a token list: each term with its positions (so tf survives), and the namespace."""
    positions: dict[str, list[int]] = {}
    for i, tok in enumerate(tokens):
        if len(tok.encode()) <= _MAX_LEXEME:
            positions.setdefault(tok, []).append(min(i + 1, _MAX_POS))
    terms = (_lexeme(t) + ":" + ",".join(map(str, p)) for t, p in positions.items())
    return " ".join([_ns_lexeme(namespace), *terms])


def _tsquery(namespace: NamespaceKey, terms: Sequence[str]) -> str:
    """The namespace and any of the terms (OR): a document holding some of them still ranks."""
    return _ns_lexeme(namespace) + " & (" + " | ".join(_lexeme(t) for t in terms) + ")"


def _terms(query: str) -> list[str]:
    return [t for t in dict.fromkeys(tokenize(query)) if len(t.encode()) <= _MAX_LEXEME]


def _chunks(items: Sequence[Any]) -> Iterator[list[Any]]:
    for i in range(0, len(items), _ROWS):
        yield list(items[i : i + _ROWS])


Row = tuple[NamespaceKey, str, str, int, str]  # namespace, doc_id, hash, len, tsv


def _rows(namespace: NamespaceKey, items: Sequence[tuple[str, str]]) -> list[Row]:
    out: list[Row] = []
    for doc_id, text in items:
        toks = tokenize(text)
        out.append((namespace, doc_id, _hash(text), len(toks), _tsvector(namespace, toks)))
    return out


def has_rows(c: Tx, namespace: NamespaceKey) -> bool:
    return c.execute("SELECT 1 FROM lexical WHERE namespace = ? LIMIT 1", (namespace,)).fetchone() is not None


def erase_in(
    c: Tx, namespace: NamespaceKey, removed: Sequence[str], changed: Sequence[tuple[str, str]]
) -> None:
    """Inside a forget's transaction: delete and rewrite a namespace's documents, if it is on disk.

    The deleted rows leave the table with the commit; their pages are reclaimed by autovacuum
    (the server backend does not zero freed pages, as SQLite's secure_delete does).
    """
    if not (removed or changed) or not has_rows(c, namespace):
        return
    for part in _chunks([*removed, *(i for i, _ in changed)]):
        c.execute("DELETE FROM lexical WHERE namespace = ? AND doc_id = ANY(?)", (namespace, part))
    if changed:
        c.executemany(_UPSERT, _rows(namespace, changed))


def drop_in(c: Tx, namespace: NamespaceKey) -> None:
    """Inside a transaction: remove a namespace's index whole (forgetting the namespace)."""
    c.execute("DELETE FROM lexical WHERE namespace = ?", (namespace,))


def open_pg(store: SqlStore, namespace: NamespaceKey, create: bool) -> PgFtsIndex | None:
    """The namespace's index in the database; None when it has no rows and `create` is False."""
    if not create and not store.query("SELECT 1 FROM lexical WHERE namespace = ? LIMIT 1", (namespace,)):
        return None
    return PgFtsIndex(store, namespace)


class PgFtsIndex:
    """One namespace's lexical index: its rows of the memory's `lexical` table in PostgreSQL."""

    def __init__(self, store: SqlStore, namespace: NamespaceKey) -> None:
        self._store = store
        self._ns = namespace
        self._n = 0
        self._total = 0  # tokens over all rows, for the mean document length
        # the last search's document frequencies: recall asks `coverage` of the same query next
        # (another process's write in between is not seen: the frequencies are those of the rows ranked)
        self._df: tuple[tuple[str, ...], dict[str, int]] = ((), {})
        self._recount()

    def __len__(self) -> int:
        return self._n

    def _recount(self) -> None:
        self._df = ((), {})
        row = self._store.query(
            "SELECT count(*), coalesce(sum(len), 0) FROM lexical WHERE namespace = ?", (self._ns,)
        )[0]
        self._n, self._total = int(row[0]), int(row[1])

    # -- writes --------------------------------------------------------------------------
    def add(self, items: Sequence[tuple[str, str]]) -> None:
        if not items:
            return
        self._df = ((), {})
        latest = list(dict(items).items())  # one row per id, the last text given wins
        with self._store.tx() as c:
            have: dict[str, tuple[str, int]] = {}
            for part in _chunks([i for i, _ in latest]):
                rows = c.execute(
                    "SELECT doc_id, hash, len FROM lexical WHERE namespace = ? AND doc_id = ANY(?)",
                    (self._ns, part),
                )
                have.update((str(r[0]), (str(r[1]), int(r[2]))) for r in rows)
            fresh = [(i, t) for i, t in latest if have.get(i, ("", 0))[0] != _hash(t)]
            rows_in = _rows(self._ns, fresh)
            if rows_in:
                c.executemany(_UPSERT, rows_in)
        self._n += sum(1 for i, _ in fresh if i not in have)
        self._total += sum(r[3] for r in rows_in) - sum(have[i][1] for i, _ in fresh if i in have)

    def remove(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        self._df = ((), {})
        with self._store.tx() as c:
            for part in _chunks(list(ids)):
                c.execute("DELETE FROM lexical WHERE namespace = ? AND doc_id = ANY(?)", (self._ns, part))
        # counted again: a forget may have deleted rows in its own transaction (`erase_in`)
        self._recount()

    def sync(self, items: Sequence[tuple[str, str]], *, generation: int | None = None) -> None:
        """Rewrite only what differs from the log: rows of gone documents out, new or changed ones in.

        With `generation`, only while the namespace is still at it: the generations row is read
        with a share lock, so a forget or a batch that bumps it waits for this transaction, and a
        load that another process's commit overtook writes nothing (its documents are stale).
        """
        want = {i: _hash(t) for i, t in items}
        latest = list(dict(items).items())
        with self._store.tx() as c:
            if generation is not None:
                row = c.execute(
                    "SELECT gen FROM generations WHERE namespace = ? FOR SHARE", (self._ns,)
                ).fetchone()
                if (int(row[0]) if row else 0) != generation:
                    return
            rows = c.execute("SELECT doc_id, hash FROM lexical WHERE namespace = ?", (self._ns,))
            have = {str(r[0]): str(r[1]) for r in rows}
            for part in _chunks([i for i in have if i not in want]):
                c.execute("DELETE FROM lexical WHERE namespace = ? AND doc_id = ANY(?)", (self._ns, part))
            fresh = [(i, t) for i, t in latest if have.get(i) != want[i]]
            if fresh:
                c.executemany(_UPSERT, _rows(self._ns, fresh))
        self._recount()

    def drop(self) -> None:
        """Delete the namespace's rows (its lexical index goes back to RAM)."""
        with self._store.tx() as c:
            drop_in(c, self._ns)
        self._n = self._total = 0
        self._df = ((), {})

    # -- reads ---------------------------------------------------------------------------
    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        terms = _terms(query)
        if not terms or not self._n or k <= 0:
            return []
        n = float(self._n)
        avg = max(1.0, self._total / n)
        rows = self._store.query(_SEARCH, (self._ns, _tsquery(self._ns, terms), terms, n, K1, B, B, avg, k))
        self._df = (tuple(terms), {str(t): int(c) for kind, t, c in rows if kind == "t"})
        hits = [(str(i), float(s)) for kind, i, s in rows if kind == "d" and s > 0]
        return sorted(hits, key=lambda h: (-h[1], h[0]))

    def _frequencies(self, terms: list[str]) -> dict[str, int]:
        """Document frequencies of `terms`: the last search's when it had these terms and no write came since."""
        seen, df = self._df
        if seen == tuple(terms):
            return df
        rows = self._store.query(_DF, (self._ns, _tsquery(self._ns, terms), terms))
        return {str(t): int(c) for t, c in rows}

    def coverage(self, query: str, ids: Sequence[str], *, known_only: bool = False) -> float:
        """As `LexicalIndex.coverage`, with document frequencies counted in the table."""
        terms = _terms(query)
        if not terms:
            return 0.0
        df = self._frequencies(terms)
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
                "SELECT tsvector_to_array(tsv) FROM lexical WHERE namespace = ? AND doc_id = ANY(?)",
                (self._ns, part),
            )
            for (lexemes,) in rows:
                toks = set(lexemes)
                best = max(best, sum(w for t, w in idf.items() if t in toks))
        return best / total if total > 0 else 0.0
