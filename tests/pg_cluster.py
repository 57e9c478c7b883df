"""A throwaway PostgreSQL cluster for the tests: initdb + pg_ctl in a temp dir, on a free local port.

Why not a service: CI machines and developers' machines need nothing running; the cluster
lives in one directory and is gone after the run. initdb refuses to run as root, so as root
the cluster belongs to an unprivileged user (`postgres` if it exists, else `nobody`).

Used two ways: `make test` starts one (`python tests/pg_cluster.py start DIR` prints the URL,
`stop DIR` ends it, from a shell trap) and exports it as PLUGMEM_TEST_POSTGRES; without that
variable the tests' conftest starts one for the session itself when the binaries exist.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
from pathlib import Path

USER = "plugmem"
ENV_URL = "PLUGMEM_TEST_POSTGRES"


def bin_dir() -> Path | None:
    """Where initdb and pg_ctl are: on PATH, else Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
    )
    return versions[-1].parent if versions else None


def _owner() -> str | None:
    """The unprivileged user to run the cluster as (None: we are not root, run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")


def _run(cmd: list[str], owner: str | None) -> None:
    full = ["runuser", "-u", owner, "--", *cmd] if owner else cmd
    subprocess.run(full, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(root: Path) -> str:
    """Create and start a cluster under `root`; return its URL."""
    bins = bin_dir()
    if bins is None:
        raise RuntimeError("PostgreSQL binaries (initdb, pg_ctl) not found")
    owner = _owner()
    root.mkdir(parents=True, exist_ok=True)
    if owner:
        info = pwd.getpwnam(owner)
        os.chown(root, info.pw_uid, info.pw_gid)
    os.chmod(root, 0o700)
    data, port = root / "data", _free_port()
    _run(
        [str(bins / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync"], owner
    )
    opts = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
        "-c full_page_writes=off -c max_connections=300"
    )
    _run([str(bins / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-o", opts, "-w", "start"], owner)
    (root / "port").write_text(str(port))
    return f"postgresql://{USER}@127.0.0.1:{port}/postgres"


def stop(root: Path) -> None:
    """Stop the cluster under `root` (if it runs) and delete it."""
    bins = bin_dir()
    if bins is not None and (root / "data" / "postmaster.pid").exists():
        try:
            _run([str(bins / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate", "-w", "stop"], _owner())
        except subprocess.CalledProcessError as exc:
            print(f"pg_ctl stop failed: {exc.stderr!r}", file=sys.stderr)
    shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str]) -> int:
    if argv == ["which"]:  # exit 0 and print the binaries' folder when PostgreSQL is installed
        found = bin_dir()
        print(found or "PostgreSQL binaries not found")
        return 0 if found else 1
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print("usage: pg_cluster.py which | start DIR | stop DIR", file=sys.stderr)
        return 2
    root = Path(argv[1])
    if argv[0] == "stop":
        stop(root)
        return 0
    if bin_dir() is None:
        return 3  # no binaries: the caller runs without the server backend
    print(start(root))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
