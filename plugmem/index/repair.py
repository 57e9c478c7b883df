"""Damaged vector index files are detected before they can crash the process, then rebuilt.

Why a child process: a corrupt HNSW file can make Chroma's native loader segfault, which
no `try` survives. So when the index was not closed cleanly (no fingerprint left by
`mark_clean`, or its files changed since), a separate Python process opens every
collection and runs one query first. If that child fails in any way, the index directory
is moved aside and rebuilt from SQLite, which is the source of truth (vectors come back
from the embedding cache or are re-embedded). The child is a fresh interpreter
(subprocess), never a fork of a process that has loaded onnxruntime or Chroma.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("plugmem")

CLEAN_FILE = "plugmem-clean.json"
PROBE_TIMEOUT_S = 120.0
_INDEX_SUFFIXES = (".bin", ".pickle", ".sqlite3")


def fingerprint(path: Path) -> dict[str, list[int]]:
    """Size and mtime of the index's files: what must match for the last clean close to vouch for them."""
    out: dict[str, list[int]] = {}
    for f in sorted(path.rglob("*")):
        if f.is_file() and f.suffix in _INDEX_SUFFIXES:
            st = f.stat()
            out[str(f.relative_to(path))] = [st.st_size, st.st_mtime_ns]
    return out


def mark_clean(path: Path) -> None:
    """Record the index files as they are at a clean close."""
    if path.is_dir():
        try:
            (path / CLEAN_FILE).write_text(json.dumps(fingerprint(path)))
        except OSError as exc:
            log.debug("plugmem: could not mark the vector index clean: %s", exc)


def needs_probe(path: Path) -> bool:
    """True unless the index is absent or unchanged since a clean close. Consumes the mark."""
    if not path.is_dir() or not any(path.iterdir()):
        return False
    marker = path / CLEAN_FILE
    try:
        clean = json.loads(marker.read_text())
    except (OSError, ValueError):
        return True
    marker.unlink(missing_ok=True)  # a crash from here on leaves no mark: the next open probes
    return bool(clean != fingerprint(path))


def probe(path: Path) -> str | None:
    """Load every collection in a child process; None if it worked, else what went wrong."""
    code = "import sys; from plugmem.index.repair import _probe_main; _probe_main(sys.argv[1])"
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, str(path)],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"loading the index took over {PROBE_TIMEOUT_S:.0f} s"
    except OSError as exc:  # cannot start a child: load in-process as before
        log.warning("plugmem: could not probe the vector index (%s); loading it directly", exc)
        return None
    if done.returncode == 0:
        return None
    tail = (done.stderr or "").strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
    return tail[0] if done.returncode > 0 else f"the loader crashed (signal {-done.returncode})"


def _probe_main(path: str) -> None:
    import chromadb
    from chromadb.config import Settings

    client = chromadb.PersistentClient(path=path, settings=Settings(anonymized_telemetry=False))
    for col in client.list_collections():
        c = client.get_collection(col.name if hasattr(col, "name") else str(col))
        if c.count():
            got: Any = c.get(limit=1, include=["embeddings"])
            vec: Any = [list(got["embeddings"][0])]
            c.query(query_embeddings=vec, n_results=1)


def set_aside(path: Path, why: str) -> Path:
    """Move a damaged index out of the way (kept for inspection); the caller rebuilds from SQLite."""
    target = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    path.rename(target)
    log.warning(
        "plugmem: the vector index at %s could not be loaded (%s); moved it to %s and rebuilding it from "
        "the SQLite log",
        path,
        why,
        target,
    )
    return target
