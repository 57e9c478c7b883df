"""`plugmem inspect --html out.html`: one self-contained page to look at what memory holds.

Everything is inline (data as JSON, script, styles): the file opens from disk, offline,
and can be mailed or attached to a bug report. It shows, per namespace, the timeline of
events (per day, with summaries) and the knowledge graph (facts linked to the entities
they mention and to the messages they came from), and a search box that filters both.
`page.html#q=Porto` opens with that search applied.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from plugmem.cli.output import Printer
from plugmem.views import MemoryInspector

TEMPLATE = "page.html"
DATA_MARK = "/*PLUGMEM_DATA*/null"


def page_data(inspector: MemoryInspector, path: str | Path, namespaces: list[str]) -> dict[str, Any]:
    from plugmem.cli.commands import shown

    return {
        "path": shown(path),
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "namespaces": [{**inspector.graph(ns), "timeline": inspector.timeline(ns)} for ns in namespaces],
    }


def render(data: dict[str, Any]) -> str:
    """The page with `data` inlined; `</` is escaped so no text in memory can close the script."""
    template = resources.files("plugmem.cli").joinpath(TEMPLATE).read_text(encoding="utf-8")
    blob = json.dumps(data, ensure_ascii=False, default=str).replace("</", "<\\/")
    return template.replace(DATA_MARK, blob)


def command(args: argparse.Namespace) -> int:
    from plugmem.cli.commands import open_for_reading

    with open_for_reading(args.path) as mem:
        ins = MemoryInspector(mem)
        names = [args.namespace] if args.namespace else [n["namespace"] for n in ins.namespaces()]
        data = page_data(ins, args.path, names)
    html = render(data)
    args.html.parent.mkdir(parents=True, exist_ok=True)
    args.html.write_text(html, encoding="utf-8")
    counts = {
        "file": str(args.html),
        "namespaces": len(data["namespaces"]),
        "facts": sum(len(n["facts"]) for n in data["namespaces"]),
        "events": sum(len(d["events"]) for n in data["namespaces"] for d in n["timeline"]),
    }
    size = len(html.encode())
    out = Printer(args.json)
    if args.json:
        out.data({**counts, "bytes": size})
    else:
        out.line(
            f"wrote {args.html} ({size // 1024} KB: {counts['namespaces']} namespace(s), "
            f"{counts['facts']} facts, {counts['events']} events); open it in any browser, offline"
        )
    return 0
