"""Calibrate the relevance floor: when should recall hand back nothing?

    python -m benchmarks.relevance_floor [--lme-limit N]

For every question the memory can answer (LoCoMo categories 1–4, LongMemEval-S) and for
questions it cannot (LoCoMo's adversarial category 5; and off-topic probes: LongMemEval
questions asked of LoCoMo memories and LoCoMo questions asked of LongMemEval haystacks), it
records the two signals the floor reads (`plugmem/recall/relevance.py`): the cosine of the
closest document and the IDF-weighted share of the query's words in the best lexical hit.
Then it reports, for a grid of floors, how many answerable questions would come back empty
(false empties, and the evidence they would lose) and how many unanswerable ones would
(true empties). The floors in `relevance.py` are the point chosen from this table.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Sequence
from itertools import groupby
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS, onnx_model, progress
from benchmarks.data import Conversation, data_dir, load_locomo, load_longmemeval
from plugmem import PlugMem
from plugmem.namespace import ns_key
from plugmem.recall.fast import fast_search
from plugmem.recall.relevance import dense_floor

BASE = (0.15, 0.2, 0.25, 0.3)
PER_DECADE = (0.0, 0.03, 0.05, 0.07)
LEXICAL = (0.5, 0.7, 1.01)


def _ingest(mem: PlugMem, convs: Sequence[Conversation]) -> None:
    for c in progress(convs, "relevance floor: ingest"):
        for session, group in groupby(c.turns, key=lambda t: t.session):
            mem.add([t.message() for t in group], namespace=("rf", c.id), session_id=session)
    mem.flush()


def _signals(mem: PlugMem, conv_id: str, query: str) -> dict[str, Any]:
    cat = mem.catalog(ns_key(("rf", conv_id)))
    assert mem.embeddings is not None
    fast = fast_search(cat, query, mem.embeddings.embed_query_array(query), search_k=20)
    return {
        "dense": round(fast.top_dense, 4),
        "lexical": round(fast.lexical_coverage, 4),
        "docs": len(cat.docs),
    }


def collect(locomo: Sequence[Conversation], lme: Sequence[Conversation]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="plugmem-floor-") as tmp:
        mem = PlugMem.open(tmp, embeddings=onnx_model())
        _ingest(mem, [*locomo, *lme])
        probes_for_locomo = [q.question for c in lme for q in c.questions]
        probes_for_lme = [q.question for c in locomo for q in c.questions if q.category != "adversarial"]
        for c in progress(locomo, "relevance floor: locomo"):
            for q in c.questions:
                group = "unanswerable" if q.category == "adversarial" else "answerable"
                rows.append({"set": "locomo", "group": group, **_signals(mem, c.id, q.question)})
            for probe in probes_for_locomo[: len(c.questions) // 4]:
                rows.append({"set": "locomo", "group": "off-topic", **_signals(mem, c.id, probe)})
        for i, c in enumerate(progress(lme, "relevance floor: longmemeval")):
            rows.append(
                {"set": "longmemeval", "group": "answerable", **_signals(mem, c.id, c.questions[0].question)}
            )
            probe = probes_for_lme[(i * 37) % len(probes_for_lme)]
            rows.append({"set": "longmemeval", "group": "off-topic", **_signals(mem, c.id, probe)})
        mem.close()
    return rows


def table(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Empty rates per floor (base, rise per tenfold documents, lexical), per set and group."""
    out = []
    for base in BASE:
        for per_decade in PER_DECADE:
            for lexical in LEXICAL:
                entry: dict[str, Any] = {"base": base, "per_decade": per_decade, "lexical": lexical}
                for (set_, group), sel in groupby(
                    sorted(rows, key=lambda r: (r["set"], r["group"])), key=lambda r: (r["set"], r["group"])
                ):
                    xs = list(sel)
                    floor = {id(r): dense_floor(r["docs"], base, per_decade) for r in xs}
                    empty = sum(1 for r in xs if r["dense"] < floor[id(r)] and r["lexical"] < lexical)
                    entry[f"{set_}/{group}"] = round(empty / len(xs), 4)
                out.append(entry)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.relevance_floor")
    p.add_argument("--lme-limit", type=int, default=80)
    p.add_argument("--out", default=str(RESULTS / "relevance_floor.json"))
    args = p.parse_args(argv)
    folder = data_dir(None)
    locomo = load_locomo(folder, adversarial=True)
    lme, _ = load_longmemeval(folder, limit=args.lme_limit)
    rows = collect(locomo, lme)
    grid = table(rows)
    Path(args.out).write_text(json.dumps({"rows": rows, "grid": grid}, indent=1))
    keys = sorted({k for g in grid for k in g if "/" in k})
    print("base per_decade lexical " + " ".join(f"{k:>24}" for k in keys))
    for g in grid:
        print(
            f"{g['base']:4} {g['per_decade']:10} {g['lexical']:7} " + " ".join(f"{g[k]:>24.3f}" for k in keys)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
