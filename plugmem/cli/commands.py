"""The commands that read or change one memory: namespaces, facts, timeline, search, show, forget, stats, add.

Reading commands open the memory with `create=False` (a mistyped path or URL is reported, not
created), without the embedding model and without the background worker: they read the
source of truth (SQLite or PostgreSQL) through `MemoryInspector`. Only the commands that
embed or change vectors (search, forget, add) load the model, and pass `--vectors` on.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from plugmem.cli.output import Printer
from plugmem.errors import InvalidInputError
from plugmem.memory import PlugMem
from plugmem.namespace import validate_namespace
from plugmem.storage.postgres import is_postgres_url, redact
from plugmem.views import MemoryInspector


def open_for_reading(path: str | Path) -> PlugMem:
    """An existing memory, no model, no worker: nothing on disk changes because someone looked."""
    return PlugMem(path, embeddings=None, start_worker=False, create=False)


def shown(path: str | Path) -> str:
    """The memory's location for output: a PostgreSQL URL without its password."""
    return redact(str(path)) if is_postgres_url(path) else str(path)


def resolve_namespace(inspector: MemoryInspector, given: str | None) -> str:
    """`--namespace` as given, else the memory's only namespace; a clear error when ambiguous."""
    if given:
        return "/".join(validate_namespace(tuple(given.split("/"))))
    known = [n["namespace"] for n in inspector.namespaces()]
    if len(known) == 1:
        return known[0]
    if not known:
        raise InvalidInputError("this memory holds no messages yet; add some first (`plugmem add`)")
    raise InvalidInputError(
        f"this memory has {len(known)} namespaces; pick one with --namespace: {known[:10]}"
    )


def _short(text: str | None, n: int = 90) -> str:
    one = " ".join((text or "").split())
    return one if len(one) <= n else one[: n - 1] + "…"


def _when(iso: str | None) -> str:
    return (iso or "")[:16].replace("T", " ")


def namespaces(args: argparse.Namespace) -> int:
    out = Printer(args.json)
    with open_for_reading(args.path) as mem:
        rows = MemoryInspector(mem).namespaces()
    if args.json:
        out.data(rows)
        return 0
    out.table(
        ["namespace", "messages", "sessions", "facts", "events", "first", "last"],
        [
            [
                r["namespace"],
                r["messages"],
                r["sessions"],
                r["facts"],
                r["events"],
                _when(r["first"]),
                _when(r["last"]),
            ]
            for r in rows
        ],
        title=shown(args.path),
    )
    return 0


def facts(args: argparse.Namespace) -> int:
    out = Printer(args.json)
    with open_for_reading(args.path) as mem:
        ins = MemoryInspector(mem)
        ns = resolve_namespace(ins, args.namespace)
        rows = ins.facts(ns, status=args.status)
    if args.json:
        out.data({"namespace": ns, "facts": rows})
        return 0
    out.table(
        ["id", "fact", "status", "since", "sources"],
        [
            [
                r["id"],
                _short(r["statement"]),
                r["status"] if r["status"] == "current" else f"superseded {_when(r['valid_until'])}".strip(),
                _when(r["valid_from"]),
                ", ".join(r["source_ids"][:4]) + (" …" if len(r["source_ids"]) > 4 else ""),
            ]
            for r in rows
        ],
        title=f"{ns}: {len(rows)} {'facts' if args.status == 'all' else args.status + ' facts'}",
    )
    return 0


def timeline(args: argparse.Namespace) -> int:
    out = Printer(args.json)
    with open_for_reading(args.path) as mem:
        ins = MemoryInspector(mem)
        ns = resolve_namespace(ins, args.namespace)
        days = ins.timeline(ns)
    if args.json:
        out.data({"namespace": ns, "days": days})
        return 0
    for day in days:
        out.heading(f"{day['day']} · {len(day['events'])} events")
        if day["summary"]:
            out.line(_short(day["summary"], 300), style="italic")
        out.table(
            ["time", "event", "session", "messages", "summary"],
            [
                [e["start"][11:16], e["id"], e["session_id"], len(e["step_ids"]), _short(e["summary"])]
                for e in day["events"]
            ],
        )
    if not days:
        out.line(f"{ns}: no events yet (messages may still be pending; see `plugmem stats`)")
    return 0


