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
from typing import Any, Literal

import numpy as np
from langchain_core.embeddings import Embeddings

from plugmem.errors import EmbeddingUnavailableError, ModelDownloadError
from plugmem.index.quantize import int8_home, int8_model_dir
from plugmem.priority import thread_niceness

Precision = Literal["fp32", "int8"]
PrecisionChoice = Literal["auto", "fp32", "int8"]

log = logging.getLogger("plugmem")

MODEL_ENV = "PLUGMEM_EMBEDDING_MODEL_DIR"
DOWNLOAD_ENV = "PLUGMEM_MODEL_DOWNLOAD"  # "0" turns the automatic download off (tests, air-gapped hosts)
MODEL_NAME = "all-MiniLM-L6-v2"
REQUIRED_FILES = ("model.onnx", "tokenizer.json")
PROBE_TIMEOUT_S = 3.0


def chroma_model_home() -> Path:
    """The folder chromadb's own downloader fills (it unpacks the model into `onnx/` below it).

    Computed at call time, not import time, so a changed HOME (tests) is honoured.
    """
    return Path.home() / ".cache" / "chroma" / "onnx_models" / MODEL_NAME


def candidate_model_dirs() -> list[Path]:
    """Where the default model may already be on disk, in order of preference."""
    dirs: list[Path] = []
    env = os.environ.get(MODEL_ENV)
    if env:
        dirs.append(Path(env).expanduser())
    dirs.append(chroma_model_home() / "onnx")
    return dirs


def find_model_dir() -> Path | None:
    """The one lookup of the default model: the embedder, `plugmem model` and the test skips all use it."""
    for d in candidate_model_dirs():
        if all((d / f).is_file() for f in REQUIRED_FILES):
            return d
    return None


def missing_model_message() -> str:
    """What to do when the model is not on this machine, in one sentence a user can act on."""
    looked = ", ".join(str(d) for d in candidate_model_dirs())
    return (
        f"the embedding model {MODEL_NAME} (ONNX) is not on this machine (looked in {looked}); "
        "recall is lexical-only (BM25) until it is. Get it with `plugmem model fetch` (downloads ~80 MB once, "
        f"checksum-verified, into {chroma_model_home()}), or set {MODEL_ENV} to a folder holding "
        f"{' and '.join(REQUIRED_FILES)}"
    )


def model_download_url() -> str:
    """The archive chromadb's own downloader fetches (and checksum-verifies)."""
    from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2

    return str(ONNXMiniLM_L6_V2.MODEL_DOWNLOAD_URL)


def host_reachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """True when a TCP connection to the URL's host can be opened (a quick, download-free probe)."""
    import socket
    from urllib.parse import urlparse

    parts = urlparse(url)
    if not parts.hostname:
        return False
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError:
        return False
    return True


def fetch_model(target: Path | None = None, *, timeout: float = PROBE_TIMEOUT_S) -> Path:
    """Download the default model once through chromadb's downloader and return its folder.

    chromadb verifies the archive's SHA-256 and shows a tqdm progress bar; the files land
    where Chroma itself looks (`target`, default `~/.cache/chroma/onnx_models/all-MiniLM-L6-v2`),
    so one download serves both. Raises `ModelDownloadError` when the host cannot be reached.
    """
    from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2

    home = Path(target) if target is not None else chroma_model_home()
    onnx_dir = home / ONNXMiniLM_L6_V2.EXTRACTED_FOLDER_NAME
    if all((onnx_dir / f).is_file() for f in REQUIRED_FILES):
        return onnx_dir
    url = model_download_url()
    if not host_reachable(url, timeout):
        raise ModelDownloadError(
            f"cannot reach {url} to download {MODEL_NAME}: no network to the model host. Copy the model "
            f"folder from a machine that has it and set {MODEL_ENV} to it (it must hold "
            f"{' and '.join(REQUIRED_FILES)}), or run `plugmem model fetch` where the host is reachable"
        )
    downloader = ONNXMiniLM_L6_V2()
    downloader.DOWNLOAD_PATH = home  # an instance attribute shadows the import-time default
    try:
        downloader._download_model_if_not_exists()
    except Exception as exc:  # network drops, checksum mismatch after retries, a full disk
        raise ModelDownloadError(f"downloading {MODEL_NAME} into {home} failed: {exc}; run it again") from exc
    return onnx_dir


