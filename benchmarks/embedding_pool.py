"""Vectors of the scaling benchmark's filler texts, embedded once and kept in a file.

Why: on 2 shared cores embedding is nearly all of a turns-only ingest (a profile of a 10k run on
the server backend: 99 % of the ingest thread in the ONNX model), so runs of several sizes on
two backends would embed the same texts again and again. With `--embedding-pool FILE` the
benchmark embeds each distinct filler text once, with the run's model, into FILE, and puts the
vectors in each fresh memory's embedding cache before ingest, the way `plugmem import` loads an
export's vectors (`store.save_vectors`). Ingest then measures the rest of the pipeline; the
embedding cost per text is measured on its own by the `int8` and `embedding` stages.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.common import Stopwatch, progress
from benchmarks.data import Turn
from plugmem.fence import defuse_label
from plugmem.index.embeddings import OnnxMiniLM, model_id_of, text_hash

CHUNK = 4096  # texts embedded between two saves of the file


def vector_text(t: Turn) -> str:
    """The text the pipeline embeds for a turn (`catalog.turn_text`: "speaker: content")."""
    return f"{defuse_label(t.speaker)}: {t.text}"


def _load(path: Path, model: str) -> dict[str, np.ndarray]:
    if not path.exists():
        return {}
    with np.load(path) as f:
        if str(f["model"]) != model:
            raise SystemExit(f"{path} holds vectors of {f['model']}, not of {model}: use another file")
        return dict(zip((str(h) for h in f["hashes"]), f["vectors"], strict=True))


def _save(path: Path, model: str, vecs: dict[str, np.ndarray]) -> None:
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, model=np.array(model), hashes=np.array(list(vecs)), vectors=np.stack(list(vecs.values())))
    tmp.replace(path)


def embedding_pool(
    turns: Sequence[Turn], model: OnnxMiniLM, path: Path
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Every distinct turn text's vector keyed by text hash, from `path` or embedded now (and saved there).

    An interrupted run keeps what it embedded: the file is rewritten every CHUNK texts.
    """
    mid = model_id_of(model)
    have = _load(path, mid)
    texts = {text_hash(s): s for s in dict.fromkeys(vector_text(t) for t in turns)}
    missing = [(k, s) for k, s in texts.items() if k not in have]
    clock = Stopwatch()
    for i in progress(range(0, len(missing), CHUNK), "embedding pool"):
        part = missing[i : i + CHUNK]
        have.update(zip((k for k, _ in part), model.embed_array([s for _, s in part]), strict=True))
        _save(path, mid, have)
    info = {"texts": len(texts), "embedded_now": len(missing), "embed_seconds": round(clock.s, 1)}
    return {k: have[k] for k in texts}, info


def vectors_for(turns: Sequence[Turn], pool: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The pool's vectors of these turns' texts (a smaller size seeds only its own)."""
    keys = {text_hash(vector_text(t)) for t in turns}
    return {k: pool[k] for k in keys if k in pool}
