"""End to end: the MCP SDK's own client talks to `plugmem mcp` spawned as a real process over stdio."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from plugmem import PlugMem

NS = "memories/u1"


@asynccontextmanager
async def session(
    path: Path | str, *args: str, log: Path | None = None, program: tuple[str, ...] = ("plugmem", "mcp")
) -> AsyncIterator[ClientSession]:
    """A client session with the server spawned as `python -m <program> --path PATH ARGS...`."""
    env = {k: v for k, v in os.environ.items() if k.startswith("PLUGMEM_")}
    params = StdioServerParameters(
        command=sys.executable, args=["-m", *program, "--path", str(path), *args], env=env
    )
    log = log or Path(path).parent / "server-stderr.log"
    with open(log, "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as s:
            await s.initialize()
            yield s


def payload(result: Any) -> Any:
    """A tool's answer: its structured content (the SDK wraps non-object results as {"result": ...})."""
    assert not result.is_error, result.content
    data = result.structured_content
    return data["result"] if isinstance(data, dict) and set(data) == {"result"} else data


def error_text(result: Any) -> str:
    """The library's error as the client reads it: `<ErrorClass>: <message>` (after the SDK's own prefix)."""
    assert result.is_error
    text = " ".join(c.text for c in result.content)
    return text.split(": ", 1)[1] if text.startswith("Error executing tool") else text


async def test_tools_and_resources_over_stdio(tmp_path: Path) -> None:
    path = tmp_path / "memory"
    async with session(path, "--namespace", NS) as s:
        names = {t.name for t in (await s.list_tools()).tools}
        assert names == {"recall", "remember", "forget", "list_namespaces", "stats"}

        stored = payload(
            await s.call_tool("remember", {"text": "My sister Ana lives in Porto and is a nurse."})
        )
        assert stored["namespace"] == NS and len(stored["ids"]) == 1
        convo = [
            {"role": "user", "content": "I drive a blue Fiat Panda.", "id": "c1"},
            {"role": "assistant", "content": "A blue Panda, noted.", "id": "c2"},
        ]
        payload(
            await s.call_tool("remember", {"messages": convo, "namespace": "memories/u2", "session_id": "s9"})
        )

        got = payload(await s.call_tool("recall", {"query": "Where does Ana live?", "mode": "fast"}))
        assert "Porto" in got["context"] and stored["ids"][0] in got["source_ids"]
        assert got["items"] and all("source_ids" in it for it in got["items"]) and got["tier"] == "fast"
        other = payload(await s.call_tool("recall", {"query": "What car?", "namespace": "memories/u2"}))
        assert "Panda" in other["context"] and "Porto" not in other["context"]  # namespaces stay apart

        spaces = payload(await s.call_tool("list_namespaces", {}))
        assert [n["namespace"] for n in spaces] == [NS, "memories/u2"]
        assert payload(await s.call_tool("stats", {"namespace": "memories/u2"}))["steps"] == 2

        listed = json.loads((await s.read_resource("plugmem://namespaces")).contents[0].text)
        facts_uri = f"plugmem://namespace/{quote(NS, safe='')}/facts"
        assert facts_uri in listed[0]["resources"]
        facts = json.loads((await s.read_resource(facts_uri)).contents[0].text)
        assert any("Porto" in f["statement"] and f["source_ids"] == stored["ids"] for f in facts)
        msgs_uri = f"plugmem://namespace/{quote('memories/u2', safe='')}/messages"
        msgs = json.loads((await s.read_resource(msgs_uri)).contents[0].text)
        assert [m["id"] for m in msgs] == ["c1", "c2"]

        gone = payload(await s.call_tool("forget", {"ids": ["c1"], "namespace": "memories/u2"}))
        assert gone["forgotten"] == 1
    with PlugMem.open(path, embeddings=None, create=False) as mem:  # the server wrote a real memory
        assert [st.id for st in mem.steps(("memories", "u2"))] == ["c2"]


async def test_bad_input_gets_the_library_typed_error_and_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "memory"
    async with session(path) as s:  # no default namespace
        assert error_text(await s.call_tool("recall", {"query": "anything"})).startswith(
            "InvalidNamespaceError:"
        )
        payload(await s.call_tool("remember", {"text": "I like tea.", "namespace": NS}))
        bad_ns = await s.call_tool("remember", {"text": "x", "namespace": "memories//u1"})
        assert error_text(bad_ns).startswith("InvalidNamespaceError:")
        bad_budget = await s.call_tool("recall", {"query": "tea", "namespace": NS, "budget_tokens": 0})
        assert error_text(bad_budget).startswith(
            "InvalidInputError: budget_tokens must be a positive integer"
        )
        bad_mode = await s.call_tool("recall", {"query": "tea", "namespace": NS, "mode": "psychic"})
        assert error_text(bad_mode).startswith("InvalidInputError: mode must be")
        both = await s.call_tool(
            "remember", {"text": "a", "messages": [{"role": "user", "content": "b"}], "namespace": NS}
        )
        assert error_text(both).startswith("InvalidInputError:")
        bad_msg = await s.call_tool(
            "remember", {"messages": [{"role": "robot", "content": "b"}], "namespace": NS}
        )
        assert error_text(bad_msg).startswith("InvalidInputError:")
        unknown = await s.call_tool("forget", {"ids": ["nope"], "namespace": NS})
        assert payload(unknown)["forgotten"] == 0  # forgetting what is already gone is not an error
        bad_ids = await s.call_tool("forget", {"ids": ["two\nlines"], "namespace": NS})
        assert error_text(bad_ids).startswith("InvalidInputError:")
        still = payload(await s.call_tool("stats", {"namespace": NS}))
        assert still["steps"] == 1  # every refused call left memory as it was


@pytest.mark.needs_model
async def test_two_servers_share_one_postgres_memory_with_vectors_on_a_chroma_server(
    postgres_schemas: Callable[[str], str], chroma_url: str, tmp_path: Path
) -> None:
    """The server backend: `plugmem-mcp` and `plugmem mcp` (two agents) on one PostgreSQL memory."""
    url = postgres_schemas("mcp")
    on = ("--vectors", chroma_url, "--namespace", NS)
    async with (
        session(url, *on, log=tmp_path / "a.log", program=("plugmem_mcp",)) as a,
        session(url, *on, log=tmp_path / "b.log") as b,
    ):
        stored = payload(
            await a.call_tool("remember", {"text": "My sister Ana lives in Porto and is a nurse."})
        )
        got = payload(await b.call_tool("recall", {"query": "Where does Ana live?", "mode": "fast"}))
        assert "Porto" in got["context"] and stored["ids"][0] in got["source_ids"]
        assert [n["namespace"] for n in payload(await b.call_tool("list_namespaces", {}))] == [NS]
        assert payload(await b.call_tool("forget", {"ids": stored["ids"]}))["forgotten"] == 1
        again = payload(await a.call_tool("recall", {"query": "Where does Ana live?", "mode": "fast"}))
        assert "Porto" not in again["context"]
    with PlugMem.open(url, embeddings=None, create=False) as mem:  # the servers wrote a real memory
        assert mem.steps(("memories", "u1")) == []