def auto_download_enabled() -> bool:
    return os.environ.get(DOWNLOAD_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


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
        precision: Precision = "fp32",
    ) -> None:
        from tokenizers import Tokenizer

        path = Path(model_dir) if model_dir else find_model_dir()
        if path is None or not all((path / f).is_file() for f in REQUIRED_FILES):
            if model_dir is None:
                raise EmbeddingUnavailableError(missing_model_message())
            raise EmbeddingUnavailableError(
                f"{model_dir} does not hold the {MODEL_NAME} ONNX model ({' and '.join(REQUIRED_FILES)}); "
                "point it at the model's onnx folder, or run `plugmem model fetch`"
            )
        self.precision = precision
        self.model_dir = int8_model_dir(path, int8_home(MODEL_NAME)) if precision == "int8" else path
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        tok.enable_truncation(max_length=max_length)
        tok.no_padding()
        self._tok = tok
        self._threads = threads or min(4, os.cpu_count() or 1)
        self._niceness = thread_niceness()
        self._session = self._new_session(spinning=True)
        self._background: Any = None  # for threads of lowered priority
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._lock = threading.Lock()  # onnxruntime sessions are thread-safe, tokenizers not always

    def _new_session(self, *, spinning: bool) -> Any:
        import onnxruntime as ort  # imported here: importing plugmem must not load the runtime

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self._threads
        opts.inter_op_num_threads = 1
        if not spinning:  # idle pool threads sleep instead of spinning on cores a reader wants
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(
            str(self.model_dir / "model.onnx"), sess_options=opts, providers=["CPUExecutionProvider"]
        )

    def _session_for_caller(self) -> Any:
        """The session whose pool threads run at the caller's priority.

        A pool thread inherits the niceness of the thread that created the session, so a
        thread of lowered priority (the ingest worker) gets a session created by itself:
        its batches then yield the cores to recall's query embedding too.
        """
        if thread_niceness() <= self._niceness:
            return self._session
        with self._lock:
            if self._background is None:
                self._background = self._new_session(spinning=False)
            return self._background

    def embed_array(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts into an (n, 384) float32 array, in input order."""
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        with self._lock:
            encs = self._tok.encode_batch(list(texts))
        session = self._session_for_caller()
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
            hidden = session.run(None, feeds)[0]
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


def default_embeddings(
    precision: PrecisionChoice = "auto", has_vectors_of: Callable[[str], bool] | None = None
) -> Embeddings | None:
    """The default model: found on disk, else downloaded once if the host is reachable, else None.

    When it ends with None it logs exactly one warning that says how to get the model.
    `has_vectors_of(model_id)` tells "auto" whether a memory already holds vectors of a model.
    """
    path = find_model_dir()
    if path is None and auto_download_enabled():
        try:
            path = fetch_model()
        except ModelDownloadError as exc:
            log.debug("plugmem: automatic model download skipped: %s", exc)
    if path is None:
        log.warning("plugmem: %s.", missing_model_message())
        return None
    if precision != "auto":
        return OnnxMiniLM(path, precision=precision)
    return _auto_precision(path, has_vectors_of or (lambda _model: False))


def _auto_precision(path: Path, has_vectors_of: Callable[[str], bool]) -> OnnxMiniLM:
    """INT8 for new memories; FP32 for a memory built with FP32 vectors and no INT8 ones.

    Why: INT8 embeds ~2x faster at the same recall, but switching an existing memory would
    re-embed all of it on the first recall of each namespace. If the INT8 copy cannot be
    made (an unwritable cache folder), FP32 is used and a warning says why.
    """
    if has_vectors_of(MODEL_NAME) and not has_vectors_of(f"{MODEL_NAME}-int8"):
        return OnnxMiniLM(path, precision="fp32")
    try:
        return OnnxMiniLM(path, precision="int8")
    except EmbeddingUnavailableError as exc:
        log.warning("plugmem: embedding with FP32 weights: %s", exc)
        return OnnxMiniLM(path, precision="fp32")


def model_id_of(emb: Embeddings) -> str:
    if isinstance(emb, OnnxMiniLM):
        return MODEL_NAME if emb.precision == "fp32" else f"{MODEL_NAME}-{emb.precision}"
    name = getattr(emb, "model", None) or getattr(emb, "model_name", None)
    return f"{type(emb).__module__}.{type(emb).__qualname__}:{name or ''}"
