"""plugmem as an MCP server (official `mcp` SDK): `plugmem mcp --path DIR` or `plugmem-mcp --path DIR`."""

from plugmem_mcp.server import build_server, serve

__all__ = ["build_server", "serve"]
