"""Forgetting and replacing steps: what they fed, unlinked inside the caller's one transaction.

Why scoped: rebuilding a whole namespace per forget is O(namespace) and makes one tenant's
forget everybody's wait. Derived nodes are built per session (events segment one session,
facts cite their source steps, session summaries roll up one session), so the scope is the
sessions of the named steps, widened to every session that shares a fact with them. Their
events, facts and session summaries are deleted; day and week summaries lose those sessions'
lines; facts they had superseded are reopened; and the sessions' remaining steps are queued
again, so the worker re-derives exactly that scope.

Why one transaction: a crash can then only leave everything forgotten or nothing, and a retry
finds either the steps or nothing, never a half (docs/CONTRACTS.md). The caller holds the
namespace's work lock, so the worker is not deriving from the same steps meanwhile.

Erasure: the embedding cache rows of every removed text go too, and `erasers` (registered by
integrations that keep copies of messages in the same file, e.g. the LangGraph checkpointer)
run in the same transaction. `secure_delete` (set by the store) zeroes the freed pages, and
the caller checkpoints the WAL afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from plugmem.index.catalog import Doc, knowledge_doc, summary_doc, turn_text
from plugmem.index.embeddings import text_hash
from plugmem.ingest.consolidate import match_keys
from plugmem.ingest.summarize import prune_tree
from plugmem.model import Event, Knowledge, Step, Summary
from plugmem.namespace import NamespaceKey
from plugmem.storage.base import PENDING, Store, Tx, loads

# called inside the forget transaction with (connection, namespace key, the steps being erased)
Eraser = Callable[[Tx, NamespaceKey, list[Step]], None]
_DERIVED = (
    "events",
    "knowledge",
    "knowledge_keys",
    "entities",
    "summaries",
    "edges",
    "failures",
    "quarantine",
)
_CHUNK = 500


@dataclass(slots=True)
class Unlinked:
    """What an unlink changed, for the in-memory indexes to follow after the commit."""

    steps: int = 0  # steps deleted
    removed_docs: list[str] = field(default_factory=list)  # catalog / vector ids to drop
    changed_docs: list[Doc] = field(default_factory=list)  # reopened facts, pruned summaries
    requeued_docs: list[str] = field(default_factory=list)  # turns set back to pending (re-derived)
    whole_namespace: bool = False


def _chunks(items: Sequence[str]) -> Iterable[list[str]]:
    for i in range(0, len(items), _CHUNK):
        yield list(items[i : i + _CHUNK])


def _marks(chunk: Sequence[object]) -> str:
    return ",".join("?" * len(chunk))


def _select_in(c: Tx, sql: str, ns: NamespaceKey, values: Sequence[str]) -> list[Any]:
    """Run `sql` (with one `{}` for the IN list) over `values` in chunks."""
    out: list[Any] = []
    for chunk in _chunks(values):
        out += c.execute(sql.format(_marks(chunk)), (ns, *chunk)).fetchall()
    return out


def _steps(c: Tx, ns: NamespaceKey, ids: Sequence[str]) -> list[Step]:
    rows = _select_in(c, "SELECT * FROM steps WHERE namespace = ? AND id IN ({})", ns, ids)
    return Store.steps_of(rows)


def _session_steps(c: Tx, ns: NamespaceKey, sessions: Iterable[str]) -> set[str]:
    rows = _select_in(
        c, "SELECT id FROM steps WHERE namespace = ? AND session_id IN ({})", ns, list(sessions)
    )
    return {r[0] for r in rows}


def _scope(
    c: Tx, ns: NamespaceKey, sessions: set[str], knowledge: list[Knowledge]
) -> tuple[set[str], set[str], list[Knowledge]]:
    """(sessions, their step ids, facts citing them), widened until no fact reaches outside."""
    while True:
        step_ids = _session_steps(c, ns, sessions)
        fed = [k for k in knowledge if step_ids.intersection(k.source_ids)]
        outside = sorted({s for k in fed for s in k.source_ids} - step_ids)
        more = {
            r[0]
            for r in _select_in(
                c, "SELECT DISTINCT session_id FROM steps WHERE namespace = ? AND id IN ({})", ns, outside
            )
        }
        if more <= sessions:
            return sessions, step_ids, fed
        sessions = sessions | more


def _delete_in(c: Tx, table: str, column: str, ns: NamespaceKey, values: Sequence[str]) -> None:
    for chunk in _chunks(values):
        c.execute(f"DELETE FROM {table} WHERE namespace = ? AND {column} IN ({_marks(chunk)})", (ns, *chunk))


def _erase_texts(c: Tx, texts: Iterable[str]) -> None:
    """Drop cached vectors of these texts (for every model): a vector is a copy of its text."""
    hashes = sorted({text_hash(t) for t in texts if t})
    for chunk in _chunks(hashes):
        c.execute(f"DELETE FROM embeddings WHERE hash IN ({_marks(chunk)})", chunk)


def _drop_failures(c: Tx, ns: NamespaceKey, ids: set[str]) -> None:
    for fid, data in c.execute("SELECT id, data FROM failures WHERE namespace = ?", (ns,)).fetchall():
        refs = loads(data) if data else {}
        if isinstance(refs, dict) and ids.intersection(refs.get("step_ids") or ()):
            c.execute("DELETE FROM failures WHERE id = ?", (fid,))


def unlink(
    store: Store,
    c: Tx,
    ns: NamespaceKey,
    ids: Sequence[str],
    *,
    delete: bool,
    erasers: Sequence[Eraser] = (),
) -> Unlinked:
    """Unlink what steps `ids` fed (and delete them when `delete`); unknown ids are ignored."""
    wanted = list(dict.fromkeys(ids))
    found = _select_in(c, "SELECT id, session_id FROM steps WHERE namespace = ? AND id IN ({})", ns, wanted)
    if not found:
        return Unlinked()
    target_ids = {r[0] for r in found}
    targets = _steps(c, ns, sorted(target_ids))  # rows too damaged to read are still deleted by id
    knowledge = [
        Knowledge(**loads(r[0])) for r in c.execute("SELECT data FROM knowledge WHERE namespace = ?", (ns,))
    ]
    sessions, step_ids, facts = _scope(c, ns, {r[1] for r in found}, knowledge)
    events = [
        Event(**loads(r[0]))
        for r in _select_in(
            c, "SELECT data FROM events WHERE namespace = ? AND session_id IN ({})", ns, sorted(sessions)
        )
    ]
    fact_ids = {k.id for k in facts}
    reopened = [
        replace(k, valid_until=None, superseded_by=None)
        for k in knowledge
        if k.id not in fact_ids and k.superseded_by in fact_ids
    ]
    summaries = [
        Summary(**loads(r[0])) for r in c.execute("SELECT data FROM summaries WHERE namespace = ?", (ns,))
    ]
    pruned, dropped = prune_tree(summaries, sessions, {e.id for e in events}, step_ids)
    old_summaries = {s.id: s for s in summaries}
    removed = (
        [f"t:{i}" for i in sorted(target_ids)]
        + [f"e:{e.id}" for e in events]
        + [f"k:{k.id}" for k in facts]
        + [f"s:{i}" for i in dropped]
    )
    nodes = [*removed, *(f"t:{i}" for i in step_ids)]
    _delete_in(c, "edges", "src", ns, nodes)
    _delete_in(c, "edges", "dst", ns, nodes)
    _delete_in(c, "events", "id", ns, [e.id for e in events])
    _delete_in(c, "knowledge", "id", ns, sorted(fact_ids))
    _delete_in(c, "knowledge_keys", "id", ns, sorted(fact_ids))
    _delete_in(c, "summaries", "id", ns, dropped)
    c.execute(
        "DELETE FROM entities WHERE namespace = ? AND 'n:' || id NOT IN (SELECT dst FROM edges WHERE namespace = ?)"
        " AND 'n:' || id NOT IN (SELECT src FROM edges WHERE namespace = ?)",
        (ns, ns, ns),
    )
    store.put_knowledge(c, reopened, keys=match_keys)
    store.put_summaries(c, pruned)
    _erase_texts(
        c,
        [
            *(turn_text(s) for s in targets),
            *(e.summary for e in events),
            *(knowledge_doc(k).text for k in facts),
            *(old_summaries[i].text for i in [*dropped, *(s.id for s in pruned)]),
        ],
    )
    _drop_failures(c, ns, target_ids)
    _delete_in(c, "quarantine", "id", ns, sorted(target_ids))
    for eraser in erasers:
        eraser(c, ns, targets)
    n = 0
    if delete:
        for chunk in _chunks(sorted(target_ids)):
            n += c.execute(
                f"DELETE FROM steps WHERE namespace = ? AND id IN ({_marks(chunk)})", (ns, *chunk)
            ).rowcount
    rest = sorted(step_ids - target_ids) if delete else sorted(step_ids)
    for chunk in _chunks(rest):
        c.execute(
            f"UPDATE steps SET state = {PENDING} WHERE namespace = ? AND id IN ({_marks(chunk)})",
            (ns, *chunk),
        )
    changed = [*(knowledge_doc(k) for k in reopened), *(summary_doc(s) for s in pruned)]
    requeued = [f"t:{i}" for i in rest]
    return Unlinked(steps=int(n), removed_docs=removed, changed_docs=changed, requeued_docs=requeued)


def unlink_namespace(c: Tx, ns: NamespaceKey, *, erasers: Sequence[Eraser] = ()) -> Unlinked:
    """Delete a whole namespace: its steps, everything derived, and the cached vectors of its texts."""
    steps = Store.steps_of(_rows(c, "SELECT * FROM steps WHERE namespace = ?", ns))
    texts = [turn_text(s) for s in steps]
    texts += [
        Event(**loads(r[0])).summary for r in _rows(c, "SELECT data FROM events WHERE namespace = ?", ns)
    ]
    texts += [
        knowledge_doc(Knowledge(**loads(r[0]))).text
        for r in _rows(c, "SELECT data FROM knowledge WHERE namespace = ?", ns)
    ]
    texts += [
        Summary(**loads(r[0])).text for r in _rows(c, "SELECT data FROM summaries WHERE namespace = ?", ns)
    ]
    _erase_texts(c, texts)
    for eraser in erasers:
        eraser(c, ns, steps)
    n = c.execute("DELETE FROM steps WHERE namespace = ?", (ns,)).rowcount
    for table in _DERIVED:
        c.execute(f"DELETE FROM {table} WHERE namespace = ?", (ns,))
    return Unlinked(steps=int(n), whole_namespace=True)


def _rows(c: Tx, sql: str, ns: NamespaceKey) -> list[Any]:
    return list(c.execute(sql, (ns,)).fetchall())
