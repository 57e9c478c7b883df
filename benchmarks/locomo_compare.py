"""Two LoCoMo runs side by side: per-category evidence recall of each plugmem system, and the gap.

Why: a change of backend or setting (the lexical index in PostgreSQL, an embedding model) must
keep recall within a point of the reference run; this puts every cell of both runs in one table
and names the largest drop.

    python -m benchmarks.locomo_compare REF/results.json NEW/results.json --out benchmarks/results/X.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SYSTEMS = ("plugmem-fast", "plugmem-deep", "plugmem-auto", "plugmem-turns")
EVIDENCE = ("original", "corrected")


def cells(locomo: dict[str, Any]) -> dict[str, float]:
    """Every (system, budget or R@k, evidence, category) recall of one run, flat."""
    out: dict[str, float] = {}
    for system in SYSTEMS:
        for budget, row in locomo.get("budget", {}).get(system, {}).items():
            for ev in EVIDENCE:
                for cat, v in row.get(ev, {}).items():
                    out[f"{system} | {budget} tokens | {ev} | {cat}"] = float(v)
        for k, row in locomo.get("rank", {}).get(system, {}).items():
            for ev in EVIDENCE:
                for cat, v in row.get(ev, {}).items():
                    out[f"{system} | {k} | {ev} | {cat}"] = float(v)
    return out


def compare(ref: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    a, b = cells(ref["locomo"]), cells(new["locomo"])
    rows = {k: {"ref": a[k], "new": b[k], "delta_points": round(100 * (b[k] - a[k]), 2)} for k in a if k in b}
    worst = min(rows.items(), key=lambda kv: kv[1]["delta_points"]) if rows else None
    runs = {
        name: {
            **run.get("stage_runs", {}).get("locomo", {}),
            "backend": run["locomo"].get("backend", "embedded (SQLite)"),
            "lexical_on_disk_from": run["locomo"].get("lexical_on_disk_from"),
        }
        for name, run in (("ref", ref), ("new", new))
    }
    return {
        "runs": runs,
        "cells": len(rows),
        "largest_drop": {"cell": worst[0], **worst[1]} if worst else None,
        "largest_gain": max((r["delta_points"] for r in rows.values()), default=0.0),
        "cells_within_1_point": sum(abs(r["delta_points"]) <= 1.0 for r in rows.values()),
        "rows": rows,
    }


def table(result: dict[str, Any], evidence: str = "original") -> str:
    """Markdown: per system and budget, each category ref → new (the category columns of the report)."""
    cats = ("single-hop", "multi-hop", "temporal", "open-domain", "all")
    lines = ["| system | budget | " + " | ".join(cats) + " |", "|---|---|" + "---|" * len(cats)]
    keys = sorted({tuple(k.split(" | ")[:2]) for k in result["rows"]})
    for system, budget in keys:
        vals = []
        for c in cats:
            r = result["rows"].get(f"{system} | {budget} | {evidence} | {c}")
            vals.append(f"{r['ref']:.3f} → {r['new']:.3f}" if r else "–")
        lines.append(f"| {system} | {budget} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.locomo_compare", description=__doc__.split("\n")[0]
    )
    p.add_argument("ref", type=Path, help="the reference run's results.json")
    p.add_argument("new", type=Path, help="the other run's results.json")
    p.add_argument("--out", type=Path, help="write the comparison as JSON here")
    args = p.parse_args(argv)
    result = compare(json.loads(args.ref.read_text()), json.loads(args.new.read_text()))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(table(result))
    print(
        f"\n{result['cells']} cells; {result['cells_within_1_point']} within 1 point; "
        f"largest drop {result['largest_drop']}; largest gain {result['largest_gain']} points"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
