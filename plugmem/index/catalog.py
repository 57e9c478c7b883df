"""The searchable documents of one namespace, and the hybrid search over them.

A document is anything recall can return: a raw turn, an event summary, a piece of
knowledge or a temporal summary. The catalog is rebuilt from SQLite on first use
(so it can never disagree with the source of truth for long) and kept current by
the ingest pipeline.

A large namespace (one whose lexical index lives on disk) keeps its documents' texts on
disk too: each document then holds only what scoring reads (ids, kind, times, sources,
metadata), and its `text` is read back from the store when recall renders it: texts are about
a quarter of a catalog's heap (`python -m benchmarks.heap`), and a recall reads a few dozen.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from plugmem.fence import defuse_label
from plugmem.index.embeddings import CachedEmbeddings
from plugmem.index.lexical import LexicalIndex
from plugmem.index.lexical_search import LexicalBackends, LexicalSearch
from plugmem.index.vectors import VectorIndex
from plugmem.model import Event, Knowledge, Step, Summary
from plugmem.namespace import NamespaceKey

DocKind = str  # "turn" | "event" | "knowledge" | "summary"
DENSE_WEIGHT = 0.35  # measured on LoCoMo dev: BM25 carries names and rare words, vectors carry paraphrase
# The kinds ingest embeds and dense search reads. All of them: LoCoMo dev recall held without fact or summary
# vectors, but behaviour tests did not (stale="drop", a learned procedure for a reworded request); docs/NOTES.md,
# "Issue 15, points 4 (rest) and 5".
EMBEDDED_KINDS = frozenset({"turn", "event", "knowledge", "summary"})
TEXT_CACHE = 4096  # texts of off-heap documents kept after a read (a recall renders a few dozen)
TextLoader = Callable[[Sequence[str]], dict[str, str]]  # document ids → texts, from the store


class DocTexts:
    """The texts of a namespace's off-heap documents, read from the store on demand.

    A bounded cache keeps what recall just read (it reads an item's text several times);
    `forget` empties it for the documents it removes or rewrites.
    """

    def __init__(self, load: TextLoader, size: int = TEXT_CACHE) -> None:
        self._load = load
        self._size = size
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, doc_id: str) -> str:
        with self._lock:
            text = self._cache.get(doc_id)
            if text is not None:
                self._cache.move_to_end(doc_id)
                return text
        return self._fill([doc_id])[doc_id]

    def prefetch(self, ids: Sequence[str]) -> None:
        """Cache the texts of `ids` not cached yet, in one read."""
        with self._lock:
            missing = [i for i in dict.fromkeys(ids) if i not in self._cache]
        if missing:
            self._fill(missing)

    def _fill(self, ids: Sequence[str]) -> dict[str, str]:
        texts = self._load(ids)
        got = {i: texts.get(i, "") for i in ids}
        with self._lock:
            self._cache.update(got)
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return got

    def many(self, ids: Sequence[str]) -> dict[str, str]:
        """Many texts in one read, not cached (re-embedding what the vector index lost)."""
        return self._load(ids)

    def discard(self, ids: Iterable[str]) -> None:
        with self._lock:
            for i in ids:
                self._cache.pop(i, None)


@dataclass(slots=True)
class Doc:
    id: str  # "t:<step id>", "e:<event id>", "k:<knowledge id>", "s:<summary id>"
    kind: DocKind
    body: str | None  # what is indexed and rendered; None once the catalog moved it to disk (`text`)
    timestamp: datetime | None
    session_id: str | None
    source_ids: list[str]  # step ids, exactly as given
    seq: int = 0  # for turns: order in the namespace
    speaker: str | None = None
    extra: dict[str, object] = field(default_factory=dict)
    lexical_text: str | None = None  # what BM25 indexes, when it differs from `text`
    # knowledge only: when it held, and what replaced it ("k:<id>"); a closed fact stays searchable
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    superseded_by: str | None = None
    texts: DocTexts | None = field(default=None, repr=False, compare=False)  # where `body` went

    @property
    def text(self) -> str:
        """What is indexed and rendered (read from the store when the catalog keeps it on disk)."""
        if self.body is not None:
            return self.body
        return self.texts.get(self.id) if self.texts is not None else ""


def turn_text(s: Step) -> str:
    who = defuse_label(s.name) if s.name else s.role
    return f"{who}: {s.content}"


def step_doc(s: Step, prev: Step | None = None) -> Doc:
    """BM25 sees a turn with the turn before it (a reply means little without its question);
    the vector is of the turn alone, which ranks better here and embeds twice as fast."""
    text = turn_text(s)
    ctx = f"{turn_text(prev)}\n{text}" if prev is not None and prev.session_id == s.session_id else None
    return Doc(
        lexical_text=ctx,
        id="t:" + s.id,
        kind="turn",
        body=text,
        timestamp=s.timestamp,
        session_id=s.session_id,
        source_ids=[s.id],
        seq=s.seq,
        speaker=s.name or s.role,
    )


def event_doc(e: Event) -> Doc:
    return Doc(
        id="e:" + e.id,
        kind="event",
        body=e.summary,
        timestamp=e.start,
        session_id=e.session_id,
        # an extractive summary quotes some steps; only those are its sources (events stored
        # before `quoted` existed cite all their steps)
        source_ids=list(e.quoted or e.step_ids),
        extra={"step_ids": list(e.step_ids), "entities": list(e.entities), "end": e.end},
    )


def procedure_text(k: Knowledge) -> str:
    """A procedure as one searchable line: goal, the calls or steps that worked, lessons, outcome."""
    text = f"{k.goal or k.statement}: " + " → ".join(k.steps)
    if k.lessons:
        text += ". Lesson: " + "; ".join(k.lessons)
    if k.outcome:
        text += f". Outcome: {k.outcome}"
    return text


def knowledge_doc(k: Knowledge) -> Doc:
    procedure = k.kind == "prescription" and bool(k.steps)
    return Doc(
        id="k:" + k.id,
        kind="knowledge",
        body=procedure_text(k) if procedure else k.statement,
        timestamp=k.event_time or k.valid_from,
        session_id=None,
        source_ids=list(k.source_ids),
        extra={
            "kind": k.kind,
            "entities": list(k.entities),
            "event_id": k.event_id,
            "successes": k.successes,
            "subject": k.subject,
            "slots": sorted(k.slots),
        },
        valid_from=k.valid_from,
        valid_until=k.valid_until,
        superseded_by=("k:" + k.superseded_by) if k.superseded_by else None,
    )


def summary_doc(s: Summary) -> Doc:
    return Doc(
        id="s:" + s.id,
        kind="summary",
        body=s.text,
        timestamp=s.start,
        session_id=s.key if s.level == "session" else None,
        source_ids=list(s.source_ids),
        extra={"level": s.level, "key": s.key, "end": s.end},
    )


def _slot_keys(doc: Doc) -> list[str]:
    slots = doc.extra.get("slots") if doc.kind == "knowledge" else None
    if not isinstance(slots, list):
        return []
    return [k for rel in slots for k in (rel, rel.split(":", 1)[0] + ":" if ":" in rel else rel)]


class Catalog:
    """Documents + BM25 + vectors for one namespace."""

    def __init__(
        self,
        namespace: NamespaceKey,
        vectors: VectorIndex | None,
        embeddings: CachedEmbeddings | None,
        lexical: LexicalBackends | None = None,
        texts: TextLoader | None = None,
    ) -> None:
        self.namespace = namespace
        self.docs: dict[str, Doc] = {}
        self.turns_by_seq: list[Doc] = []  # sorted by seq, rebuilt lazily
        self._turn_pos: dict[str, int] = {}  # turn id -> its index in turns_by_seq, rebuilt with it
        self._turns_dirty = False
        self._backends = lexical or LexicalBackends(in_memory=LexicalIndex)
        self.lexical: LexicalSearch = self._backends.in_memory()
        self._vectors = vectors
        self._emb = embeddings
        self.lock = threading.RLock()
        self.version = 0  # bumps on every change; caches key on it
        self.generation = 0  # the store's generation of this namespace it reflects (shared backends)
        self._facts: dict[str, set[str]] = {}  # step id → knowledge doc ids derived from it
        self._by_kind: dict[str, tuple[int, list[Doc]]] = {}
        self._slots: dict[str, set[str]] = {}  # "residence", "pet:dog" and "pet:" → knowledge doc ids
        self._speakers: tuple[int, list[str]] = (-1, [])
        # texts of a large namespace's documents stay in the store (None: always held)
        self._texts = DocTexts(texts) if texts is not None else None

    def put(self, docs: Sequence[Doc], *, embed: bool = True) -> None:
        if not docs:
            return
        if embed:
            self.embed(docs)
        with self.lock:
            for d in docs:
                self.docs[d.id] = d
                self._link(d)
            disk = self._grown_to_disk()
            if disk is not None:  # the namespace grew past the size where its lexical index moves to disk
                disk.sync(self._lexical_items(self.docs.values()))
                self.lexical = disk
                self._to_disk(self.docs.values())
            else:
                self.lexical.add(self._lexical_items(docs))
                self._to_disk(docs)
            self._turns_dirty = self._turns_dirty or any(d.kind == "turn" for d in docs)
            self.version += 1

    def embed(self, docs: Sequence[Doc]) -> None:
        """Put the vectors of documents of the kinds dense search reads; the rest are found by BM25."""
        dense = [d for d in docs if d.kind in EMBEDDED_KINDS]
        if not dense or self._vectors is None or self._emb is None:
            return
        off_heap = [d.id for d in dense if d.body is None]
        read = self._texts.many(off_heap) if off_heap and self._texts is not None else {}
        vecs = self._emb.embed_array([read.get(d.id, "") if d.body is None else d.body for d in dense])
        self._vectors.upsert(self.namespace, [d.id for d in dense], vecs, [d.kind for d in dense])

    def load(self, docs: Sequence[Doc]) -> None:
        """Fill a new catalog with what the log holds (no embedding); the lexical index by size.

        A namespace that shrank below the disk size (a forget) drops its on-disk index and
        goes back to RAM; one above it brings its on-disk index in step with the log.
        """
        with self.lock:
            self.docs = {d.id: d for d in docs}
            for d in self.docs.values():
                self._link(d)
            on_disk = self._backends.on_disk
            if on_disk is not None:
                big = self._backends.wants_disk(len(self.docs))
                disk = on_disk(self.namespace, big)
                if big and disk is not None:
                    self.lexical = disk
                elif disk is not None:
                    disk.drop()
            self.lexical.sync(self._lexical_items(self.docs.values()), generation=self.generation)
            self._to_disk(self.docs.values())
            self._turns_dirty = True
            self.version += 1

    def _grown_to_disk(self) -> LexicalSearch | None:
        """The on-disk index to move to, once a namespace in RAM passed the size for it."""
        on_disk = self._backends.on_disk
        if on_disk is None or not isinstance(self.lexical, LexicalIndex):
            return None
        return on_disk(self.namespace, True) if self._backends.wants_disk(len(self.docs)) else None

    def _to_disk(self, docs: Iterable[Doc]) -> None:
        """Once the lexical index is on disk, documents drop their texts (the store has them).

        `texts` is set before `body` is cleared: a recall reading `text` meanwhile gets one or the other.
        """
        texts = self._texts
        if texts is None or isinstance(self.lexical, LexicalIndex):
            return
        docs = list(docs)
        # a document rewritten in place (a forget's redaction of a summary) must not read its old text
        texts.discard(d.id for d in docs)
        for d in docs:
            d.texts = texts
            d.lexical_text = None
            d.body = None

    @staticmethod
    def _lexical_items(docs: Iterable[Doc]) -> list[tuple[str, str]]:
        return [(d.id, d.lexical_text or d.text) for d in docs]

    def _link(self, d: Doc) -> None:
        """Index a knowledge document by the steps it came from and the slots it fills."""
        if d.kind == "knowledge":
            for sid in d.source_ids:
                self._facts.setdefault(sid, set()).add(d.id)
            for key in _slot_keys(d):
                self._slots.setdefault(key, set()).add(d.id)

    def remove(self, ids: Iterable[str]) -> None:
        idl = [i for i in ids if i in self.docs]
        if not idl:
            return
        if self._vectors is not None:
            self._vectors.delete(self.namespace, idl)
        with self.lock:
            for i in idl:
                d = self.docs.pop(i)
                for sid in d.source_ids if d.kind == "knowledge" else ():
                    self._facts.get(sid, set()).discard(i)
                for key in _slot_keys(d):
                    self._slots.get(key, set()).discard(i)
            self.lexical.remove(idl)
            if self._texts is not None:
                self._texts.discard(idl)
            self._turns_dirty = True
            self.version += 1

    def facts_from(self, step_id: str) -> list[Doc]:
        """The knowledge derived from one step (current and superseded)."""
        with self.lock:
            return [self.docs[i] for i in self._facts.get(step_id, ()) if i in self.docs]

    def with_slot(self, key: str) -> list[Doc]:
        """Knowledge filling a slot ("residence"), or any slot of a family ("pet:"), current or not."""
        with self.lock:
            return [self.docs[i] for i in self._slots.get(key, ()) if i in self.docs]

    def of_kind(self, kind: str) -> list[Doc]:
        """Every document of one kind ("event", "summary"); cached until the catalog changes."""
        with self.lock:
            cached = self._by_kind.get(kind)
            if cached is not None and cached[0] == self.version:
                return cached[1]
            docs = [d for d in self.docs.values() if d.kind == kind]
            self._by_kind[kind] = (self.version, docs)
            return docs

    def turns(self) -> list[Doc]:
        with self.lock:
            if self._turns_dirty or (not self.turns_by_seq and self.docs):
                self.turns_by_seq = sorted(
                    (d for d in self.docs.values() if d.kind == "turn"), key=lambda d: d.seq
                )
                self._turn_pos = {d.id: i for i, d in enumerate(self.turns_by_seq)}
                self._turns_dirty = False
            return self.turns_by_seq

    def beside(self, turn_id: str) -> list[Doc]:
        """The turns just before and after `turn_id` in its session (a lookup, not a pass over the namespace)."""
        turns = self.turns()
        with self.lock:
            i = self._turn_pos.get(turn_id)
        if i is None:
            return []
        sid = turns[i].session_id
        return [turns[j] for j in (i - 1, i + 1) if 0 <= j < len(turns) and turns[j].session_id == sid]

    def prefetch(self, docs: Iterable[Doc]) -> None:
        """Read the off-heap texts of `docs` in one go: rendering reads them one by one, a query each."""
        if self._texts is not None:
            self._texts.prefetch([d.id for d in docs if d.body is None])

    def speakers(self) -> list[str]:
        """Who speaks in this namespace's turns, most turns first; cached until the catalog changes."""
        with self.lock:
            if self._speakers[0] != self.version:
                counts: dict[str, int] = {}
                for d in self.turns():
                    if d.speaker:
                        counts[d.speaker] = counts.get(d.speaker, 0) + 1
                self._speakers = (self.version, sorted(counts, key=lambda s: -counts[s]))
            return self._speakers[1]

    def missing_vectors(self) -> list[Doc]:
        """Docs the vector store lost (e.g. a crash between the log and Chroma)."""
        if self._vectors is None:
            return []
        have = self._vectors.count(self.namespace)
        ids = [i for i, d in self.docs.items() if d.kind in EMBEDDED_KINDS]
        if have >= len(ids):
            return []
        col = self._vectors._collection(self.namespace)
        present: set[str] = set()
        for i in range(0, len(ids), 2000):
            present.update(col.get(ids=ids[i : i + 2000], include=[])["ids"])
        return [self.docs[i] for i in ids if i not in present]

    def extra_vectors(self) -> list[str]:
        """Vector ids with no document (left by a crash after a forget committed), or of a kind no
        longer embedded (a memory written before `EMBEDDED_KINDS` left it out)."""
        if self._vectors is None:
            return []
        embedded = sum(1 for d in self.docs.values() if d.kind in EMBEDDED_KINDS)
        if self._vectors.count(self.namespace) <= embedded:
            return []
        docs = self.docs
        return [
            i
            for i in self._vectors.ids(self.namespace)
            if i not in docs or docs[i].kind not in EMBEDDED_KINDS
        ]

    def drop_vectors(self, ids: Sequence[str]) -> None:
        if self._vectors is not None:
            self._vectors.delete(self.namespace, ids)

    def search(self, query: str, qvec: np.ndarray | None, k: int, *, alpha: float = DENSE_WEIGHT) -> Hits:
        """Hybrid search: dense and lexical top-k, fused by a convex combination of scores
        (`alpha` is the dense side's weight)."""
        lex = self.lexical.search(query, k)
        dense: list[tuple[str, float]] = []
        if qvec is not None and self._vectors is not None:
            dense = [(i, s) for i, s in self._vectors.search(self.namespace, qvec, k) if i in self.docs]
        return Hits(fused=fuse(dense, lex, alpha=alpha), dense=dense, lexical=lex)


@dataclass(slots=True)
class Hits:
    fused: dict[str, float]
    dense: list[tuple[str, float]]
    lexical: list[tuple[str, float]]


def fuse(
    dense: list[tuple[str, float]], lexical: list[tuple[str, float]], *, alpha: float = DENSE_WEIGHT
) -> dict[str, float]:
    """Convex combination of min-max normalised cosine and max-normalised BM25.

    Beats reciprocal rank fusion here because it keeps how far ahead the best hits are.
    """
    out: dict[str, float] = {}
    if dense:
        hi, lo = dense[0][1], dense[-1][1]
        span = hi - lo if hi > lo else 1.0
        for i, s in dense:
            out[i] = alpha * (s - lo) / span
    if lexical:
        top = lexical[0][1] or 1.0
        w = 1.0 - alpha if dense else 1.0
        for i, s in lexical:
            out[i] = out.get(i, 0.0) + w * s / top
    return out
