"""The MCP server: one open `PlugMem` behind the tools and resources an MCP client sees.

Why MCP: agents outside LangGraph (coding assistants, desktop chat apps, any MCP client)
speak it, so one small server opens memory to all of them. The tools mirror the library
call for call, and bad input fails with the library's own typed error: the tool result is
an error whose text starts with the error class (`InvalidNamespaceError: ...`), so a
client, or the model reading it, knows what to fix; nothing stored is touched.

Tools: `recall`, `remember`, `forget`, `list_namespaces`, `stats`. Resources:
`plugmem://namespaces`, and per namespace (its key URL-quoted, `memories%2Fu42`)
`plugmem://namespace/{key}/facts`, `/timeline` and `/messages`.
Namespaces are written `"a/b"`; `--namespace` sets the default for calls that omit it.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, unquote

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from plugmem import (
    InvalidInputError,
    InvalidNamespaceError,
    MemoryInspector,
    PlugMem,
    PlugMemError,
    validate_namespace,
)

T = TypeVar("T")

INSTRUCTIONS = (
    "Long-term memory. Call `recall` with the user's question before answering anything that may depend on "
    "earlier conversations; call `remember` with what the user said that is worth keeping. Every recalled "
    "item carries the ids of the messages it came from."
)


class Tools:
    """The tool bodies, over one memory; each maps library errors to a `ToolError` naming the error class."""

    def __init__(self, memory: PlugMem, namespace: Sequence[str] | None = None) -> None:
        self.memory = memory
        self.default = validate_namespace(tuple(namespace)) if namespace is not None else None

    def namespace(self, given: str | None) -> tuple[str, ...]:
        if given is None or given == "":
            if self.default is None:
                raise InvalidNamespaceError(
                    'namespace is required, e.g. "memories/u42" (or start the server with --namespace)'
                )
            return self.default
        if not isinstance(given, str):
            raise InvalidNamespaceError(f'namespace must be a string like "memories/u42", got {given!r}')
        return validate_namespace(tuple(given.split("/")))

    @staticmethod
    async def guarded(call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        except PlugMemError as exc:
            raise ToolError(f"{type(exc).__name__}: {exc}") from exc

    async def recall(
        self, query: str, namespace: str | None, budget_tokens: int | None, mode: str | None
    ) -> dict[str, Any]:
        ns = self.namespace(namespace)
        r = await self.memory.arecall(query, namespace=ns, budget_tokens=budget_tokens, mode=mode)  # type: ignore[arg-type]  # the library validates mode
        return {
            "namespace": "/".join(ns),
            "context": r.context,
            "items": [it.model_dump(mode="json") for it in r.items],
            "source_ids": r.source_ids,
            "tier": r.tier,
            "reason": r.reason,
            "tokens": r.tokens,
            "budget_tokens": r.budget_tokens,
        }

    async def remember(
        self,
        text: str | None,
        messages: list[dict[str, Any]] | None,
        namespace: str | None,
        session_id: str | None,
    ) -> dict[str, Any]:
        if (text is None) == (messages is None):
            raise InvalidInputError(
                "remember takes `text` (one user message) or `messages` (a list of {role, content}), not both"
            )
        ns = self.namespace(namespace)
        batch = [{"role": "user", "content": text}] if text is not None else messages
        ids = await self.memory.aadd(batch, namespace=ns, session_id=session_id)
        return {"namespace": "/".join(ns), "ids": ids, "session_id": session_id or "default"}

    async def forget(
        self, ids: list[str] | None, session_id: str | None, namespace: str | None
    ) -> dict[str, Any]:
        if ids is None and session_id is None:
            raise InvalidInputError(
                "forget takes `ids` or `session_id` (forgetting a whole namespace is CLI-only)"
            )
        ns = self.namespace(namespace)
        n = await self.memory.aforget(namespace=ns, ids=ids, session_id=session_id)
        return {"namespace": "/".join(ns), "forgotten": n}

    async def stats(self, namespace: str | None) -> dict[str, Any]:
        ns = self.namespace(namespace) if namespace else None
        return self.memory.stats(ns).model_dump()


def _resources(server: MCPServer[Any], inspector: MemoryInspector) -> None:
    def dump(obj: Any) -> str:
        return json.dumps(obj, ensure_ascii=False, default=str)

    def key(quoted: str) -> str:
        return unquote(quoted)

    @server.resource("plugmem://namespaces", name="namespaces", mime_type="application/json")
    def namespaces() -> str:
        """Every namespace with its counts and resource URIs."""
        rows = inspector.namespaces()
        for r in rows:
            base = f"plugmem://namespace/{quote(r['namespace'], safe='')}"
            r["resources"] = [f"{base}/facts", f"{base}/timeline", f"{base}/messages"]
        return dump(rows)

    @server.resource("plugmem://namespace/{ns}/facts", name="facts", mime_type="application/json")
    def facts(ns: str) -> str:
        """Facts and procedures of a namespace, current and superseded, with their source message ids."""
        return dump(inspector.facts(key(ns)))

    @server.resource("plugmem://namespace/{ns}/timeline", name="timeline", mime_type="application/json")
    def timeline(ns: str) -> str:
        """Events of a namespace per day, with the day summaries."""
        return dump(inspector.timeline(key(ns)))

    @server.resource("plugmem://namespace/{ns}/messages", name="messages", mime_type="application/json")
    def messages(ns: str) -> str:
        """Every stored message of a namespace, in order."""
        return dump(inspector.messages(key(ns)))


def build_server(memory: PlugMem, *, namespace: Sequence[str] | None = None) -> MCPServer[Any]:
    """An `MCPServer` whose tools and resources read and write `memory`."""
    tools = Tools(memory, namespace)
    server: MCPServer[Any] = MCPServer(name="plugmem", instructions=INSTRUCTIONS)

    @server.tool()
    async def recall(
        query: str, namespace: str | None = None, budget_tokens: int | None = None, mode: str | None = None
    ) -> dict[str, Any]:
        """Recall what memory holds for `query`: a prompt-ready `context` within `budget_tokens`, and the
        `items` behind it, each with the ids of the messages it came from. `mode`: auto, fast or deep."""
        return await tools.guarded(lambda: tools.recall(query, namespace, budget_tokens, mode))

    @server.tool()
    async def remember(
        text: str | None = None,
        messages: list[dict[str, Any]] | None = None,
        namespace: str | None = None,
        session_id: str | None = None,
    ) -> dict[str, Any]:
        """Store `text` (one user message) or `messages` (a list of {role, content, id?, timestamp?})."""
        return await tools.guarded(lambda: tools.remember(text, messages, namespace, session_id))

    @server.tool()
    async def forget(
        ids: list[str] | None = None, session_id: str | None = None, namespace: str | None = None
    ) -> dict[str, Any]:
        """Delete messages by id, or a whole session; what was learned from them is rebuilt."""
        return await tools.guarded(lambda: tools.forget(ids, session_id, namespace))

    @server.tool()
    def list_namespaces() -> list[dict[str, Any]]:
        """Every namespace with its message, session, fact and event counts."""
        return MemoryInspector(memory).namespaces()

    @server.tool()
    async def stats(namespace: str | None = None) -> dict[str, Any]:
        """Counts and health of the memory (or one namespace)."""
        return await tools.guarded(lambda: tools.stats(namespace))

    _resources(server, MemoryInspector(memory))
    return server


def serve(
    path: str | Path,
    *,
    namespace: Sequence[str] | None = None,
    http_port: int | None = None,
    vectors: str | None = None,
) -> None:
    """Open the memory at `path` and serve it on stdio, or on streamable HTTP at 127.0.0.1:`http_port`.

    `path` may be a PostgreSQL URL (the server backend) and `vectors` a Chroma server's URL,
    as in `PlugMem.open`: then several MCP servers (one per agent or machine) share one memory.
    """
    memory = PlugMem.open(path, vectors=vectors)
    try:
        server = build_server(memory, namespace=namespace)
        if http_port is None:
            server.run("stdio")
        else:
            server.run("streamable-http", host="127.0.0.1", port=http_port)
    finally:
        memory.close()


def main(argv: list[str] | None = None) -> int:
    """`plugmem-mcp` (the same as `plugmem mcp`)."""
    from plugmem import default_path, default_vectors

    p = argparse.ArgumentParser(prog="plugmem-mcp", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--path",
        default=None,
        help="memory directory, or a postgresql://user@host:port/db URL for the server backend "
        "(default: $PLUGMEM_PATH, else ./memory)",
    )
    p.add_argument(
        "--vectors",
        default=None,
        metavar="URL",
        help="keep the vectors on a Chroma server, e.g. http://host:8000 (default: $PLUGMEM_VECTORS, "
        "else beside the memory)",
    )
    p.add_argument("--namespace", "-n", default=None, help='default namespace, e.g. "memories/u42"')
    p.add_argument("--http", type=int, default=None, metavar="PORT", help="streamable HTTP on 127.0.0.1:PORT")
    args = p.parse_args(argv)
    serve(
        args.path or default_path(),
        namespace=tuple(args.namespace.split("/")) if args.namespace else None,
        http_port=args.http,
        vectors=args.vectors or default_vectors(),
    )
    return 0
