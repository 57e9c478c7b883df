"""End to end over streamable HTTP: `plugmem mcp --http PORT` as a real process, the SDK's own HTTP client."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

NS = "memories/u1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing listened on 127.0.0.1:{port} within {timeout_s} s")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k.startswith("PLUGMEM_") or k in ("PATH", "HOME")}
    cmd = [sys.executable, "-m", "plugmem", "mcp", "--path", str(tmp_path / "memory"), "-n", NS]
    with open(tmp_path / "server.log", "wb") as log:
        proc = subprocess.Popen([*cmd, "--http", str(port)], env=env, stdout=log, stderr=log)
        try:
            wait_for_port(port, proc)
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            proc.terminate()
            proc.wait(timeout=30)


async def test_remember_then_recall_over_streamable_http(server: str) -> None:
    async with streamable_http_client(server) as (read, write), ClientSession(read, write) as s:
        await s.initialize()
        names = {t.name for t in (await s.list_tools()).tools}
        assert {"recall", "remember", "forget"} <= names
        stored = await s.call_tool("remember", {"text": "My sister Ana lives in Porto and is a nurse."})
        assert not stored.is_error and stored.structured_content is not None
        ids = stored.structured_content["ids"]
        got = await s.call_tool("recall", {"query": "Where does Ana live?", "mode": "fast"})
        assert not got.is_error and got.structured_content is not None
        assert "Porto" in got.structured_content["context"] and ids[0] in got.structured_content["source_ids"]
        refused = await s.call_tool("recall", {"query": "x", "budget_tokens": 0})
        assert refused.is_error  # the library's typed error reaches the HTTP client too
