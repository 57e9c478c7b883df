"""Read-only views of what a memory holds, as plain JSON-ready dicts.

One home for "what does memory know" so the CLI (`plugmem facts`, `timeline`, `show`),
the HTML page (`plugmem inspect --html`) and the MCP server's resources all show the
same thing. Views read the SQLite source of truth only: no recall, no embedding model.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from plugmem.errors import NotFoundError
from plugmem.namespace import SEP, NamespaceKey, ns_key

if TYPE_CHECKING:
    from plugmem.memory import PlugMem
    from plugmem.model import Event, Knowledge, Step

PREVIEW_CHARS = 160


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt is not None else None


def _preview(text: str, n: int = PREVIEW_CHARS) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= n else one_line[: n - 1] + "…"


def step_view(s: Step) -> dict[str, Any]:
    return {
        "kind": "message",
        "id": s.id,
        "session_id": s.session_id,
        "role": s.role,
        "name": s.name,
        "timestamp": _iso(s.timestamp),
        "content": s.content,
    }


def fact_view(k: Knowledge) -> dict[str, Any]:
    superseded = k.superseded_by is not None or k.valid_until is not None
    return {
        "kind": k.kind,
        "id": k.id,
        "statement": k.statement,
        "status": "superseded" if superseded else "current",
        "superseded_by": k.superseded_by,
        "valid_from": _iso(k.valid_from),
        "valid_until": _iso(k.valid_until),
        "event_time": _iso(k.event_time),
        "confidence": round(k.confidence, 3),
        "subject": k.subject,
        "entities": list(k.entities),
        "source_ids": list(k.source_ids),
        "event_id": k.event_id,
        "goal": k.goal,
        "steps": list(k.steps),
    }


def event_view(e: Event) -> dict[str, Any]:
    return {
        "kind": "event",
        "id": e.id,
        "session_id": e.session_id,
        "start": _iso(e.start),
        "end": _iso(e.end),
        "summary": e.summary,
        "participants": list(e.participants),
        "entities": list(e.entities),
        "step_ids": list(e.step_ids),
        "boundary": e.boundary,
    }


class MemoryInspector:
    """Views over one open `PlugMem` (reads SQLite only; safe beside a running agent)."""

    def __init__(self, memory: PlugMem) -> None:
        self.memory = memory
        self.store = memory.store

    def namespaces(self) -> list[dict[str, Any]]:
        """Every namespace with its counts and the time span of its messages."""
        rows = self.store.query(
            "SELECT namespace, COUNT(*), COUNT(DISTINCT session_id), MIN(ts), MAX(ts) FROM steps "
            "GROUP BY namespace ORDER BY namespace"
        )
        out = []
        for key, steps, sessions, first, last in rows:
            out.append(
                {
                    "namespace": key,
                    "parts": key.split(SEP),
                    "messages": int(steps),
                    "sessions": int(sessions),
                    "facts": self.store.count("knowledge", key),
                    "events": self.store.count("events", key),
                    "first": _iso(datetime.fromtimestamp(first, tz=UTC)) if first else None,
                    "last": _iso(datetime.fromtimestamp(last, tz=UTC)) if last else None,
                }
            )
        return out

    def _key(self, namespace: Sequence[str] | str) -> NamespaceKey:
        key = ns_key(tuple(namespace.split("/")) if isinstance(namespace, str) else namespace)
        if key not in self.store.namespaces():
            known = self.store.namespaces()
            raise NotFoundError(f"no namespace {key!r} in this memory; known: {known[:10]}")
        return key

    def facts(self, namespace: Sequence[str] | str, *, status: str = "all") -> list[dict[str, Any]]:
        """Facts and procedures, newest first, current and superseded, each with its source messages."""
        key = self._key(namespace)
        items = [fact_view(k) for k in self.store.knowledge(key)]
        if status != "all":
            items = [f for f in items if f["status"] == status]
        items.sort(key=lambda f: (f["valid_from"] or "", f["id"]), reverse=True)
        return items

    def timeline(self, namespace: Sequence[str] | str) -> list[dict[str, Any]]:
        """Events grouped per day (oldest first), each day with its summary when one was built."""
        key = self._key(namespace)
        day_text = {s.key: s.text for s in self.store.summaries(key) if s.level == "day"}
        days: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for e in self.store.events(key):
            days[e.start.date().isoformat()].append(event_view(e))
        return [{"day": d, "summary": day_text.get(d, ""), "events": days[d]} for d in sorted(days)]

    def messages(self, namespace: Sequence[str] | str) -> list[dict[str, Any]]:
        """Every logged message of a namespace, in order, as plain dicts."""
        return [step_view(s) for s in self.store.steps(self._key(namespace))]

    def show(self, namespace: Sequence[str] | str, item_id: str) -> dict[str, Any]:
        """A message, fact or event with its provenance (what it came from and what came from it)."""
        key = self._key(namespace)
        found = self.store.steps(key, ids=[item_id])
        if found:
            step = found[0]
            facts = [fact_view(k) for k in self.store.knowledge(key) if item_id in k.source_ids]
            events = [event_view(e) for e in self.store.events(key, session_id=step.session_id)]
            return {
                **step_view(step),
                "namespace": key,
                "facts": facts,
                "events": [e for e in events if item_id in e["step_ids"]],
            }
        for k in self.store.knowledge(key):
            if k.id == item_id:
                sources = [step_view(s) for s in self.store.steps(key, ids=k.source_ids)]
                return {**fact_view(k), "namespace": key, "sources": sources}
        for e in self.store.events(key):
            if e.id == item_id:
                msgs = [step_view(s) for s in self.store.steps(key, ids=e.step_ids)]
                facts = [fact_view(k) for k in self.store.knowledge(key) if k.event_id == e.id]
                return {**event_view(e), "namespace": key, "messages": msgs, "facts": facts}
        raise NotFoundError(
            f"no message, fact or event with id {item_id!r} in namespace {key!r}; "
            "list ids with `plugmem facts`, `plugmem timeline` or `plugmem export`"
        )

    def graph(self, namespace: Sequence[str] | str) -> dict[str, Any]:
        """The knowledge graph: facts linked to the entities they mention and the messages they came from."""
        key = self._key(namespace)
        facts = [fact_view(k) for k in self.store.knowledge(key)]
        entities = [asdict(e) for e in self.store.entities(key)]
        by_name = {e["name"].lower(): e["id"] for e in entities}
        for e in entities:
            for alias in e["aliases"]:
                by_name.setdefault(alias.lower(), e["id"])
        links: list[dict[str, str]] = []
        for f in facts:
            links += [{"source": f["id"], "target": s, "kind": "derived_from"} for s in f["source_ids"]]
            for name in f["entities"]:
                ent = by_name.get(name.lower())
                if ent is not None:
                    links.append({"source": f["id"], "target": ent, "kind": "mentions"})
            if f["superseded_by"]:
                links.append({"source": f["superseded_by"], "target": f["id"], "kind": "supersedes"})
        messages = [{**step_view(s), "preview": _preview(s.content)} for s in self.store.steps(key)]
        return {
            "namespace": key,
            "facts": facts,
            "entities": [{"id": e["id"], "name": e["name"], "kind": e["kind"]} for e in entities],
            "messages": messages,
            "links": links,
        }
