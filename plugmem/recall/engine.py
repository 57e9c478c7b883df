"""Recall: schedule → retrieve → render, with accounting on every result.

One recall, in order: search the fast tier; if nothing clears the relevance floor, hand back
nothing; while the whole history fits, hand back the history; otherwise choose fast or deep;
then shape the ranking by what memory knows (the question's time window, a learned procedure
for a how-to, current facts above what they superseded) and render it within the budget.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import networkx as nx
import numpy as np

from plugmem.errors import LLMJSONError
from plugmem.index.catalog import Catalog, Doc
from plugmem.index.embeddings import CachedEmbeddings
from plugmem.llm import usage_counters
from plugmem.llm_roles import ChatModels
from plugmem.model import LLMUsage
from plugmem.namespace import NamespaceKey
from plugmem.policy import MemoryPolicy
from plugmem.prompts import Prompts
from plugmem.recall.context import (
    Scored,
    arrange,
    item_tokens,
    render,
    render_candidates,
    select,
    shown_stale,
)
from plugmem.recall.currency import apply_currency
from plugmem.recall.deep import DeepResult, deep_deterministic, deep_llm
from plugmem.recall.fast import ITEM_WEIGHT, FastResult, fast_search
from plugmem.recall.focus import focus_on_named
from plugmem.recall.graph import build_graph
from plugmem.recall.intent import asks_advice, dense_weight, lead_with_slots, promote_procedures, slot_facts
from plugmem.recall.relevance import judge
from plugmem.recall.scheduler import Decision, decide_escalation
from plugmem.recall.scope import apply_scope, time_scope
from plugmem.results import Recall, RecallItem
from plugmem.storage.base import Store
from plugmem.tokens import TokenCounter

log = logging.getLogger("plugmem")

# each time deep is wanted but skipped as too slow, its latency estimate shrinks by this
# factor, so deep is tried again after a while rather than never
DEEP_MS_DECAY = 0.9
ANCHOR_MIN = 0.5  # how well an event must match "since I moved" to date the window by it


def history_tokens(turns: list[Doc], tokens: TokenCounter, limit: int) -> int | None:
    """Tokens of every turn rendered, or None as soon as they pass `limit`.

    Stops early: a namespace past the budget is found after about a budget's worth of turns, where
    summing all of them made every recall O(namespace) (64 % of a fast recall at 100k turns).
    """
    total = 0
    for d in turns:
        total += item_tokens(Scored(d, 1.0), tokens)
        if total > limit:
            return None
    return total


@dataclass(slots=True)
class _Run:
    """What one recall gathered before rendering."""

    decision: Decision
    ranked: list[Scored] = field(default_factory=list)
    usage: LLMUsage = field(default_factory=LLMUsage)
    graph_ms: float = 0.0
    notes: list[str] = field(default_factory=list)


class RecallEngine:
    def __init__(
        self,
        *,
        store: Store,
        catalog: Callable[[NamespaceKey], Catalog],
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

    # -- one recall ------------------------------------------------------------------------
    def recall(
        self,
        query: str,
        namespace: NamespaceKey,
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
        now = self.clock()
        run = self._retrieve(query, cat, budget, mode, policy, now)
        cat.prefetch(render_candidates(run.ranked, cat.docs))
        chosen = select(
            run.ranked,
            budget,
            self.tokens,
            docs=cat.docs,
            limit=k,
            now=now,
            drop_stale=policy.stale == "drop",
        )
        best_first = arrange(chosen, "relevance")
        shown = arrange(chosen, policy.order)
        context, n_tokens = render(shown, tokens=self.tokens, budget=budget, now=now)
        kept = {id(s) for s in shown}
        items = [self._item(s, run.decision.tier) for s in best_first if id(s) in kept]
        latency = (time.perf_counter() - t0) * 1000
        self._account(run, mode, latency)
        reason = "; ".join([run.decision.reason, *run.notes])
        return Recall(
            query=query,
            context=context,
            items=items,
            tokens=n_tokens,
            budget_tokens=budget,
            tier=run.decision.tier,
            reason=reason,
            latency_ms=round(latency, 3),
            llm_calls=run.usage.calls,
            llm_tokens=run.usage.tokens,
        )

    def _retrieve(
        self, query: str, cat: Catalog, budget: int, mode: str, policy: MemoryPolicy, now: datetime
    ) -> _Run:
        if not cat.docs:
            return _Run(Decision("fast", "memory is empty in this namespace"))
        scope = time_scope(query, now, lambda phrase: self._anchor(cat, phrase))
        qvec = self._qvec(query)
        fast = fast_search(cat, query, qvec, alpha=dense_weight(query))
        answers_slot = any(d.valid_until is None for d in slot_facts(query, cat)[1].values())
        verdict = judge(
            fast,
            docs=len(cat.docs),
            has_vectors=qvec is not None and bool(fast.top_dense),
            answers_slot=answers_slot,
            advice=asks_advice(query),
        )
        if not verdict.relevant:
            return _Run(Decision("fast", verdict.reason))
        turns = cat.turns() if policy.full_history_when_fits and mode == "auto" else []
        total = history_tokens(turns, self.tokens, budget - 60) if turns else None
        if total is not None:
            ranked = [Scored(d, 1.0) for d in turns]
            decision = Decision("full", f"full history ({total} tokens) fits the {budget}-token budget")
            return _Run(decision, apply_currency(ranked, cat, policy.stale, pull=False))
        run = self._tiers(query, cat, qvec, fast, mode, policy)
        run.ranked, named = focus_on_named(run.ranked, query, cat)
        if named:
            run.notes.append(f"about {', '.join(sorted(named))}")
        if scope is not None:
            run.ranked = apply_scope(run.ranked, scope, cat)
            run.notes.append(
                f"time window {scope.label}" + (" (look back: summaries)" if scope.broad else "")
            )
        run.ranked, slots = lead_with_slots(run.ranked, query, cat)
        if slots:
            run.notes.append(f"asks about {', '.join(slots)}")
        run.ranked = promote_procedures(run.ranked, query, ITEM_WEIGHT["knowledge"])
        run.ranked = apply_currency(run.ranked, cat, policy.stale)
        return run

    def _tiers(
        self,
        query: str,
        cat: Catalog,
        qvec: np.ndarray | None,
        fast: FastResult,
        mode: str,
        policy: MemoryPolicy,
    ) -> _Run:
        decision = self._decide(query, fast, mode, policy)
        if decision.tier != "deep":
            return _Run(decision, list(fast.ranked))
        t_graph = time.perf_counter()
        self.graph(cat)  # built once per catalog version; not part of the steady-state cost
        graph_ms = (time.perf_counter() - t_graph) * 1000
        deep = self._deep(cat, query, qvec, fast, policy)
        decision = Decision("deep", f"{decision.reason}; {deep.stop_reason}", decision.score)
        return _Run(decision, deep.ranked, deep.usage, graph_ms)

    def _decide(self, query: str, fast: FastResult, mode: str, policy: MemoryPolicy) -> Decision:
        if mode in ("fast", "deep"):
            return Decision(mode, f"{mode} tier requested")
        allowed, share = self._deep_allowed(policy)
        decision = decide_escalation(
            query, fast, deep_share=share, max_share=policy.max_deep_share, allowed=allowed
        )
        if decision.tier == "deep" and self._deep_ms is not None and self._deep_ms > policy.latency_budget_ms:
            # forget slowly, so one slow deep recall (a busy machine) does not rule deep out for good
            with self._lock:
                self._deep_ms *= DEEP_MS_DECAY
            return Decision(
                "fast",
                f"deep wanted ({decision.reason}) but deep recalls take ~{self._deep_ms:.0f} ms, over the "
                f"{policy.latency_budget_ms:.0f} ms latency budget",
                decision.score,
            )
        return decision

    def _deep_allowed(self, policy: MemoryPolicy) -> tuple[bool, float]:
        fast, deep = self._tier_counts["fast"], self._tier_counts["deep"]
        share = deep / (fast + deep) if fast + deep else 0.0
        # allow one deep recall of slack so the first queries are not all forced to fast
        return deep + 1 <= policy.max_deep_share * (fast + deep + 1) + 1, share

    def _anchor(self, cat: Catalog, phrase: str) -> datetime | None:
        """When the event a phrase names happened ("I moved" → the move), if memory knows it well."""
        fast = fast_search(cat, phrase, self._qvec(phrase), search_k=20)
        best = next((s for s in fast.ranked if s.doc.kind in ("knowledge", "event", "turn")), None)
        if best is None or fast.lexical_coverage < ANCHOR_MIN:
            return None
        return best.doc.timestamp

    def _item(self, s: Scored, tier: str) -> RecallItem:
        d = s.doc
        stale = shown_stale(s)
        return RecallItem(
            id=d.id,
            text=d.text,
            kind=d.kind,
            score=round(float(s.score), 6),
            timestamp=d.timestamp,
            source_ids=list(d.source_ids),
            session_id=d.session_id,
            tier=tier,
            tokens=item_tokens(s, self.tokens),
            valid_from=d.valid_from,
            valid_until=d.valid_until if stale is None else stale.since,
            superseded_by=list(stale.by_ids) if stale is not None else [],
        )

    def _account(self, run: _Run, mode: str, latency: float) -> None:
        tier = run.decision.tier
        with self._lock:
            if mode == "auto":
                self._tier_counts[tier] += 1
            if tier == "deep":
                steady = latency - run.graph_ms
                self._deep_ms = steady if self._deep_ms is None else 0.8 * self._deep_ms + 0.2 * steady
        counters = {f"recall.{tier}": 1}
        if mode == "auto":
            counters[f"recall.auto.{tier}"] = 1
        if not run.ranked:
            counters["recall.empty"] = 1
        counters.update(usage_counters("plan", run.usage))
        self.store.bump(counters, soon=True)

    def _deep(
        self,
        cat: Catalog,
        query: str,
        qvec: np.ndarray | None,
        fast: FastResult,
        policy: MemoryPolicy,
    ) -> DeepResult:
        g = self.graph(cat)
        emb = self.embeddings
        embed_query = emb.embed_query_array if emb is not None else None
        llm = self.models.get("plan", policy)
        if llm is None:
            return deep_deterministic(cat, g, query, qvec, fast, embed_query=embed_query)
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
        res = deep_deterministic(cat, g, query, qvec, fast, embed_query=embed_query)
        usage.fallbacks += 1
        res.usage = usage
        res.stop_reason = f"LLM failed ({why}); deterministic deep used"
        return res
