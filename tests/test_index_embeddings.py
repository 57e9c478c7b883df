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


def test_int8_copy_is_made_once_and_embeds_close_to_fp32(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """INT8 is a speed choice that must not change what is found: vectors stay close to FP32's."""
    from plugmem.index.embeddings import model_id_of

    monkeypatch.setenv("HOME", str(tmp_path))
    fp32 = OnnxMiniLM(find_model_dir())
    int8 = OnnxMiniLM(find_model_dir(), precision="int8")
    copy = tmp_path / ".cache" / "plugmem" / "models" / "all-MiniLM-L6-v2-int8" / "model.onnx"
    assert int8.model_dir == copy.parent and copy.is_file()
    assert copy.stat().st_size < (fp32.model_dir / "model.onnx").stat().st_size / 2
    cos = (fp32.embed_array(TEXTS) * int8.embed_array(TEXTS)).sum(axis=1)
    assert cos.min() > 0.95 and cos.mean() > 0.98
    made = copy.stat().st_mtime_ns
    assert OnnxMiniLM(find_model_dir(), precision="int8").model_dir == copy.parent
    assert copy.stat().st_mtime_ns == made  # made once, then reused
    assert model_id_of(int8) != model_id_of(fp32)  # their vectors never share a collection or a cache


def test_a_memory_on_int8_embeddings_recalls_by_meaning(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from plugmem import MemoryPolicy, PlugMem

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    policy = MemoryPolicy(embedding_precision="int8", full_history_when_fits=False)
    with PlugMem.open(tmp_path / "m", policy=policy) as mem:
        mem.add(
            [
                {"role": "user", "content": "My sister adopted a beagle called Biscuit.", "id": "dog"},
                {"role": "user", "content": "The quarterly tax filing is due in April.", "id": "tax"},
            ],
            namespace="u",
        )
        mem.flush()
        assert mem.embeddings is not None and mem.embeddings.model_id.endswith("-int8")
        top = mem.recall("Which puppy joined the family?", namespace="u", mode="fast").items[0]
        assert "dog" in top.source_ids


def test_auto_precision_is_int8_for_new_memories_and_keeps_an_fp32_memory_on_fp32(  # type: ignore[no-untyped-def]
    tmp_path, monkeypatch, caplog
) -> None:
    """Switching an existing memory's model would re-embed all of it on the next recall: "auto" never does."""
    from plugmem import MemoryPolicy, PlugMem

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    turn = [{"role": "user", "content": "My sister adopted a beagle called Biscuit.", "id": "dog"}]
    with PlugMem.open(tmp_path / "new") as mem:
        assert mem.embeddings is not None and mem.embeddings.model_id == "all-MiniLM-L6-v2-int8"
    with PlugMem.open(tmp_path / "old", policy=MemoryPolicy(embedding_precision="fp32")) as mem:
        mem.add(turn, namespace="u")
        mem.flush()
    with PlugMem.open(tmp_path / "old") as mem:  # the default policy, "auto"
        assert mem.embeddings is not None and mem.embeddings.model_id == "all-MiniLM-L6-v2"
        assert "dog" in mem.recall("Which puppy joined the family?", namespace="u", mode="fast").source_ids

    monkeypatch.setenv("HOME", str(tmp_path / "home" / "a-file"))  # no cache folder can be made below a file
    (tmp_path / "home" / "a-file").write_text("")
    with caplog.at_level("WARNING", logger="plugmem"), PlugMem.open(tmp_path / "nohome") as mem:
        assert mem.embeddings is not None and mem.embeddings.model_id == "all-MiniLM-L6-v2"
    assert "embedding with FP32 weights" in caplog.text and "embedding_precision" in caplog.text
