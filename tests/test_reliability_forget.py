"""Forget erases: scoped, idempotent, one transaction (kill -9 anywhere), and the bytes leave the files.

The first two tests run on both backends (on PostgreSQL "the files" are the memory's rows)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from _support import conv

from plugmem import MemoryPolicy, PlugMem, open_database
from plugmem.index.catalog import turn_text
from plugmem.index.embeddings import text_hash

pytestmark = pytest.mark.backends
NS, OTHER = ("org", "u1"), ("org", "u2")
POLICY = MemoryPolicy(full_history_when_fits=False)
SECRET = "My locker combination is 7-31-4 and the spare is taped under the Quetzalcoatl poster."


def stored_bytes(where: PlugMem | Path | str) -> bytes:
    """What the memory's database holds: SQLite's files, or every row of PostgreSQL's tables."""
    if isinstance(where, PlugMem):
        where = where.url or where.db_path
    if isinstance(where, Path):
        return file_bytes(where)
    db = open_database(where)
    out: list[bytes] = []
    try:
        with db.tx(write=False) as c:
            tables = [
                r[0] for r in c.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            ]
            for table in tables:
                for row in c.execute(f"SELECT * FROM {table}").fetchall():
                    out += [v if isinstance(v, bytes) else str(v).encode() for v in row]
    finally:
        db.close()
    return b"\n".join(out)


def file_bytes(path: Path) -> bytes:
    """Everything SQLite keeps on disk for a database: the file, its WAL and its shared memory."""
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists())


@pytest.mark.needs_model
def test_forgotten_text_and_vectors_leave_the_database_files(mem: PlugMem) -> None:
    mem.add(conv("I like tea.", SECRET, "Noted."), namespace=NS, session_id="s1")
    mem.add(conv("I like tea.", prefix="o"), namespace=OTHER)
    mem.flush()
    step = next(s for s in mem.steps(NS) if s.content == SECRET)
    vec_rows = mem.store.query("SELECT vec FROM embeddings WHERE hash = ?", (text_hash(turn_text(step)),))
    assert vec_rows, "the turn's vector is cached before the forget"
    vector = bytes(vec_rows[0][0])
    assert SECRET.encode() in stored_bytes(mem)
    assert mem.forget(namespace=NS, ids=iter(["m2"])) == 1  # any iterable of ids, a generator too
    assert mem.forget(namespace=NS, ids=["m2"]) == 0  # idempotent
    mem.flush()
    r = mem.recall("what is my locker combination?", namespace=NS, mode="fast", budget_tokens=2000)
    assert "7-31-4" not in r.context and "m2" not in r.source_ids
    assert "o1" in mem.recall("do I like tea?", namespace=OTHER).source_ids  # other tenants untouched
    where = mem.url or mem.db_path
    mem.close()
    raw = stored_bytes(where)
    for needle in (SECRET.encode(), b"7-31-4", b"Quetzalcoatl", vector):
        assert needle not in raw, f"{needle[:20]!r} is still in the database files"


def test_forget_rederives_only_the_sessions_it_touched(mem: PlugMem) -> None:
    mem.add(conv("My brother Tom lives in Oslo.", "Nice city."), namespace=NS, session_id="s1")
    mem.add(conv("I adopted a cat named Miso.", "Cute!", prefix="c"), namespace=NS, session_id="s2")
    mem.flush()
    rows = "SELECT id, data FROM {} WHERE namespace = ? ORDER BY id"
    s2_events = [e for e in mem.store.events("org/u1", session_id="s2")]
    s2_facts = [k for k in mem.store.knowledge("org/u1") if set(k.source_ids) <= {"c1", "c2"}]
    assert s2_events and s2_facts
    summaries_before = mem.store.query(rows.format("summaries"), ("org/u1",))
    assert mem.forget(namespace=NS, ids=["m1"]) == 1
    # only the rest of session s1 waits to be re-derived; session s2 keeps its derived rows as they were
    assert {s.id for s in mem.steps(NS) if s.session_id == "s1"} == {"m2"}
    assert mem.stats(NS).pending == 1
    assert mem.store.events("org/u1", session_id="s2") == s2_events
    assert [k for k in mem.store.knowledge("org/u1") if set(k.source_ids) <= {"c1", "c2"}] == s2_facts
    mem.flush()
    facts = mem.store.knowledge("org/u1")
    assert not [k for k in facts if "m1" in k.source_ids or "Oslo" in k.statement]
    assert "Oslo" not in " ".join(r[1] for r in mem.store.query(rows.format("summaries"), ("org/u1",)))
    assert summaries_before  # the tree existed, and lost only s1's lines
    r = mem.recall("what is my cat called?", namespace=NS, mode="fast")
    assert "c1" in r.source_ids


KILLED_FORGET = textwrap.dedent(
    """
    import sys
    from plugmem import MemoryPolicy, PlugMem, open_database
    mem = PlugMem.open(sys.argv[1], policy=MemoryPolicy(full_history_when_fits=False), embeddings=None)
    print("READY", flush=True)
    sys.stdin.readline()
    mem.forget(namespace=("org", "u1"), ids=["k7"])
    print("DONE", flush=True)
    sys.stdin.readline()
    """
)


def test_a_forget_killed_at_any_moment_leaves_all_or_nothing_and_can_be_retried(tmp_path: Path) -> None:
    script = tmp_path / "forget.py"
    script.write_text(KILLED_FORGET)
    texts = [f"note {i}: the code word for box {i} is walrus{i}" for i in range(600)]
    base = tmp_path / "base"
    with PlugMem.open(base, policy=POLICY, embeddings=None) as mem:
        for s in range(6):
            mem.add(
                conv(*texts[s * 100 : (s + 1) * 100], prefix=f"{'kabcdef'[s]}"),
                namespace=NS,
                session_id=f"s{s}",
            )
        mem.flush()
    outcomes = []
    for delay_ms in (0, 3, 10, 30):
        path = tmp_path / f"m{delay_ms}"
        subprocess.run(["cp", "-r", str(base), str(path)], check=True)
        proc = subprocess.Popen(
            [sys.executable, str(script), str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "READY"
        proc.stdin.write("go\n")
        proc.stdin.flush()
        time.sleep(delay_ms / 1000)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        with PlugMem.open(path, policy=POLICY, embeddings=None) as mem:
            gone = "k7" not in {s.id for s in mem.steps(NS)}
            outcomes.append(gone)
            if gone:  # the forget committed whole: nothing derived from k7 is left
                assert not [k for k in mem.store.knowledge("org/u1") if "k7" in k.source_ids]
            assert mem.forget(namespace=NS, ids=["k7"]) == (0 if gone else 1)  # a retry always works
            mem.flush()
            r = mem.recall("what is the code word for box 6?", namespace=NS, mode="fast", budget_tokens=3000)
            assert not re.search(r"\bwalrus6\b", r.context) and "k7" not in r.source_ids
            assert "walrus5" in mem.recall("code word for box 5", namespace=NS, mode="fast").context
    assert len(outcomes) == 4, outcomes
