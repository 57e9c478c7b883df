"""The deep tier: goal-directed retrieval over the event and knowledge graph.

Two modes behind one call. Without an LLM: query expansion (entities, pseudo-relevance
feedback), personalized PageRank from the fast tier's seeds, time filtering from parsed
dates, and neighbour turns around each hit. With an LLM: plan → walk → reflect rounds,
stopping when the model says the memory answers the question or a limit is hit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import networkx as nx
import numpy as np
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from plugmem.graph import entity_nodes_in, personalized_pagerank
from plugmem.index.catalog import Catalog
from plugmem.index.text import tokenize
from plugmem.ingest.dates import parse_time_constraints
from plugmem.llm import LLMJSONError, M, invoke_structured
from plugmem.model import LLMUsage
from plugmem.prompts import Prompts
from plugmem.recall.context import Scored, render_line
from plugmem.recall.fast import FastResult, fast_search

SEEDS = 15
PPR_WEIGHT = 0.6
NEIGHBOUR_SHARE = 0.55
PRF_TERMS = 6


@dataclass(slots=True)
class DeepResult:
    ranked: list[Scored]
    usage: LLMUsage = field(default_factory=LLMUsage)
    rounds: int = 0
    stop_reason: str = ""


def _normalise(scores: dict[str, float]) -> dict[str, float]:
    if not scores:
        return {}
    top = max(scores.values())
    return {k: v / top for k, v in scores.items()} if top > 0 else scores


def _prf_query(query: str, fast: FastResult) -> str:
    """Pseudo-relevance feedback: add the top results' most frequent new terms."""
    q = set(tokenize(query))
    counts: Counter[str] = Counter()
    for it in fast.ranked[:3]:
        counts.update(t for t in tokenize(it.doc.text) if t not in q and len(t) > 3)
    return query + " " + " ".join(t for t, _ in counts.most_common(PRF_TERMS))


def deep_deterministic(
    cat: Catalog,
    graph: nx.Graph,
    query: str,
    qvec: np.ndarray | None,
    fast: FastResult,
    *,
    now: datetime,
    embed_query: Callable[[str], np.ndarray] | None,
) -> DeepResult:
    base = _normalise({it.doc.id: it.score for it in fast.ranked})
    # 1. expansion: a second search with feedback terms, fused in at a lower weight
    expanded = _prf_query(query, fast)
    if expanded != query:
        qv2 = embed_query(expanded) if embed_query is not None else None
        fast2 = fast_search(cat, expanded, qv2)
        for d_id, s in _normalise({it.doc.id: it.score for it in fast2.ranked}).items():
            base[d_id] = max(base.get(d_id, 0.0), 0.6 * s)
    # 2. personalized PageRank from the best seeds and the entities the query names
    seeds = dict(sorted(base.items(), key=lambda kv: -kv[1])[:SEEDS])
    for n in entity_nodes_in(graph, query):
        seeds[n] = 0.5
    ppr = _normalise({n: v for n, v in personalized_pagerank(graph, seeds).items() if n in cat.docs})
    scores = dict(base)
    for n, v in ppr.items():
        d = cat.docs[n]
        if d.kind in ("turn", "knowledge"):
            scores[n] = scores.get(n, 0.0) + PPR_WEIGHT * v
    # 3. time constraints parsed from the query
    ranges = parse_time_constraints(query, now)
    if ranges:
        for d_id in list(scores):
            ts = cat.docs[d_id].timestamp
            if ts is None:
                continue
            inside = any(r.start <= ts <= r.end for r in ranges)
            scores[d_id] *= 1.4 if inside else 0.7
    # 4. neighbour turns around the best turn hits (context often spans adjacent turns)
    turns = cat.turns()
    pos = {d.id: i for i, d in enumerate(turns)}
    top_turns = sorted((d for d in scores if d in pos), key=lambda d: -scores[d])[:10]
    for d_id in top_turns:
        i = pos[d_id]
        for j in (i - 1, i + 1):
            if 0 <= j < len(turns) and turns[j].session_id == turns[i].session_id:
                nb = turns[j].id
                scores[nb] = max(scores.get(nb, 0.0), NEIGHBOUR_SHARE * scores[d_id])
    ranked = [Scored(cat.docs[d], s) for d, s in scores.items() if cat.docs[d].kind in ("turn", "knowledge")]
    ranked.sort(key=lambda x: -x.score)
    return DeepResult(ranked=ranked, stop_reason="deterministic")


