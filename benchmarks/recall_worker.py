"""Run recall over a job file with whatever `plugmem` is importable, and write what the agent would read.

A standalone script (stdlib + plugmem's public API only), so the same job can be run against
another version of plugmem: `PYTHONPATH=<checkout of an older commit> python recall_worker.py job out`.
That is how `benchmarks/answers.py` puts "before" and "after" in one run.

Job (JSON): {"mode": "auto", "budgets": [500, 1000], "haystacks": [{"id", "now", "turns": [{"id",
"role", "name", "content", "timestamp", "session"}], "questions": [{"id", "question"}]}]}
Output (JSON lines): {"qid", "budget", "context", "source_ids", "tokens", "tier", "reason", "items"}.
"""

from __future__ import annotations

import itertools
import json
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any


def _ingest(mem: Any, hay: dict[str, Any]) -> None:
    ns = ("bench", hay["id"])
    for session, group in itertools.groupby(hay["turns"], key=lambda t: t["session"]):
        batch = [
            {k: t[k] for k in ("id", "role", "name", "content")} | {"timestamp": t["timestamp"]}
            for t in group
        ]
        mem.add(batch, namespace=ns, session_id=session)


def main(job_path: str, out_path: str) -> int:
    from plugmem import PlugMem

    job = json.loads(Path(job_path).read_text())
    now = [datetime.fromisoformat(job["haystacks"][0]["now"])]
    with tempfile.TemporaryDirectory(prefix="plugmem-worker-") as tmp, open(out_path, "w") as out:
        mem = PlugMem.open(tmp, clock=lambda: now[0])
        for hay in job["haystacks"]:
            _ingest(mem, hay)
        mem.flush()
        for hay in job["haystacks"]:
            now[0] = datetime.fromisoformat(hay["now"])
            for q in hay["questions"]:
                for budget in job["budgets"]:
                    r = mem.recall(
                        q["question"], namespace=("bench", hay["id"]), budget_tokens=budget, mode=job["mode"]
                    )
                    row = {
                        "qid": q["id"],
                        "budget": budget,
                        "context": r.context,
                        "source_ids": r.source_ids,
                        "tokens": r.tokens,
                        "tier": r.tier,
                        "reason": r.reason,
                        "items": len(r.items),
                    }
                    out.write(json.dumps(row) + "\n")
        mem.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:3]))
