"""An INT8 copy of the default embedding model, made once with onnxruntime's own quantizer.

Why: embedding is most of ingest time, and dynamic INT8 quantization with per-channel weights
embeds ~2x more texts per CPU-second than FP32 on a 2-core x86 machine, with vectors at a mean
cosine of 0.99 to FP32's and the same LoCoMo evidence recall (`python -m benchmarks.int8`).
It is the default for new memories (`MemoryPolicy.embedding_precision`, "auto"). Vectors of
the two never mix: the model id differs, so the vector collection and the embedding cache are
separate.

The copy is made from whatever FP32 model was found, into a cache folder, once (a few seconds).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from plugmem.errors import EmbeddingUnavailableError

MODEL_FILE = "model.onnx"
SOURCE_FILE = "source.json"  # which FP32 model (path and size) the copy was made from


def int8_home(model_name: str) -> Path:
    """Where the INT8 copy is kept; computed at call time so a changed HOME is honoured."""
    return Path.home() / ".cache" / "plugmem" / "models" / f"{model_name}-int8"


def _source_of(source: Path) -> dict[str, object]:
    return {"path": str(source.resolve()), "size": (source / MODEL_FILE).stat().st_size}


def _is_current(target: Path, source: Path) -> bool:
    try:
        made_from = json.loads((target / SOURCE_FILE).read_text())
    except (OSError, ValueError):
        return False
    return made_from == _source_of(source) and (target / MODEL_FILE).is_file()


def int8_model_dir(source: Path, target: Path) -> Path:
    """The INT8 copy of the model in `source`, made into `target` unless it is already there."""
    if _is_current(target, source):
        return target
    if importlib.util.find_spec("onnx") is None:
        raise EmbeddingUnavailableError(
            "INT8 embeddings need the `onnx` package for onnxruntime's quantizer (a plugmem "
            "dependency): `pip install onnx`, or use embedding_precision='fp32'"
        )
    try:
        target.mkdir(parents=True, exist_ok=True)
        for f in source.iterdir():
            if f.is_file() and f.name != MODEL_FILE:
                shutil.copyfile(f, target / f.name)
        partial = target / f"{MODEL_FILE}.partial"
        _quantize_in_child(source / MODEL_FILE, partial)
        os.replace(partial, target / MODEL_FILE)  # a killed run leaves no half model behind
        (target / SOURCE_FILE).write_text(json.dumps(_source_of(source)))
    except OSError as exc:
        raise EmbeddingUnavailableError(
            f"cannot write the INT8 copy of the embedding model into {target} ({exc}); "
            "make that folder writable, or use embedding_precision='fp32'"
        ) from exc
    return target


def _quantize_in_child(model: Path, out: Path) -> None:
    """Run the quantizer in a child process: importing it reconfigures the root logger."""
    done = subprocess.run(
        [sys.executable, "-m", "plugmem.index.quantize", str(model), str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise EmbeddingUnavailableError(
            f"quantizing {model} to INT8 failed ({tail[0]}); use embedding_precision='fp32'"
        )


def _quantize(model: str, out: str) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(model, out, per_channel=True, weight_type=QuantType.QInt8)


if __name__ == "__main__":
    _quantize(sys.argv[1], sys.argv[2])
