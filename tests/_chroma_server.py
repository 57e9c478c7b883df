"""A throwaway Chroma server (`chroma run`) for the tests that keep vectors on a server.

The server is the one shipped in the chromadb package, started on 127.0.0.1 on a free port
with its data in a temporary folder, and stopped when the test session ends. Tests skip the
server backend only when the `chroma` command is absent; a server that is present but does
not come up fails the run (that is a bug to see, not to skip).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

START_TIMEOUT_S = 60.0


def chroma_command() -> str | None:
    """The `chroma` CLI beside this Python (the venv's), else on PATH; None when absent."""
    beside = Path(sys.executable).parent / "chroma"
    return str(beside) if beside.is_file() else shutil.which("chroma")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


@contextmanager
def chroma_server(command: str, data: Path) -> Iterator[str]:
    """Run `chroma run` until the block ends; yields its URL once it answers a heartbeat."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = data.parent / "chroma-server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [command, "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(data)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"`chroma run` did not come up on {url}; its output:\n{tail}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
