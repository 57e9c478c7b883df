"""A writer killed with SIGKILL mid-ingest loses none of the writes it was told succeeded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

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
