"""Embeddings: the default ONNX MiniLM model, and a content-hash cache for any model.

The default runs all-MiniLM-L6-v2 (the model Chroma uses by default) with onnxruntime,
sorting texts by length and padding each batch only to its longest text. That is what
makes it ~10x faster than padding everything to 256 tokens.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

from plugmem.errors import EmbeddingUnavailableError

log = logging.getLogger("plugmem")

MODEL_ENV = "PLUGMEM_EMBEDDING_MODEL_DIR"
MODEL_NAME = "all-MiniLM-L6-v2"
REQUIRED_FILES = ("model.onnx", "tokenizer.json")


def candidate_model_dirs() -> list[Path]:
    """Where the default model may already be on disk, in order of preference."""
    dirs: list[Path] = []
    env = os.environ.get(MODEL_ENV)
    if env:
        dirs.append(Path(env).expanduser())
    dirs.append(Path.home() / ".cache" / "chroma" / "onnx_models" / MODEL_NAME / "onnx")
    return dirs


def find_model_dir() -> Path | None:
    for d in candidate_model_dirs():
        if all((d / f).is_file() for f in REQUIRED_FILES):
            return d
    return None


class OnnxMiniLM(Embeddings):
    """all-MiniLM-L6-v2 via onnxruntime: mean-pooled, L2-normalised, 384 dims."""

    dims = 384

    def __init__(
        self,
        model_dir: str | Path | None = None,
        *,
        batch_size: int = 64,
        max_batch_tokens: int = 2048,
        max_length: int = 256,
        threads: int | None = None,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        path = Path(model_dir) if model_dir else find_model_dir()
        if path is None or not all((path / f).is_file() for f in REQUIRED_FILES):
            looked = [str(d) for d in ([Path(model_dir)] if model_dir else candidate_model_dirs())]
            raise EmbeddingUnavailableError(
                f"all-MiniLM-L6-v2 ONNX model not found (looked in {looked}); set {MODEL_ENV} to a folder "
                f"holding {', '.join(REQUIRED_FILES)}"
            )
        self.model_dir = path
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        tok.enable_truncation(max_length=max_length)
        tok.no_padding()
        self._tok = tok
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or min(4, os.cpu_count() or 1)
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(path / "model.onnx"), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._lock = threading.Lock()  # onnxruntime sessions are thread-safe, tokenizers not always

    def embed_array(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts into an (n, 384) float32 array, in input order."""
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        with self._lock:
            encs = self._tok.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encs[i].ids))
        out = np.zeros((len(texts), self.dims), dtype=np.float32)
        for idx in self._batches(order, [len(e.ids) for e in encs]):
            width = max(len(encs[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                n = len(encs[i].ids)
                ids[row, :n] = encs[i].ids
                mask[row, :n] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._inputs:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self._session.run(None, feeds)[0]
            m = mask[:, :, None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[idx] = pooled / np.clip(norms, 1e-12, None)
        return out

    def _batches(self, order: list[int], lengths: list[int]) -> list[list[int]]:
        """Cut length-sorted indexes into batches capped in rows and in padded tokens.

        The token cap keeps long texts in small batches: onnxruntime's arena keeps its peak
        buffers for the life of the session, so one 64 x 256 batch would pin ~1.7 GB; 2048 also measured fastest.
        """
        batches: list[list[int]] = []
        batch: list[int] = []
        for i in order:
            width = lengths[i]  # ascending order: the newest text is the widest in the batch
            if batch and (len(batch) >= self.batch_size or (len(batch) + 1) * width > self.max_batch_tokens):
                batches.append(batch)
                batch = []
            batch.append(i)
        if batch:
            batches.append(batch)
        return batches

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_array([text])[0].tolist()


def text_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


class CachedEmbeddings(Embeddings):
    """Wraps any LangChain `Embeddings` so that no text is embedded twice.

    Document vectors go to a persistent cache (`load`/`save` callables backed by the
    store); queries go to a small in-process LRU.
    """

    def __init__(
        self,
        inner: Embeddings,
        *,
        model_id: str,
        load: Callable[[str, list[str]], dict[str, np.ndarray]] | None = None,
        save: Callable[[str, dict[str, np.ndarray]], None] | None = None,
        query_cache_size: int = 1024,
    ) -> None:
        self.inner = inner
        self.model_id = model_id
        self._load = load
        self._save = save
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._qsize = query_cache_size
        self._qlock = threading.Lock()
        self.embedded = 0  # texts actually sent to the model (for stats and tests)

    def _embed_raw(self, texts: list[str]) -> np.ndarray:
        self.embedded += len(texts)
        if isinstance(self.inner, OnnxMiniLM):
            return self.inner.embed_array(texts)
        return np.asarray(self.inner.embed_documents(texts), dtype=np.float32)

    def embed_array(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        keys = [text_hash(t) for t in texts]
        found: dict[str, np.ndarray] = self._load(self.model_id, list(set(keys))) if self._load else {}
        missing: dict[str, str] = {}
        for k, t in zip(keys, texts, strict=True):
            if k not in found and k not in missing:
                missing[k] = t
        if missing:
            vecs = self._embed_raw(list(missing.values()))
            new = dict(zip(missing.keys(), vecs, strict=True))
            if self._save:
                try:
                    self._save(self.model_id, new)
                except Exception as exc:  # a cache that cannot grow (full disk) must not fail the caller
                    log.warning("plugmem: embedding cache not updated: %s", exc)
            found.update(new)
        return np.stack([found[k] for k in keys]).astype(np.float32)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()

    def forget_queries(self) -> None:
        """Empty the query-vector cache (benchmarks time a new question's full cost with it)."""
        with self._qlock:
            self._queries.clear()

    def embed_query_array(self, text: str) -> np.ndarray:
        key = text_hash(text)
        with self._qlock:
            hit = self._queries.get(key)
            if hit is not None:
                self._queries.move_to_end(key)
                return hit
        if isinstance(self.inner, OnnxMiniLM):
            vec = self.inner.embed_array([text])[0]
        else:
            vec = np.asarray(self.inner.embed_query(text), dtype=np.float32)
        self.embedded += 1
        with self._qlock:
            self._queries[key] = vec
            if len(self._queries) > self._qsize:
                self._queries.popitem(last=False)
        return vec

    def embed_query(self, text: str) -> list[float]:
        return self.embed_query_array(text).tolist()


def default_embeddings() -> Embeddings | None:
    """The default model if it can be found, else None with one clear warning."""
    try:
        return OnnxMiniLM()
    except EmbeddingUnavailableError as exc:
        log.warning("plugmem: %s. Falling back to lexical-only recall (BM25).", exc)
        return None


def model_id_of(emb: Embeddings) -> str:
    if isinstance(emb, OnnxMiniLM):
        return MODEL_NAME
    name = getattr(emb, "model", None) or getattr(emb, "model_name", None)
    return f"{type(emb).__module__}.{type(emb).__qualname__}:{name or ''}"