# -- LLM-driven: plan → walk → reflect -------------------------------------------------
class Plan(BaseModel):
    sub_questions: list[str] = Field(default_factory=list, description="smaller questions to look up")
    entities: list[str] = Field(default_factory=list)
    time_constraints: list[str] = Field(default_factory=list)


class Walk(BaseModel):
    expand: list[str] = Field(default_factory=list, description="ids of the candidate memories to follow")


class Reflection(BaseModel):
    enough: bool
    missing: str = ""


def deep_llm(
    cat: Catalog,
    graph: nx.Graph,
    query: str,
    fast: FastResult,
    *,
    llm: BaseChatModel,
    embed_query: Callable[[str], np.ndarray] | None,
    max_rounds: int,
    max_tokens: int,
    retries: int = 1,
    prompts: Prompts | None = None,
) -> DeepResult:
    """Plan → walk → reflect with `llm` (the "plan" role).

    An answer that cannot be used after its retries raises `LLMJSONError` whose `usage`
    is everything this recall spent, so the caller can fall back and still account for it.
    """
    usage = LLMUsage()
    gathered: dict[str, float] = {}
    p = prompts or Prompts()

    def ask(messages: list[BaseMessage], schema: type[M]) -> M:
        try:
            answer, u = invoke_structured(llm, messages, schema, retries=retries)
        except LLMJSONError as exc:
            usage.add(exc.usage)
            exc.usage = usage
            raise
        usage.add(u)
        return answer

    def gather(result: FastResult, weight: float, n: int = 8) -> None:
        for it in result.ranked[:n]:
            gathered[it.doc.id] = max(gathered.get(it.doc.id, 0.0), it.score * weight)

    def spent() -> int:
        return usage.input_tokens + usage.output_tokens

    def listing(ids: list[str]) -> str:
        return "\n".join(f"{i}: {render_line(cat.docs[i])}" for i in ids if i in cat.docs)

    gather(fast, 1.0)
    plan = ask([SystemMessage(p.plan), HumanMessage(f"Question: {query}")], Plan)
    for sq in plan.sub_questions[:3]:
        qv = embed_query(sq) if embed_query is not None else None
        gather(fast_search(cat, sq, qv), 0.8)
    rounds = 0
    stop = "max rounds"
    while rounds < max_rounds:
        if spent() >= max_tokens:
            stop = "token limit"
            break
        rounds += 1
        top = sorted(gathered, key=lambda d: -gathered[d])[:8]
        frontier: list[str] = []
        for d in top:
            if d in graph:
                for nb in graph.neighbors(d):
                    if nb in cat.docs and nb not in gathered and nb not in frontier:
                        frontier.append(nb)
        frontier = frontier[:20]
        if frontier:
            walk = ask(
                [
                    SystemMessage(p.walk),
                    HumanMessage(
                        f"Question: {query}\n\nGathered:\n{listing(top)}\n\nCandidates:\n{listing(frontier)}"
                    ),
                ],
                Walk,
            )
            floor = min(gathered.values()) if gathered else 0.0
            for d in walk.expand[:5]:
                if d in frontier:
                    gathered[d] = max(gathered.get(d, 0.0), floor)
        if spent() >= max_tokens:
            stop = "token limit"
            break
        top = sorted(gathered, key=lambda d: -gathered[d])[:12]
        refl = ask(
            [SystemMessage(p.reflect), HumanMessage(f"Question: {query}\n\nGathered:\n{listing(top)}")],
            Reflection,
        )
        if refl.enough:
            stop = "answered"
            break
        if refl.missing.strip():
            qv = embed_query(refl.missing) if embed_query is not None else None
            gather(fast_search(cat, refl.missing, qv), 0.7, n=5)
    ranked = [
        Scored(cat.docs[d], s) for d, s in gathered.items() if cat.docs[d].kind in ("turn", "knowledge")
    ]
    ranked.sort(key=lambda x: -x.score)
    return DeepResult(ranked=ranked, usage=usage, rounds=rounds, stop_reason=stop)
