"""The ONNX embedder: batching must never change a vector, only how much memory it takes."""

from __future__ import annotations

import numpy as np
import pytest

from plugmem.index.embeddings import OnnxMiniLM, find_model_dir

pytestmark = pytest.mark.needs_model

TEXTS = [
    "ok",
    "I moved to Lisbon in March and I love the light there.",
    "We met at the cafe on Tuesday. " * 40,  # long: about 300 tokens before truncation
    "My sister adopted a beagle called Biscuit last spring, and he already knows how to sit.",
    "Tool result: 3 flights found, the cheapest leaves at 07:40 from gate B12.",
] * 5


def test_token_capped_batches_give_the_same_vectors_in_input_order() -> None:
    model_dir = find_model_dir()
    wide = OnnxMiniLM(model_dir, max_batch_tokens=10**9)
    narrow = OnnxMiniLM(model_dir, max_batch_tokens=300)
    a, b = wide.embed_array(TEXTS), narrow.embed_array(TEXTS)
    assert a.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(a, b, atol=1e-5)
    single = np.stack([wide.embed_array([t])[0] for t in TEXTS[:5]])
    np.testing.assert_allclose(a[:5], single, atol=1e-5)  # padding inside a batch changes nothing
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)


def test_batches_respect_row_and_token_caps_and_cover_every_text() -> None:
    model = OnnxMiniLM(find_model_dir(), batch_size=4, max_batch_tokens=100)
    lengths = [5, 5, 5, 5, 5, 30, 30, 30, 30, 200, 7]
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches = model._batches(order, lengths)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) <= 4
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 100
    assert [200] in [[lengths[i] for i in b] for b in batches]  # an over-cap text still goes, alone
