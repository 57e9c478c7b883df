"""`plugmem mcp`: start the MCP server of the `plugmem-mcp` package (installed beside plugmem)."""

from __future__ import annotations

import argparse

from plugmem.errors import MCPUnavailableError


def command(args: argparse.Namespace) -> int:
    try:
        from plugmem_mcp.server import serve
    except ImportError as exc:
        raise MCPUnavailableError(
            f"the MCP server needs the plugmem-mcp package ({exc}); install it with "
            "`pip install -e integrations/mcp` (make setup does)"
        ) from None
    namespace = tuple(args.namespace.split("/")) if args.namespace else None
    serve(args.path, namespace=namespace, http_port=args.http, vectors=args.vectors)
    return 0
