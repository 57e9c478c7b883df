"""WordLlama as the embedding model: static word vectors whose weights ship inside the PyPI wheel.

Why an option beside MiniLM: `pip install "plugmem[wordllama]"` is the whole install (the 16 MB
weights and the tokenizer are in the wheel; nothing is downloaded, ever), and a text's vector is
a pooled lookup rather than a transformer pass, so embedding is many times faster. What it
costs in recall is measured by `python -m benchmarks.wordllama`; MiniLM stays the default.

Any LangChain `Embeddings` plugs into `PlugMem.open(embeddings=...)`; this one only adds the
offline loading and a model id (`model`) that plugmem records with every stored vector, so a
memory reopened with another model re-embeds instead of mixing vectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from plugmem.errors import EmbeddingUnavailableError

DEFAULT_CONFIG = "l2_supercat"
DEFAULT_DIM = 256


def _load(config: str, dim: int) -> Any:
    try:
        import wordllama
    except ImportError as exc:
        raise EmbeddingUnavailableError(
            f"WordLlamaEmbeddings needs the wordllama package ({exc}); install it with "
            '`pip install "plugmem[wordllama]"`'
        ) from None
    # wordllama 0.4 looks for its packaged tokenizer under `tokenizer/` but ships it under
    # `tokenizers/`, then tries Hugging Face; its cache layout is the package's own layout, so
    # pointing the cache at the package finds both files, and downloads stay off
    home = Path(wordllama.__file__).parent
    try:
        return wordllama.WordLlama.load(config, dim=dim, cache_dir=home, disable_download=True)
    except (FileNotFoundError, ValueError, AttributeError) as exc:
        raise EmbeddingUnavailableError(
            f"WordLlama model {config!r} at {dim} dimensions is not inside the installed wordllama "
            f"package ({exc}); the wheel ships {DEFAULT_CONFIG!r} at {DEFAULT_DIM}"
        ) from None


class WordLlamaEmbeddings(Embeddings):
    """WordLlama's `l2_supercat` vectors (256 dimensions), L2-normalised, loaded without a network."""

    def __init__(
        self, config: str = DEFAULT_CONFIG, dim: int = DEFAULT_DIM, *, batch_size: int = 256
    ) -> None:
        self._model = _load(config, dim)
        self.model = f"wordllama-{config}-{dim}"  # the id plugmem stores with each vector (model_id_of)
        self.batch_size = batch_size

    def embed_array(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        vecs = self._model.embed(list(texts), norm=True, batch_size=self.batch_size)
        return np.asarray(vecs, dtype=np.float32)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_array([text])[0].tolist()
