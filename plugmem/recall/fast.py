"""The fast tier: hybrid search over knowledge, events and turns, no LLM.

Knowledge and event summaries are dense and point at the turns they came from; a
hit on them lifts those turns. The output is one ranking of knowledge and turns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from plugmem.index.catalog import Catalog
from plugmem.index.text import tokenize
from plugmem.recall.context import Scored

SEARCH_K = 100
# How much of a hit on a derived document flows to the turns it points at, and how much a
# fact weighs as an item of its own (facts carry resolved dates). Measured on LoCoMo dev,
# 3 conversations, 1,000-token budget: no propagation 0.756 → these weights 0.807.
PROPAGATE = {"knowledge": 0.5, "event": 0.3, "summary": 0.1}
KNOWLEDGE_ITEM = 0.3


@dataclass(slots=True)
class FastResult:
    ranked: list[Scored]
    top_dense: float = 0.0
    margin: float = 1.0  # relative gap between the first and second fused score
    coverage: float = 1.0  # share of query terms present in the top results
    turn_scores: dict[str, float] = field(default_factory=dict)


def fast_search(cat: Catalog, query: str, qvec: np.ndarray | None, *, search_k: int = SEARCH_K) -> FastResult:
    hits = cat.search(query, qvec, search_k)
    fused = hits.fused
    turn_scores: dict[str, float] = {}
    extra: list[Scored] = []
    for doc_id, s in fused.items():
        d = cat.docs.get(doc_id)
        if d is None:
            continue
        if d.kind == "turn":
            turn_scores[doc_id] = turn_scores.get(doc_id, 0.0) + s
            continue
        w = PROPAGATE.get(d.kind, 0.0)
        srcs = d.source_ids
        if srcs and w:
            share = w * s / max(1.0, len(srcs) ** 0.5)
            for src in srcs:
                tid = "t:" + src
                if tid in cat.docs:
                    turn_scores[tid] = turn_scores.get(tid, 0.0) + share
        if d.kind == "knowledge" and KNOWLEDGE_ITEM > 0:
            extra.append(Scored(d, s * KNOWLEDGE_ITEM))
    ranked = [Scored(cat.docs[t], s) for t, s in turn_scores.items()] + extra
    ranked.sort(key=lambda x: -x.score)
    top = sorted(fused.values(), reverse=True)
    margin = (top[0] - top[1]) / top[0] if len(top) > 1 and top[0] > 0 else 1.0
    qterms = set(tokenize(query))
    covered: set[str] = set()
    for it in ranked[:5]:
        covered.update(tokenize(it.doc.text))
    coverage = len(qterms & covered) / len(qterms) if qterms else 1.0
    return FastResult(
        ranked=ranked,
        top_dense=hits.dense[0][1] if hits.dense else 0.0,
        margin=margin,
        coverage=coverage,
        turn_scores=turn_scores,
    )
