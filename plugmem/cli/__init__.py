"""The `plugmem` command: look into a memory, search it, move it, serve it, fetch the model.

Only argparse is imported here: every command imports what it needs when it runs, so
`plugmem --help` starts in a fraction of a second instead of loading Chroma, onnxruntime
and LangChain. Every subcommand takes `--path DIR` (default `$PLUGMEM_PATH`, else
`./memory`), where DIR may instead be a PostgreSQL URL (the server backend), `--vectors URL`
(a Chroma server for the vectors, default `$PLUGMEM_VECTORS`) and `--json`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

PATH_ENV = "PLUGMEM_PATH"
VECTORS_ENV = "PLUGMEM_VECTORS"
DEFAULT_PATH = "./memory"
URL_SCHEMES = (
    "postgresql://",
    "postgres://",
)  # as plugmem.storage.postgres (not imported: --help stays light)

Handler = Callable[[argparse.Namespace], int]


def location(text: str) -> str | Path:
    """A memory's location as given: a PostgreSQL URL stays a string (a Path would fold its "//")."""
    return text if text.startswith(URL_SCHEMES) else Path(text)


def default_path() -> str | Path:
    """`$PLUGMEM_PATH` (a directory or a PostgreSQL URL), else ./memory."""
    return location(os.environ.get(PATH_ENV) or DEFAULT_PATH)


def default_vectors() -> str | None:
    """`$PLUGMEM_VECTORS` (a Chroma server's URL), else None: the vectors beside the memory."""
    return os.environ.get(VECTORS_ENV) or None


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--path",
        type=location,
        default=None,
        help=f"memory directory, or a postgresql://user@host:port/db URL for the server backend "
        f"(default: ${PATH_ENV}, else {DEFAULT_PATH})",
    )
    common.add_argument(
        "--vectors",
        default=None,
        metavar="URL",
        help=f"keep the vectors on a Chroma server, e.g. http://host:8000 (default: ${VECTORS_ENV}, else the "
        "server the memory recorded, else beside the memory: in its directory, or a copy in this process "
        "for a PostgreSQL memory)",
    )
    common.add_argument("--json", action="store_true", help="print JSON instead of tables")
    return common


def _namespace_arg(p: argparse.ArgumentParser, required: bool = False) -> None:
    p.add_argument(
        "--namespace",
        "-n",
        required=required,
        help='slash-separated, e.g. "memories/u42" (default: the only namespace, when there is one)',
    )


def _memory_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    sub.add_parser("namespaces", parents=[common], help="namespaces with their counts")
    p = sub.add_parser(
        "facts", parents=[common], help="facts and procedures, current and superseded, with sources"
    )
    _namespace_arg(p)
    p.add_argument("--status", choices=["all", "current", "superseded"], default="all")
    p = sub.add_parser(
        "timeline", aliases=["events"], parents=[common], help="events per day, with the day summaries"
    )
    _namespace_arg(p)
    p = sub.add_parser(
        "search", aliases=["recall"], parents=[common], help="recall: what memory gives an agent"
    )
    p.add_argument("query")
    _namespace_arg(p)
    p.add_argument("--budget", type=int, default=None, help="token budget (default: the policy's)")
    p.add_argument("--mode", choices=["auto", "fast", "deep"], default=None)
    p.add_argument("-k", type=int, default=None, help="at most this many items")
    p = sub.add_parser("show", parents=[common], help="a message, fact or event with its provenance")
    p.add_argument("id")
    _namespace_arg(p)
    p = sub.add_parser(
        "forget", parents=[common], help="delete messages (knowledge is rebuilt), a session or a namespace"
    )
    _namespace_arg(p)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--id", action="append", dest="ids", help="a message id (repeat for more)")
    what.add_argument("--session", help="every message of one session")
    what.add_argument("--everything", action="store_true", help="the whole namespace")
    p = sub.add_parser("stats", parents=[common], help="counts and health")
    _namespace_arg(p)
    p = sub.add_parser(
        "add", parents=[common], help="add messages from a JSON file (a list of {role, content, ...})"
    )
    p.add_argument("file", type=Path)
    _namespace_arg(p, required=True)
    p.add_argument("--session", default=None)


def _more_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser("export", parents=[common], help="write messages and embeddings as JSONL")
    p.add_argument("--namespace", "-n", action="append", help="only these namespaces (repeatable)")
    p.add_argument("--output", "-o", default="-", help="file to write (default: stdout)")
    p = sub.add_parser(
        "import", parents=[common], help="load a JSONL export into --path (created if missing)"
    )
    p.add_argument("file", help="the export file ('-' for stdin)")
    p = sub.add_parser(
        "inspect", parents=[common], help="write one self-contained HTML page to look at memory"
    )
    _namespace_arg(p)
    p.add_argument("--html", type=Path, required=True, help="the HTML file to write")
    p = sub.add_parser("model", parents=[common], help="the embedding model: status, fetch, path")
    p.add_argument("action", choices=["status", "fetch", "path"])
    p = sub.add_parser(
        "mcp", parents=[common], help="serve the memory to MCP clients (stdio, or --http PORT)"
    )
    p.add_argument("--namespace", "-n", default=None, help='default namespace for tools, e.g. "memories/u42"')
    p.add_argument("--http", type=int, default=None, metavar="PORT", help="streamable HTTP on 127.0.0.1:PORT")
    p = sub.add_parser(
        "demo", parents=[common], help="an agent with memory, offline, in a temporary directory"
    )
    p.add_argument("--keep", action="store_true", help="keep the memory directory")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="plugmem",
        description="Structured long-term memory for LLM agents: look into a memory, search it, move it, serve it.",
    )
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    common = _common()
    _memory_commands(sub, common)
    _more_commands(sub, common)
    return parser


ALIASES = {"events": "timeline", "recall": "search"}


def _handler(cmd: str) -> Handler:
    """The command's function, imported only now (lazy imports keep start-up fast)."""
    cmd = ALIASES.get(cmd, cmd)
    if cmd == "demo":
        from plugmem.cli.demo import command as demo

        return demo
    if cmd in ("export", "import"):
        from plugmem.cli import transfer

        return transfer.export_command if cmd == "export" else transfer.import_command
    if cmd == "inspect":
        from plugmem.cli.page import command as inspect_page

        return inspect_page
    if cmd == "model":
        from plugmem.cli.model import command as model

        return model
    if cmd == "mcp":
        from plugmem.cli.serve import command as serve

        return serve
    from plugmem.cli import commands

    return commands.HANDLERS[cmd]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.path is None and args.cmd != "demo":
        args.path = default_path()
    if args.vectors is None:
        args.vectors = default_vectors()
    from plugmem.errors import PlugMemError

    try:
        return _handler(args.cmd)(args)
    except PlugMemError as exc:
        print(f"plugmem {args.cmd}: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `plugmem export | head`
        return 0
