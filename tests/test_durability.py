"""A writer killed with SIGKILL mid-ingest loses none of the writes it was told succeeded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from plugmem import MemoryPolicy, PlugMem

WRITER = textwrap.dedent(
    """
    import sys
    from plugmem import PlugMem, MemoryPolicy
    mem = PlugMem.open(sys.argv[1], policy=MemoryPolicy(full_history_when_fits=False))
    i = 0
    while True:
        batch = [
            {"role": "user", "content": f"note {i + j}: the code word for item {i + j} is zebra{i + j}",
             "id": f"n{i + j}"}
            for j in range(5)
        ]
        mem.add(batch, namespace=("crash", "test"), session_id=f"s{i // 50}")
        print("ACK", i + 4, flush=True)  # every id up to here is acknowledged
        i += 5
    """
)


def test_kill_9_mid_ingest_keeps_every_acknowledged_write(tmp_path: Path) -> None:
    path = tmp_path / "mem"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(path)], stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    assert proc.stdout is not None
    last_ack = -1
    deadline = time.monotonic() + 120
    # wait until the writer is well into ingesting (background indexing running too), then kill it
    while last_ack < 400 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("ACK"):
            last_ack = int(line.split()[1])
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert last_ack >= 400, "the writer did not get far enough"

    with PlugMem.open(path, policy=MemoryPolicy(full_history_when_fits=False)) as mem:
        stored = {s.id for s in mem.steps(("crash", "test"))}
        acked = {f"n{i}" for i in range(last_ack + 1)}
        assert acked <= stored, f"lost acknowledged writes: {sorted(acked - stored)[:5]}"
        mem.flush()
        assert mem.stats().pending == 0
        for i in (0, last_ack // 2, last_ack):
            r = mem.recall(f"what is the code word for item {i}?", namespace=("crash", "test"), mode="fast")
            assert f"n{i}" in r.source_ids, (i, r.source_ids[:5])


@pytest.mark.needs_model
def test_a_reopen_does_not_reuse_vector_files_another_process_set_aside(tmp_path: Path) -> None:
    """Chroma caches one client per path in a process; after close, the files may be moved by another opener.

    The kill -9 benchmark met it: a writer process set a damaged index aside, and the parent's next open
    reused its cached client, whose writes then failed as "readonly database" (quarantining every step).
    """
    policy = MemoryPolicy(full_history_when_fits=False)
    with PlugMem.open(tmp_path / "m", policy=policy) as mem:
        mem.add([{"role": "user", "content": "A note about Lisbon trams.", "id": "a"}], namespace="u")
        mem.flush()
    (tmp_path / "m" / "chroma").rename(
        tmp_path / "m" / "chroma.set-aside"
    )  # what another process's repair does
    with PlugMem.open(tmp_path / "m", policy=policy) as mem:
        mem.add([{"role": "user", "content": "A note about Porto bridges.", "id": "b"}], namespace="u")
        mem.flush()
        assert mem.stats("u").quarantined == 0
        assert "b" in mem.recall("Porto bridges", namespace="u", mode="fast").source_ids
