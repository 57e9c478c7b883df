"""Throwaway servers for benchmarks of the server backend, and what they cost in memory and disk.

`postgres()` gives a run a PostgreSQL server (its own, or a throwaway cluster) and `fresh_schema`
an empty schema per memory on it: two memories of one run (or a rerun) never see each other's
rows, and a schema is the cheapest clean slate a server offers. `servers()` starts a cluster and
a Chroma server together and reads what they use.

PostgreSQL is a fresh cluster (tests/pg_cluster.py: initdb + pg_ctl, its default settings plus
fsync off) and the vectors live on a fresh `chroma run` (tests/_chroma_server.py). A benchmark
that opens `PlugMem.open(servers.url, vectors=servers.vectors)` runs its pipeline in its own
process, so that process's RSS is the client's only: the servers' memory is read here from
/proc, summed over every PostgreSQL process (the postmaster and its backends) and the Chroma
server's process tree.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from benchmarks.common import test_helper

KIB_PER_MB = 1024


def fresh_schema(server: str, name: str) -> str:
    """The URL of an empty schema `name` on `server` (dropped first if a previous run left it)."""
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        conn.execute(f"CREATE SCHEMA {name}")
    sep = "&" if "?" in server else "?"
    return f"{server}{sep}options=-csearch_path%3D{name}"


@contextmanager
def postgres(url: str | None = None, *, throwaway: bool = False) -> Iterator[str]:
    """A server URL for the block: `url`, else PLUGMEM_TEST_POSTGRES, else (or with `throwaway`) a
    throwaway cluster started for the block and deleted after it."""
    server = None if throwaway else url or os.environ.get("PLUGMEM_TEST_POSTGRES")
    if server:
        yield server
        return
    pg_cluster = test_helper("pg_cluster")
    root = Path(tempfile.mkdtemp(prefix="plugmem-bench-pg-"))
    try:
        yield pg_cluster.start(root)
    finally:
        pg_cluster.stop(root)


@dataclass(frozen=True)
class Servers:
    """One PostgreSQL cluster and one Chroma server, each with its own folder under `root`."""

    root: Path
    url: str  # PostgreSQL
    vectors: str  # Chroma server
    chroma_pid: int

    @property
    def pg_data(self) -> Path:
        return self.root / "pg" / "data"

    @property
    def chroma_data(self) -> Path:
        return self.root / "chroma" / "data"

    def postmaster_pid(self) -> int:
        """The first line of postmaster.pid (the cluster runs as another user, not as our child)."""
        return int((self.pg_data / "postmaster.pid").read_text().split()[0])

    def memory(self) -> dict[str, dict[str, float]]:
        """Resident memory of each server now (RSS, PSS) and at its peak (VmHWM), summed over its processes.

        PSS splits shared pages (PostgreSQL's shared buffers) between the processes that map them,
        so its sum counts them once; the RSS sum counts them once per backend that touched them.
        """
        return {
            "postgres": tree_memory(self.postmaster_pid()),
            "chroma": tree_memory(self.chroma_pid),
        }

    def disk_mb(self) -> dict[str, float]:
        """The PostgreSQL cluster folder (tables, indexes and WAL) and the Chroma server's folder."""
        pg, chroma = dir_mb(self.pg_data), dir_mb(self.chroma_data)
        return {"postgres": pg, "chroma": chroma, "total": round(pg + chroma, 2)}


def dir_mb(path: Path) -> float:
    """Bytes of every file under `path` (files vanishing mid-walk, e.g. WAL segments, are skipped)."""
    total = 0
    for f in path.rglob("*"):
        try:
            if f.is_file():
                total += f.stat().st_size
        except OSError:
            continue
    return round(total / 2**20, 2)


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _pss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def tree_memory(pid: int) -> dict[str, float]:
    """RSS, PSS and peak RSS (VmHWM) in MB summed over `pid` and its descendants, read from /proc."""
    root = psutil.Process(pid)
    rss = pss = hwm = count = 0
    for p in [root, *root.children(recursive=True)]:
        try:
            rss += _status_kib(p.pid, "VmRSS")
            hwm += _status_kib(p.pid, "VmHWM")
            pss += _pss_kib(p.pid)
            count += 1
        except (OSError, ValueError):  # a backend that exited while we read it
            continue
    return {
        "rss_mb": round(rss / KIB_PER_MB, 1),
        "pss_mb": round(pss / KIB_PER_MB, 1),
        "peak_rss_mb": round(hwm / KIB_PER_MB, 1),
        "processes": count,
    }


def _chroma_pid(port: str) -> int:
    """Our child process serving Chroma on `port` (chroma_server does not hand out its Popen)."""
    for child in psutil.Process().children(recursive=True):
        try:
            if port in child.cmdline() and "run" in child.cmdline():
                return int(child.pid)
        except psutil.Error:
            continue
    raise RuntimeError(f"no `chroma run` child process on port {port}")


@contextmanager
def servers() -> Iterator[Servers]:
    """A fresh PostgreSQL cluster and Chroma server for the block; both are stopped and deleted after."""
    pg_cluster, chroma = test_helper("pg_cluster"), test_helper("_chroma_server")
    command = chroma.chroma_command()
    if pg_cluster.bin_dir() is None or command is None:
        raise SystemExit("the server backend needs PostgreSQL's initdb/pg_ctl and the `chroma` command")
    root = Path(tempfile.mkdtemp(prefix="plugmem-bench-servers-"))
    root.chmod(0o755)  # as root, the cluster runs as `postgres`, which must reach its folder inside
    (root / "chroma").mkdir()
    try:
        url = pg_cluster.start(root / "pg")
        with chroma.chroma_server(command, root / "chroma" / "data") as vectors:
            pid = _chroma_pid(vectors.rsplit(":", 1)[1])
            yield Servers(root=root, url=url, vectors=vectors, chroma_pid=pid)
    finally:
        pg_cluster.stop(root / "pg")
        shutil.rmtree(root, ignore_errors=True)
