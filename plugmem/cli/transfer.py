"""`plugmem export` / `plugmem import`: a memory as JSONL, with its embeddings and the model id.

What is written is the source of truth only: every message (ids, sessions, timestamps,
names, tool calls exactly as stored) and the embedding vectors of the model that indexed
them. Events, facts, entities and summaries are derived; import re-derives them with the
same deterministic pipeline, and the vectors make that cost no embedding at all when the
importing memory uses the same model. That is what makes recall after an import match
recall before the export.

Line 1 is a header: `{"type": "plugmem-export", "format": 1, "model": ..., "dims": ...}`;
then `{"type": "message", ...}` and `{"type": "embedding", "model", "hash", "vec"}` lines
(`vec` is base64 of little-endian float32).
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from itertools import chain, groupby
from pathlib import Path
from typing import IO, Any

import numpy as np

from plugmem.cli.output import Printer
from plugmem.errors import InvalidInputError
from plugmem.index.embeddings import MODEL_NAME, PrecisionChoice
from plugmem.memory import PlugMem
from plugmem.model import Step
from plugmem.namespace import NamespaceKey, ns_key
from plugmem.normalize import render_tool_calls
from plugmem.policy import MemoryPolicy

FORMAT = 1
HEADER_TYPE = "plugmem-export"


def _message_line(s: Step) -> dict[str, Any]:
    """A step as the dict `PlugMem.add` takes back (rendered tool calls are stripped: add renders them)."""
    content = s.content
    if s.tool_calls:
        rendered = render_tool_calls(s.tool_calls)
        if content.endswith(rendered):
            content = content[: -len(rendered)].rstrip("\n")
    return {
        "type": "message",
        "namespace": s.namespace,
        "session_id": s.session_id,
        "id": s.id,
        "role": s.role,
        "name": s.name,
        "content": content,
        "timestamp": s.timestamp.isoformat(),
        "tool_calls": [asdict(t) for t in s.tool_calls],
        "tool_call_id": s.tool_call_id,
        "metadata": s.metadata,
    }


def export_lines(mem: PlugMem, namespaces: Iterable[NamespaceKey] | None = None) -> Iterator[dict[str, Any]]:
    """The export of `mem` (all namespaces, or the given keys), line by line."""
    model = mem.embeddings.model_id if mem.embeddings is not None else None
    if model is None:
        rows = mem.store.query("SELECT model, COUNT(*) FROM embeddings GROUP BY model ORDER BY COUNT(*) DESC")
        model = rows[0][0] if rows else None
    keys = list(namespaces) if namespaces is not None else mem.store.namespaces()
    one = mem.store.query("SELECT vec FROM embeddings WHERE model = ? LIMIT 1", (model,)) if model else []
    yield {
        "type": HEADER_TYPE,
        "format": FORMAT,
        "model": model,
        "dims": len(one[0][0]) // 4 if one else None,
        "created": datetime.now(UTC).isoformat(),
        "namespaces": keys,
    }
    for key in keys:
        for s in mem.store.steps(key):
            yield _message_line(s)
    if model is None:
        return
    # every cached vector of the model: turns, and the facts, events and summaries derived from them
    for h, blob in mem.store.query("SELECT hash, vec FROM embeddings WHERE model = ?", (model,)):
        yield {"type": "embedding", "model": model, "hash": h, "vec": base64.b64encode(blob).decode("ascii")}


def _progress(lines: Iterator[dict[str, Any]], show: bool) -> Iterable[dict[str, Any]]:
    """A progress bar over the lines when tqdm is installed (the `demo` extra); else the lines as they are."""
    if not show:
        return lines
    try:
        from tqdm import tqdm
    except ImportError:
        return lines
    return tqdm(lines, desc="reading", unit=" lines")


def import_lines(mem: PlugMem, lines: Iterable[dict[str, Any]], *, progress: bool = True) -> dict[str, int]:
    """Load an export into `mem`; returns counts. Vectors of another model than `mem`'s are skipped."""
    it = iter(lines)
    header = next(it, None)
    if not header or header.get("type") != HEADER_TYPE or header.get("format") != FORMAT:
        raise InvalidInputError(f"not a plugmem export (format {FORMAT}): the first line must be its header")
    own = mem.embeddings.model_id if mem.embeddings is not None else None
    messages: list[dict[str, Any]] = []
    vectors: dict[str, np.ndarray] = {}
    skipped = 0
    for line in _progress(it, progress):
        if line.get("type") == "message":
            messages.append(line)
        elif line.get("type") == "embedding":
            if line.get("model") == own:
                vectors[line["hash"]] = np.frombuffer(base64.b64decode(line["vec"]), dtype=np.float32)
            else:
                skipped += 1
    if vectors and own is not None:
        mem.store.save_vectors(own, vectors)  # the pipeline's embedding cache: no text is embedded twice
    added = 0
    for (namespace, session), group in groupby(messages, key=lambda m: (m["namespace"], m["session_id"])):
        batch = [{k: v for k, v in m.items() if k not in ("type", "namespace", "session_id")} for m in group]
        added += len(mem.add(batch, namespace=tuple(namespace.split("/")), session_id=session))
    mem.flush()
    return {"messages": added, "vectors": len(vectors), "vectors_skipped": skipped}


def _read_jsonl(fp: IO[str]) -> Iterator[dict[str, Any]]:
    for n, raw in enumerate(fp, 1):
        if raw.strip():
            try:
                yield json.loads(raw)
            except json.JSONDecodeError as exc:
                raise InvalidInputError(f"line {n} of the export is not JSON: {exc}") from None


def export_command(args: argparse.Namespace) -> int:
    from plugmem.cli.commands import open_for_reading

    keys = [ns_key(tuple(n.split("/"))) for n in args.namespace] if args.namespace else None
    with open_for_reading(args.path) as mem:
        fp: IO[str] = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")  # noqa: SIM115
        n = 0
        try:
            for line in export_lines(mem, keys):
                fp.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
                n += 1
        finally:
            if fp is not sys.stdout:
                fp.close()
    if args.output != "-":
        summary = {"file": args.output, "lines": n}
        Printer(args.json).data(summary) if args.json else Printer().line(f"wrote {n} lines to {args.output}")
    return 0


def _precision_of(header: dict[str, Any] | None) -> PrecisionChoice:
    """The default model's weights the export's vectors were made with, so a new memory reuses them."""
    model = (header or {}).get("model")
    if model == MODEL_NAME:
        return "fp32"
    return "int8" if model == f"{MODEL_NAME}-int8" else "auto"


def import_command(args: argparse.Namespace) -> int:
    from plugmem.cli.commands import shown

    out = Printer(args.json)
    if args.file != "-" and not Path(args.file).is_file():
        raise InvalidInputError(f"no export file at {args.file}")
    fp: IO[str] = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")  # noqa: SIM115
    try:
        lines = _read_jsonl(fp)
        header = next(lines, None)
        policy = MemoryPolicy(embedding_precision=_precision_of(header))
        with PlugMem.open(args.path, policy=policy, vectors=args.vectors) as mem:
            counts = import_lines(mem, chain([header] if header else [], lines), progress=not args.json)
    finally:
        if fp is not sys.stdin:
            fp.close()
    if args.json:
        out.data(counts)
    else:
        out.line(
            f"imported {counts['messages']} messages and {counts['vectors']} vectors into {shown(args.path)}"
            + (
                f" ({counts['vectors_skipped']} vectors of another model skipped)"
                if counts["vectors_skipped"]
                else ""
            )
        )
    return 0
