"""WordLlama as the embedding model: loads with no network, and a memory on it recalls by meaning.

Runs wherever the `wordllama` extra is installed (`make setup` installs it with the dev extra);
elsewhere it skips, saying so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip(
    "wordllama", reason='the wordllama extra is not installed (pip install "plugmem[wordllama]")'
)

from plugmem import MemoryPolicy, PlugMem
from plugmem.index.embeddings import model_id_of
from plugmem.index.wordllama import WordLlamaEmbeddings


def test_loads_from_the_wheel_alone_with_unit_vectors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no cache of a previous download to lean on
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    emb = WordLlamaEmbeddings()
    vecs = np.asarray(emb.embed_documents(["My sister adopted a beagle.", "Taxes are due in April."]))
    assert vecs.shape == (2, 256)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(emb.embed_query("My sister adopted a beagle."), vecs[0], atol=1e-6)
    assert not (tmp_path / "home").exists()  # nothing was downloaded or cached
    assert model_id_of(emb).endswith(":wordllama-l2_supercat-256")


def test_a_memory_on_wordllama_recalls_by_meaning(tmp_path: Path) -> None:
    policy = MemoryPolicy(full_history_when_fits=False)
    with PlugMem.open(tmp_path / "m", policy=policy, embeddings=WordLlamaEmbeddings()) as mem:
        mem.add(
            [
                {"role": "user", "content": "My sister adopted a beagle called Biscuit.", "id": "dog"},
                {"role": "user", "content": "The quarterly tax filing is due in April.", "id": "tax"},
            ],
            namespace="u",
        )
        mem.flush()
        assert mem.embeddings is not None and mem.embeddings.model_id.endswith("wordllama-l2_supercat-256")
        # no word of the question is in the answer: only the vectors can find it
        top = mem.recall("Which puppy joined the family?", namespace="u", mode="fast").items[0]
        assert "dog" in top.source_ids
