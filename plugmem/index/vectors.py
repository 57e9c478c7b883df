"""Vectors in Chroma: one collection per namespace, so tenants are isolated in storage.

Embeddings are computed by plugmem (length-sorted batches, cached by content hash)
and handed to Chroma precomputed; Chroma never runs its own embedding function.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from plugmem.namespace import NamespaceKey

log = logging.getLogger("plugmem")

MAX_BATCH = 4000


def collection_name(namespace: NamespaceKey, model_id: str) -> str:
    digest = hashlib.blake2b(f"{model_id}\x00{namespace}".encode(), digest_size=16).hexdigest()
    return f"pm_{digest}"


class VectorIndex:
    """Chroma `PersistentClient` by default; pass `client=` for an `HttpClient`."""

    def __init__(self, path: str | Path | None = None, *, model_id: str, client: Any = None) -> None:
        import chromadb
        from chromadb.config import Settings

        if client is None:
            # absolute: Chroma keeps one client per path string in the process, so "./memory" opened
            # again after a chdir would reach the first directory's (maybe deleted) database
            client = chromadb.PersistentClient(
                path=str(Path(str(path)).absolute()),
                settings=Settings(anonymized_telemetry=False, allow_reset=False),
            )
        self._client = client
        self._model_id = model_id
        self._collections: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _collection(self, namespace: NamespaceKey, create: bool = True) -> Any:
        with self._lock:
            col = self._collections.get(namespace)
            if col is None:
                name = collection_name(namespace, self._model_id)
                if create:
                    col = self._client.get_or_create_collection(
                        name=name,
                        embedding_function=None,
                        metadata={"hnsw:space": "cosine", "namespace": namespace, "model": self._model_id},
                    )
                else:
                    try:
                        col = self._client.get_collection(name=name, embedding_function=None)
                    except Exception:
                        return None
                self._collections[namespace] = col
            return col

    def upsert(
        self, namespace: NamespaceKey, ids: Sequence[str], vectors: np.ndarray, kinds: Sequence[str]
    ) -> None:
        if not ids:
            return
        col = self._collection(namespace)
        for i in range(0, len(ids), MAX_BATCH):
            col.upsert(
                ids=list(ids[i : i + MAX_BATCH]),
                embeddings=vectors[i : i + MAX_BATCH],
                metadatas=[{"kind": k} for k in kinds[i : i + MAX_BATCH]],
            )

    def count(self, namespace: NamespaceKey) -> int:
        col = self._collection(namespace, create=False)
        return int(col.count()) if col is not None else 0

    def ids(self, namespace: NamespaceKey) -> list[str]:
        col = self._collection(namespace, create=False)
        if col is None:
            return []
        out: list[str] = []
        while True:
            page = col.get(include=[], limit=MAX_BATCH, offset=len(out))["ids"]
            out += page
            if len(page) < MAX_BATCH:
                return out

    def search(self, namespace: NamespaceKey, query: np.ndarray, k: int) -> list[tuple[str, float]]:
        """Top-k (id, cosine similarity)."""
        col = self._collection(namespace, create=False)
        if col is None:
            return []
        # no count() first: it cost a round trip per query, and Chroma ≥ 1.0 caps n_results itself
        try:
            res = col.query(query_embeddings=[query], n_results=k, include=["distances"])
        except Exception as exc:  # a damaged index must not fail recall; lexical search still answers
            log.warning(
                "plugmem: vector search failed in %s (%s); answering from lexical search", namespace, exc
            )
            return []
        return [(i, 1.0 - float(d)) for i, d in zip(res["ids"][0], res["distances"][0], strict=True)]

    def delete(self, namespace: NamespaceKey, ids: Sequence[str]) -> None:
        col = self._collection(namespace, create=False)
        if col is not None and ids:
            for i in range(0, len(ids), MAX_BATCH):
                col.delete(ids=list(ids[i : i + MAX_BATCH]))

    def close(self) -> None:
        """Release the client's files and threads (Chroma keeps one client per path in a process until closed)."""
        close = getattr(self._client, "close", None)
        if callable(close):
            close()

    def drop(self, namespace: NamespaceKey) -> None:
        with self._lock:
            self._collections.pop(namespace, None)
            try:
                self._client.delete_collection(collection_name(namespace, self._model_id))
            except Exception:
                return