def search(args: argparse.Namespace) -> int:
    out = Printer(args.json)
    with PlugMem.open(args.path, vectors=args.vectors, create=False) as mem:
        ns = resolve_namespace(MemoryInspector(mem), args.namespace)
        res = mem.recall(
            args.query, namespace=tuple(ns.split("/")), budget_tokens=args.budget, mode=args.mode, k=args.k
        )
    if args.json:
        out.data({"namespace": ns, **res.model_dump(mode="json"), "source_ids": res.source_ids})
        return 0
    out.line(
        f"{res.tier} tier · {res.tokens}/{res.budget_tokens} tokens · {res.latency_ms:.1f} ms — {res.reason}",
        "dim",
    )
    out.table(
        ["#", "kind", "score", "when", "text", "sources"],
        [
            [
                i + 1,
                it.kind,
                f"{it.score:.3f}",
                _when(it.timestamp.isoformat() if it.timestamp else None),
                _short(it.text, 100),
                ", ".join(it.source_ids[:3]),
            ]
            for i, it in enumerate(res.items)
        ],
        title=f"{ns}: {args.query!r}",
    )
    return 0


def _show_human(out: Printer, item: dict[str, Any]) -> None:
    kind = item["kind"]
    if kind == "message":
        out.heading(
            f"message {item['id']} · {item['role']} · {_when(item['timestamp'])} · session {item['session_id']}"
        )
        out.line(item["content"])
        out.table(
            ["fact", "status", "id"],
            [[_short(f["statement"]), f["status"], f["id"]] for f in item["facts"]],
            title="facts drawn from it",
        )
        out.table(
            ["event", "summary"], [[e["id"], _short(e["summary"])] for e in item["events"]], title="in events"
        )
        return
    if kind == "event":
        out.heading(
            f"event {item['id']} · {_when(item['start'])} → {_when(item['end'])} · session {item['session_id']}"
        )
        out.line(item["summary"], style="italic")
        out.table(
            ["id", "role", "message"],
            [[m["id"], m["role"], _short(m["content"])] for m in item["messages"]],
            title="messages",
        )
        out.table(["fact", "id"], [[_short(f["statement"]), f["id"]] for f in item["facts"]], title="facts")
        return
    out.heading(f"{kind} {item['id']} · {item['status']}")
    out.line(item["statement"], style="bold")
    if item["superseded_by"]:
        out.line(f"superseded by {item['superseded_by']} on {_when(item['valid_until'])}", style="yellow")
    out.line(f"confidence {item['confidence']} · entities: {', '.join(item['entities']) or '-'}", style="dim")
    out.table(
        ["id", "role", "when", "message"],
        [[m["id"], m["role"], _when(m["timestamp"]), _short(m["content"])] for m in item["sources"]],
        title="came from",
    )


def show(args: argparse.Namespace) -> int:
    out = Printer(args.json)
    with open_for_reading(args.path) as mem:
        ins = MemoryInspector(mem)
        ns = resolve_namespace(ins, args.namespace)
        item = ins.show(ns, args.id)
    if args.json:
        out.data(item)
    else:
        _show_human(out, item)
    return 0


def forget(args: argparse.Namespace) -> int:
    out = Printer(args.json)
    # with the model: its vector index is rebuilt too
    with PlugMem.open(args.path, vectors=args.vectors, create=False) as mem:
        ns = resolve_namespace(MemoryInspector(mem), args.namespace)
        n = mem.forget(namespace=tuple(ns.split("/")), ids=args.ids, session_id=args.session)
        mem.flush()
    if args.json:
        out.data({"namespace": ns, "forgotten": n})
    else:
        out.line(f"forgot {n} message(s) in {ns}; what was learned from them is rebuilt from what remains")
    return 0


def stats(args: argparse.Namespace) -> int:
    out = Printer(args.json)
    with open_for_reading(args.path) as mem:
        ns = tuple(args.namespace.split("/")) if args.namespace else None
        st = mem.stats(ns).model_dump()
    st.pop("lexical_only", None)  # read without the model: not a property of the memory
    if args.json:
        out.data(st)
        return 0
    flat = [[k, json.dumps(v) if isinstance(v, dict) else v] for k, v in st.items()]
    out.table(
        ["", "value"], flat, title=f"{shown(args.path)}{' · ' + args.namespace if args.namespace else ''}"
    )
    return 0


def add(args: argparse.Namespace) -> int:
    out = Printer(args.json)
    try:
        msgs = json.loads(Path(args.file).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"cannot read messages from {args.file}: {exc}") from None
    with PlugMem.open(args.path, vectors=args.vectors) as mem:
        ids = mem.add(msgs, namespace=tuple(args.namespace.split("/")), session_id=args.session)
        mem.flush()
    if args.json:
        out.data({"added": len(ids), "ids": ids})
    else:
        out.line(f"added {len(ids)} message(s) to {args.namespace}")
    return 0


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "namespaces": namespaces,
    "facts": facts,
    "timeline": timeline,
    "search": search,
    "show": show,
    "forget": forget,
    "stats": stats,
    "add": add,
}
