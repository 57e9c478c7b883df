"""Recall: schedule → retrieve → render, with accounting on every result."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime

import networkx as nx
import numpy as np

from plugmem.graph import build_graph
from plugmem.index.catalog import Catalog
from plugmem.index.embeddings import CachedEmbeddings
from plugmem.llm import LLMJSONError, usage_counters
from plugmem.llm_roles import ChatModels
from plugmem.model import LLMUsage
from plugmem.policy import MemoryPolicy
from plugmem.prompts import Prompts
from plugmem.recall.context import Scored, arrange, doc_tokens, render, select
from plugmem.recall.deep import DeepResult, deep_deterministic, deep_llm
from plugmem.recall.fast import FastResult, fast_search
from plugmem.recall.scheduler import Decision, decide_escalation
from plugmem.results import Recall, RecallItem
from plugmem.storage.sqlite import SQLiteStore
from plugmem.tokens import TokenCounter

log = logging.getLogger("plugmem")

# each time deep is wanted but skipped as too slow, its latency estimate shrinks by this
# factor, so deep is tried again after a while rather than never
DEEP_MS_DECAY = 0.9


class RecallEngine:
    def __init__(
        self,
        *,
        store: SQLiteStore,
        catalog: Callable[[str], Catalog],
        embeddings: CachedEmbeddings | None,
        tokens: TokenCounter,
        policy: MemoryPolicy,
        models: ChatModels,
        clock: Callable[[], datetime],
        prompt_overrides: Mapping[str, str] | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.embeddings = embeddings
        self.tokens = tokens
        self.policy = policy
        self.models = models
        self.prompt_overrides = dict(prompt_overrides or {})
        self.clock = clock
        self._graphs: dict[str, tuple[int, nx.Graph]] = {}
        self._lock = threading.Lock()
        counters = store.counters()
        # the deep-share ceiling applies to what `auto` chose; recalls that asked for a tier do not count
        self._tier_counts = {t: counters.get(f"recall.auto.{t}", 0) for t in ("full", "fast", "deep")}
        self._deep_ms: float | None = None  # moving average of deep recall latency

    def _qvec(self, text: str) -> np.ndarray | None:
        return self.embeddings.embed_query_array(text) if self.embeddings is not None else None

    def graph(self, cat: Catalog) -> nx.Graph:
        """The namespace graph, rebuilt only when the catalog changed."""
        with self._lock:
            cached = self._graphs.get(cat.namespace)
            if cached is not None and cached[0] == cat.version:
                return cached[1]
        ns = cat.namespace
        g = build_graph(cat.turns(), self.store.edges(ns), self.store.entities(ns))
        with self._lock:
            self._graphs[ns] = (cat.version, g)
        return g

    def _deep_allowed(self, policy: MemoryPolicy) -> tuple[bool, float]:
        fast, deep = self._tier_counts["fast"], self._tier_counts["deep"]
        share = deep / (fast + deep) if fast + deep else 0.0
        # allow one deep recall of slack so the first queries are not all forced to fast
        return deep + 1 <= policy.max_deep_share * (fast + deep + 1) + 1, share

    def recall(
        self,
        query: str,
        namespace: str,
        *,
        budget_tokens: int | None,
        k: int | None,
        mode: str | None,
        policy: MemoryPolicy,
    ) -> Recall:
        t0 = time.perf_counter()
        budget = budget_tokens or policy.budget_tokens
        mode = mode or policy.mode
        cat = self.catalog(namespace)
        turns = cat.turns()
        total = sum(doc_tokens(d, self.tokens) for d in turns)
        usage = LLMUsage()
        graph_ms = 0.0
        if policy.full_history_when_fits and mode == "auto" and turns and total + 40 <= budget:
            decision = Decision("full", f"full history ({total} tokens) fits the {budget}-token budget")
            ranked = [Scored(d, 1.0) for d in turns]
        else:
            qvec = self._qvec(query)
            fast = fast_search(cat, query, qvec)
            if mode == "fast":
                decision = Decision("fast", "fast tier requested")
            elif mode == "deep":
                decision = Decision("deep", "deep tier requested")
            else:
                allowed, share = self._deep_allowed(policy)
                decision = decide_escalation(
                    query, fast, deep_share=share, max_share=policy.max_deep_share, allowed=allowed
                )
                if (
                    decision.tier == "deep"
                    and self._deep_ms is not None
                    and self._deep_ms > policy.latency_budget_ms
                ):
                    # forget slowly, so one slow deep recall (a busy machine) does not rule deep out for good
                    with self._lock:
                        self._deep_ms *= DEEP_MS_DECAY
                    decision = Decision(
                        "fast",
                        f"deep wanted ({decision.reason}) but deep recalls take ~{self._deep_ms:.0f} ms, over the "
                        f"{policy.latency_budget_ms:.0f} ms latency budget",
                        decision.score,
                    )
            ranked = fast.ranked
            if decision.tier == "deep":
                t_graph = time.perf_counter()
                self.graph(cat)  # built once per catalog version; not part of the steady-state cost
                graph_ms = (time.perf_counter() - t_graph) * 1000
                deep = self._deep(cat, query, qvec, fast, policy)
                ranked = deep.ranked
                usage = deep.usage
                decision = Decision("deep", f"{decision.reason}; {deep.stop_reason}", decision.score)
        limit = k if k is not None else None
        chosen = arrange(select(ranked, budget, self.tokens, limit=limit), policy.order)
        context, n_tokens = render(chosen, tokens=self.tokens, budget=budget)
        items = [
            RecallItem(
                id=s.doc.id,
                text=s.doc.text,
                kind=s.doc.kind,
                score=round(float(s.score), 6),
                timestamp=s.doc.timestamp,
                source_ids=list(s.doc.source_ids),
                session_id=s.doc.session_id,
                tier=decision.tier,
                tokens=doc_tokens(s.doc, self.tokens),
            )
            for s in chosen
        ]
        latency = (time.perf_counter() - t0) * 1000
        with self._lock:
            if mode == "auto":
                self._tier_counts[decision.tier] += 1
            if decision.tier == "deep":
                steady = latency - graph_ms
                self._deep_ms = steady if self._deep_ms is None else 0.8 * self._deep_ms + 0.2 * steady
        counters = {f"recall.{decision.tier}": 1}
        if mode == "auto":
            counters[f"recall.auto.{decision.tier}"] = 1
        counters.update(usage_counters("plan", usage))
        self.store.bump(counters, soon=True)
        return Recall(
            query=query,
            context=context,
            items=items,
            tokens=n_tokens,
            budget_tokens=budget,
            tier=decision.tier,
            reason=decision.reason,
            latency_ms=round(latency, 3),
            llm_calls=usage.calls,
            llm_tokens=usage.tokens,
        )

    def _deep(
        self, cat: Catalog, query: str, qvec: np.ndarray | None, fast: FastResult, policy: MemoryPolicy
    ) -> DeepResult:
        g = self.graph(cat)
        emb = self.embeddings
        embed_query = emb.embed_query_array if emb is not None else None
        llm = self.models.get("plan", policy)
        if llm is None:
            return deep_deterministic(cat, g, query, qvec, fast, now=self.clock(), embed_query=embed_query)
        try:
            return deep_llm(
                cat,
                g,
                query,
                fast,
                llm=llm,
                embed_query=embed_query,
                max_rounds=policy.deep_max_rounds,
                max_tokens=policy.deep_max_llm_tokens,
                prompts=Prompts.with_overrides(policy.prompts, self.prompt_overrides),
            )
        except LLMJSONError as exc:
            usage, why = exc.usage, str(exc)
        except Exception as exc:  # provider or transport error: recall still answers, deterministically
            usage, why = LLMUsage(calls=1), f"{type(exc).__name__}: {exc}"
        log.warning("plugmem: the plan model failed (%s); deterministic deep tier used", why)
        res = deep_deterministic(cat, g, query, qvec, fast, now=self.clock(), embed_query=embed_query)
        usage.fallbacks += 1
        res.usage = usage
        res.stop_reason = f"LLM failed ({why}); deterministic deep used"
        return res
