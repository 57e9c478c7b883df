"""OS scheduling priority of one thread, so background work yields the cores to readers.

Ingest and recall share one process. Python's GIL is shared fairly, but the CPU is not: an
import's embedding batches would keep both cores busy while another tenant's recall waits
for one. Lowering the ingest thread's priority (its niceness, per thread on Linux) lets the
scheduler run a recall first and costs ingest nothing on an idle machine. Elsewhere threads
have no niceness of their own, so this is a no-op there.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

log = logging.getLogger("plugmem")


def thread_niceness() -> int:
    """The calling thread's niceness (0 where threads have none of their own)."""
    if not sys.platform.startswith("linux"):
        return 0
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def lower_thread_priority(niceness: int) -> None:
    """Raise the calling thread's niceness to `niceness` (never lowers it: that needs privileges)."""
    if niceness <= 0 or not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(niceness, os.getpriority(os.PRIO_PROCESS, tid)))
    except OSError as exc:  # a sandbox may forbid it; ingest still works at the same priority
        log.debug("plugmem: could not lower the ingest thread's priority: %s", exc)
