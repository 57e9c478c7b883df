"""One process owns a memory; damaged files are rebuilt or reported with a typed error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _support import conv

from plugmem import CorruptMemoryError, MemoryLockedError, MemoryPolicy, PlugMem, StorageError

NS = ("org", "u1")
POLICY = MemoryPolicy(full_history_when_fits=False)

HOLDER = textwrap.dedent(
    """
    import sys
    from plugmem import PlugMem
    mem = PlugMem.open(sys.argv[1], embeddings=None)
    mem.add([{"role": "user", "content": "held by the child", "id": "child1"}], namespace=("org", "u1"))
    print("OPEN", flush=True)
    sys.stdin.readline()
    """
)


def test_a_second_process_gets_a_typed_error_naming_the_holder_and_a_killed_holder_is_taken_over(
    tmp_path: Path,
) -> None:
    path = tmp_path / "m"
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "OPEN"
    with pytest.raises(MemoryLockedError, match=f"process {proc.pid}"):
        PlugMem.open(path, embeddings=None)
    os.kill(proc.pid, signal.SIGKILL)  # the holder dies without closing: its lock is stale
    proc.wait(timeout=30)
    with PlugMem.open(path, policy=POLICY, embeddings=None) as mem:
        assert [s.id for s in mem.steps(NS)] == ["child1"]  # its acknowledged write is there
        with pytest.raises(MemoryLockedError, match="this process"):
            PlugMem.open(path, embeddings=None)  # one owner inside a process too
    with PlugMem.open(path, policy=POLICY, embeddings=None) as mem:  # closed: free again
        mem.flush()


@pytest.mark.needs_model
def test_a_damaged_vector_index_is_probed_in_a_child_and_rebuilt_from_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "m"
    policy = MemoryPolicy(full_history_when_fits=False, extract_knowledge=False)
    texts = [f"entry {i}: the parcel locker {i} opens with pin {4000 + i}" for i in range(1100)]
    with PlugMem.open(path, policy=policy) as mem:
        mem.add(conv(*texts), namespace=NS)
        mem.flush()
    headers = list((path / "chroma").glob("*/header.bin"))
    assert headers, "Chroma persisted an HNSW index"
    for h in headers:  # damage the index while the memory is closed, as a disk error would
        h.write_bytes(b"\x00" * h.stat().st_size)
    (path / "chroma" / "plugmem-clean.json").unlink(missing_ok=True)
    with PlugMem.open(path, policy=policy) as mem:
        assert list(tmp_path.glob("m/chroma.damaged-*")), "the damaged index was set aside"
        r = mem.recall("which pin opens parcel locker 777?", namespace=NS, mode="fast")
        assert "m778" in r.source_ids
        assert mem.vectors is not None and mem.vectors.count("org/u1") == 1100  # rebuilt from the log


def test_a_corrupt_database_gives_a_typed_error_that_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "m"
    with PlugMem.open(path, embeddings=None) as mem:
        mem.add(conv("hello"), namespace=NS)
    db = path / "memory.sqlite"
    db.write_bytes(b"this is not a database " * 400)
    for side in (Path(f"{db}-wal"), Path(f"{db}-shm")):
        side.unlink(missing_ok=True)
    with pytest.raises(CorruptMemoryError, match="backup"):
        PlugMem.open(path, embeddings=None)
    # the lock was released on the failed open: after moving the file aside the directory works
    db.rename(path / "memory.sqlite.broken")
    with PlugMem.open(path, embeddings=None) as mem:
        assert mem.steps(NS) == []


def test_a_directory_that_cannot_be_created_gives_a_typed_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(StorageError, match="writable"):
        PlugMem.open(blocker / "memory", embeddings=None)
