"""One process owns an embedded memory: an exclusive lock file in the memory directory.

Why: two processes writing one directory each keep their own catalog and vector index in
RAM and never see the other's writes, and Chroma's files are not safe to share. The lock
is an OS file lock (flock, or msvcrt on Windows), so the kernel releases it when the holder
dies, even by kill -9: a stale lock is taken over simply by locking again. The file names
the holder's pid for the error message.
"""

from __future__ import annotations

import os
from pathlib import Path

from plugmem.errors import MemoryLockedError

LOCK_FILE = "plugmem.lock"


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined,unused-ignore]
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


class DirectoryLock:
    """Held from `PlugMem.open` to `close`; `MemoryLockedError` names the pid holding it."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_lock(fd):
            os.lseek(fd, 0, os.SEEK_SET)
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            who = "this process" if holder == str(os.getpid()) else f"process {holder}"
            raise MemoryLockedError(
                f"{self.path.parent} is already open in {who}; one process owns an embedded memory. "
                "Close it there first (mem.close()), share that PlugMem object within the process, "
                "or give each process its own directory"
            )
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None
