"""The fast tier: hybrid search over knowledge, events, summaries and turns, no LLM.

Every kind of document competes as an item on its own merit: a fact carries a resolved date,
an event summary carries what several turns said in fewer tokens, a procedure carries the call
that worked. Derived documents also lift the turns they came from, because the raw turn is
often where the answer's exact words are. The output is one ranking of all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from plugmem.index.catalog import DENSE_WEIGHT, Catalog
from plugmem.recall.context import PREFETCH, Scored
from plugmem.text import tokenize

SEARCH_K = 100
# How much of a hit on a derived document flows to the turns it points at. Measured on LoCoMo dev,
# 3 conversations, 1,000-token budget: no propagation 0.756 → these weights 0.807.
PROPAGATE = {"knowledge": 0.5, "event": 0.3, "summary": 0.1}
# How much a derived document weighs as an item of its own, against a turn's 1.0. Set on LoCoMo
# dev (answer-in-context and evidence recall at 500 / 1,000 tokens, all 913 questions): events 0.25 /
# summaries 0.1 → .730 / .806 evidence; 1.0 / 0.5 → .734 / .810; 1.5 / 1.0 → .731 / .804.
ITEM_WEIGHT = {"knowledge": 0.3, "event": 1.0, "summary": 0.5}


@dataclass(slots=True)
class FastResult:
    ranked: list[Scored]
    top_dense: float = 0.0  # raw cosine of the best dense hit (how close anything is at all)
    margin: float = 1.0  # relative gap between the first and second fused score
    coverage: float = 1.0  # share of query terms present in the top results
    lexical_coverage: float = 0.0  # IDF-weighted share of the query's terms in the best lexical hit
    known_coverage: float = 0.0  # the same over the terms memory has seen at all
    turn_scores: dict[str, float] = field(default_factory=dict)
    alpha: float = DENSE_WEIGHT  # the dense weight this search fused with


def _propagate(cat: Catalog, fused: dict[str, float]) -> tuple[dict[str, float], list[Scored]]:
    """Turn scores (own hits plus what derived hits pass down) and the derived items themselves."""
    turn_scores: dict[str, float] = {}
    items: list[Scored] = []
    for doc_id, s in fused.items():
        d = cat.docs.get(doc_id)
        if d is None:
            continue
        if d.kind == "turn":
            turn_scores[doc_id] = turn_scores.get(doc_id, 0.0) + s
            continue
        w = PROPAGATE.get(d.kind, 0.0)
        if d.source_ids and w:
            share = w * s / max(1.0, len(d.source_ids) ** 0.5)
            for src in d.source_ids:
                tid = "t:" + src
                if tid in cat.docs:
                    turn_scores[tid] = turn_scores.get(tid, 0.0) + share
        weight = ITEM_WEIGHT.get(d.kind, 0.0)
        if weight > 0:
            items.append(Scored(d, s * weight))
    return turn_scores, items


def fast_search(
    cat: Catalog,
    query: str,
    qvec: np.ndarray | None,
    *,
    search_k: int = SEARCH_K,
    alpha: float = DENSE_WEIGHT,
) -> FastResult:
    hits = cat.search(query, qvec, search_k, alpha=alpha)
    turn_scores, items = _propagate(cat, hits.fused)
    ranked = [Scored(cat.docs[t], s) for t, s in turn_scores.items()] + items
    ranked.sort(key=lambda x: -x.score)
    # the best items' texts in one read: the coverage below and rendering read them one at a time
    cat.prefetch(it.doc for it in ranked[:PREFETCH])
    top = sorted(hits.fused.values(), reverse=True)
    margin = (top[0] - top[1]) / top[0] if len(top) > 1 and top[0] > 0 else 1.0
    qterms = set(tokenize(query))
    covered: set[str] = set()
    for it in ranked[:5]:
        covered.update(tokenize(it.doc.text))
    coverage = len(qterms & covered) / len(qterms) if qterms else 1.0
    best_lexical = [doc_id for doc_id, _ in hits.lexical[:5]]
    return FastResult(
        ranked=ranked,
        top_dense=hits.dense[0][1] if hits.dense else 0.0,
        margin=margin,
        coverage=coverage,
        lexical_coverage=cat.lexical.coverage(query, best_lexical),
        known_coverage=cat.lexical.coverage(query, best_lexical, known_only=True),
        turn_scores=turn_scores,
        alpha=alpha,
    )
