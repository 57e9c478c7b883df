"""The deep tier: goal-directed retrieval over the event and knowledge graph.

Two modes behind one call. Without an LLM: query expansion (entities, pseudo-relevance
feedback), personalized PageRank from the fast tier's seeds, and neighbour turns around each
hit (time windows are applied after either tier, in `recall/scope.py`). With an LLM: plan → walk → reflect rounds,
stopping when the model says the memory answers the question or a limit is hit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from plugmem.errors import LLMJSONError
from plugmem.index.catalog import Catalog
from plugmem.llm import M, invoke_structured
from plugmem.model import LLMUsage
from plugmem.prompts import Prompts
from plugmem.recall.context import Scored, render_line
from plugmem.recall.fast import FastResult, fast_search
from plugmem.recall.graph import entity_nodes_in, personalized_pagerank
from plugmem.text import tokenize

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
    embed_query: Callable[[str], np.ndarray] | None,
) -> DeepResult:
    base = _normalise({it.doc.id: it.score for it in fast.ranked})
    # 1. expansion: a second search with feedback terms, fused in at a lower weight
    expanded = _prf_query(query, fast)
    if expanded != query:
        qv2 = embed_query(expanded) if embed_query is not None else None
        fast2 = fast_search(cat, expanded, qv2, alpha=fast.alpha)
        for d_id, s in _normalise({it.doc.id: it.score for it in fast2.ranked}).items():
            base[d_id] = max(base.get(d_id, 0.0), 0.6 * s)
    # 2. personalized PageRank from the best seeds and the entities the query names
    # seeds are turns and facts: a summary node links a whole week, its neighbourhood is everything
    walkable = ((d, v) for d, v in base.items() if cat.docs[d].kind in ("turn", "knowledge"))
    seeds = dict(sorted(walkable, key=lambda kv: -kv[1])[:SEEDS])
    for n in entity_nodes_in(graph, query):
        seeds[n] = 0.5
    ppr = _normalise({n: v for n, v in personalized_pagerank(graph, seeds).items() if n in cat.docs})
    scores = dict(base)
    for n, v in ppr.items():
        d = cat.docs[n]
        if d.kind in ("turn", "knowledge"):
            scores[n] = scores.get(n, 0.0) + PPR_WEIGHT * v
    # 3. neighbour turns around the best turn hits (context often spans adjacent turns)
    top_turns = sorted((d for d in scores if cat.docs[d].kind == "turn"), key=lambda d: -scores[d])[:10]
    for d_id in top_turns:
        for nb in cat.beside(d_id):
            scores[nb.id] = max(scores.get(nb.id, 0.0), NEIGHBOUR_SHARE * scores[d_id])
    ranked = [Scored(cat.docs[d], s) for d, s in scores.items()]
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


class _LLMWalk:
    """The state of one LLM-driven deep recall: what is gathered, what the model was asked, what it cost."""

    def __init__(
        self,
        cat: Catalog,
        graph: nx.Graph,
        query: str,
        llm: BaseChatModel,
        embed_query: Callable[[str], np.ndarray] | None,
        prompts: Prompts,
        retries: int,
    ) -> None:
        self.cat, self.graph, self.query, self.llm = cat, graph, query, llm
        self.embed_query, self.prompts, self.retries = embed_query, prompts, retries
        self.usage = LLMUsage()
        self.gathered: dict[str, float] = {}

    def ask(self, system: str, body: str, schema: type[M]) -> M:
        """One structured call; on failure the error carries everything this recall spent."""
        messages: list[BaseMessage] = [SystemMessage(system), HumanMessage(f"Question: {self.query}{body}")]
        try:
            answer, u = invoke_structured(self.llm, messages, schema, retries=self.retries)
        except LLMJSONError as exc:
            self.usage.add(exc.usage)
            exc.usage = self.usage
            raise
        self.usage.add(u)
        return answer

    def search(self, text: str, weight: float, n: int = 8) -> None:
        qv = self.embed_query(text) if self.embed_query is not None else None
        self.gather(fast_search(self.cat, text, qv), weight, n)

    def gather(self, result: FastResult, weight: float, n: int = 8) -> None:
        for it in result.ranked[:n]:
            self.gathered[it.doc.id] = max(self.gathered.get(it.doc.id, 0.0), it.score * weight)

    def top(self, n: int) -> list[str]:
        return sorted(self.gathered, key=lambda d: -self.gathered[d])[:n]

    def listing(self, ids: list[str]) -> str:
        return "\n".join(
            f"{i}: {render_line(Scored(self.cat.docs[i], 0.0))}" for i in ids if i in self.cat.docs
        )

    def walk(self) -> None:
        """Offer the graph neighbours of the best gathered items; keep the ones the model picks."""
        top = self.top(8)
        frontier: list[str] = []
        for d in top:
            if d not in self.graph:
                continue
            for nb in self.graph.neighbors(d):
                if nb in self.cat.docs and nb not in self.gathered and nb not in frontier:
                    frontier.append(nb)
        frontier = frontier[:20]
        if not frontier:
            return
        body = f"\n\nGathered:\n{self.listing(top)}\n\nCandidates:\n{self.listing(frontier)}"
        walk = self.ask(self.prompts.walk, body, Walk)
        floor = min(self.gathered.values()) if self.gathered else 0.0
        for d in walk.expand[:5]:
            if d in frontier:
                self.gathered[d] = max(self.gathered.get(d, 0.0), floor)

    def reflect(self) -> bool:
        """True when the model says the gathered items answer the question; else look for what it misses."""
        refl = self.ask(self.prompts.reflect, f"\n\nGathered:\n{self.listing(self.top(12))}", Reflection)
        if refl.enough:
            return True
        if refl.missing.strip():
            self.search(refl.missing, 0.7, n=5)
        return False


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
    w = _LLMWalk(cat, graph, query, llm, embed_query, prompts or Prompts(), retries)
    w.gather(fast, 1.0)
    plan = w.ask(w.prompts.plan, "", Plan)
    for sq in plan.sub_questions[:3]:
        w.search(sq, 0.8)
    rounds = 0
    stop = "max rounds"
    while rounds < max_rounds:
        if w.usage.tokens >= max_tokens:
            stop = "token limit"
            break
        rounds += 1
        w.walk()
        if w.usage.tokens >= max_tokens:
            stop = "token limit"
            break
        if w.reflect():
            stop = "answered"
            break
    ranked = [
        Scored(cat.docs[d], s) for d, s in w.gathered.items() if cat.docs[d].kind in ("turn", "knowledge")
    ]
    ranked.sort(key=lambda x: -x.score)
    return DeepResult(ranked=ranked, usage=w.usage, rounds=rounds, stop_reason=stop)
