"""LoCoMo: evidence recall at k and within token budgets, plugmem beside the baselines.

Every system sees the same turns (one message per turn, `dia_id` as id, the session's
date as timestamp) and the same MiniLM vectors. A question scores the share of its
evidence turns whose ids reach the context (`source_ids`), with the evidence as
published and as corrected by the public audit.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.baselines import full_history, make_baselines, pack, turn_costs, turn_line
from benchmarks.common import WARMUP_QUERY, Stopwatch, cold_query, onnx_model, peak_rss_mb, progress
from benchmarks.data import Conversation
from benchmarks.metrics import by_group, evidence_recall, latency_summary, mean, recall_at_k
from benchmarks.plug import ingest, namespace, ranked_ids
from benchmarks.servers import fresh_schema
from plugmem import MemoryPolicy, PlugMem
from plugmem.policy import RecallMode
from plugmem.tokens import TokenCounter

KS = (5, 10)
BUDGETS = (500, 1000, 2000)
MODES: tuple[RecallMode, ...] = ("fast", "deep", "auto")
RANK_DEPTH = 50


@dataclass(slots=True)
class Row:
    """One question's outcome for one system (and budget, where one applies)."""

    system: str
    category: str
    original: float
    corrected: float
    budget: int = 0
    k: int = 0
    tokens: int = 0
    tier: str = ""


def _score(rows: list[Row], system: str, q: Any, retrieved: Sequence[str], **kw: Any) -> None:
    rows.append(
        Row(
            system,
            q.category,
            evidence_recall(q.evidence, retrieved),
            evidence_recall(q.evidence_corrected, retrieved),
            **kw,
        )
    )


def _rank_rows(rows: list[Row], system: str, q: Any, ranking: Sequence[str]) -> None:
    for k in KS:
        rows.append(
            Row(
                system,
                q.category,
                recall_at_k(q.evidence, ranking, k),
                recall_at_k(q.evidence_corrected, ranking, k),
                k=k,
            )
        )


def run(
    convs: Sequence[Conversation],
    *,
    quick: bool = False,
    lexical_on_disk_from: int | None = None,
    server: str | None = None,
    plugmem_only: bool = False,
) -> dict[str, Any]:
    """With `server` (a PostgreSQL URL) plugmem's memories live there, each in a fresh schema, with
    this process's own vector copy (the server backend without a Chroma server); else in a temp dir.
    `plugmem_only` scores plugmem alone (no baselines, no isolated latency run): a comparison of
    plugmem's backends or settings in half the time."""
    tokens = TokenCounter()
    # the lexical index's home (RAM or SQLite FTS5) by namespace size; None: the policy's default
    lexical = {} if lexical_on_disk_from is None else {"lexical_on_disk_from": lexical_on_disk_from}
    model = onnx_model()
    rows: list[Row] = []
    latency: dict[str, list[float]] = {}
    out: dict[str, Any] = {
        "conversations": [c.id for c in convs],
        "lexical_on_disk_from": MemoryPolicy(**lexical).lexical_on_disk_from,
        "backend": "embedded (SQLite)" if server is None else "server (PostgreSQL, vectors in-process)",
        "plugmem_only": plugmem_only,
        "turns": sum(len(c.turns) for c in convs),
        "questions": sum(len(c.questions) for c in convs),
        "questions_corrected": sum(q.evidence != q.evidence_corrected for c in convs for q in c.questions),
        "malformed_evidence_ids": [i for c in convs for i in c.malformed_evidence],
    }
    with tempfile.TemporaryDirectory(prefix="plugmem-bench-") as tmp:

        def where(name: str) -> str:
            return f"{tmp}/{name}" if server is None else fresh_schema(server, f"bench_locomo_{name}")

        # 1. plugmem, full pipeline, cold: this is the ingest throughput we report
        mem = PlugMem.open(where("structure"), embeddings=model, policy=MemoryPolicy(**lexical))
        out["ingest"] = ingest(mem, convs, "locomo ingest (plugmem, full pipeline)")
        stats = mem.stats()
        out["ingest"].update(
            events=stats.events,
            propositions=stats.propositions,
            prescriptions=stats.prescriptions,
            entities=stats.entities,
            summaries=stats.summaries,
        )
        # 2. plugmem turns only (no events, knowledge or summaries), also cold: what structure
        #    adds to recall, and what it costs at ingest
        bare = PlugMem.open(
            where("turns"), embeddings=model, policy=MemoryPolicy(extract_knowledge=False, **lexical)
        )
        out["ingest_turns_only"] = ingest(bare, convs, "locomo ingest (plugmem, turns only)")
        # the baselines reuse the vectors plugmem cached (same model, same turn text)
        assert mem.embeddings is not None
        shared = mem.embeddings

        full_tokens: list[int] = []
        for conv in progress(convs, "locomo recall"):
            costs = turn_costs(conv.turns, tokens)
            full_tokens.append(tokens.count("\n".join(turn_line(t) for t in conv.turns)))
            baselines = [] if plugmem_only else make_baselines(shared)
            for b in baselines:
                b.index(conv.turns)
            ns = namespace(conv)
            for q in conv.questions:
                for b in baselines:
                    cold_query(shared)
                    clock = Stopwatch()
                    ranking = b.rank(q.question, RANK_DEPTH)
                    latency.setdefault(b.name, []).append(clock.ms)
                    _rank_rows(rows, b.name, q, ranking)
                    for budget in BUDGETS:
                        ids, used = pack(ranking, costs, budget, tokens)
                        _score(rows, b.name, q, ids, budget=budget, tokens=used)
                for budget in BUDGETS if baselines else ():
                    ids, used = full_history(conv.turns, costs, budget, tokens)
                    _score(rows, "full-history", q, ids, budget=budget, tokens=used)
                # plugmem rankings (relevance order, generous budget)
                systems: tuple[tuple[str, PlugMem, RecallMode], ...] = (
                    ("plugmem-turns", bare, "fast"),
                    ("plugmem-fast", mem, "fast"),
                    ("plugmem-deep", mem, "deep"),
                )
                for name, m, mode in systems:
                    r = m.recall(q.question, namespace=ns, budget_tokens=8000, k=40, mode=mode)
                    _rank_rows(rows, name, q, ranked_ids(r))
                # plugmem within budgets
                for budget in BUDGETS:
                    r = bare.recall(q.question, namespace=ns, budget_tokens=budget, mode="fast")
                    _score(
                        rows, "plugmem-turns", q, r.source_ids, budget=budget, tokens=r.tokens, tier=r.tier
                    )
                    for mode in MODES:
                        if budget == 1000:  # the timed call: pay for the query embedding
                            cold_query(mem.embeddings)
                        r = mem.recall(q.question, namespace=ns, budget_tokens=budget, mode=mode)
                        _score(
                            rows,
                            f"plugmem-{mode}",
                            q,
                            r.source_ids,
                            budget=budget,
                            tokens=r.tokens,
                            tier=r.tier,
                        )
                        if budget == 1000:
                            latency.setdefault(f"plugmem-{mode}", []).append(r.latency_ms)
                            latency.setdefault(f"tier:{r.tier}", []).append(r.latency_ms)
            for b in baselines:
                b.close()
        out["recall_stats"] = mem.stats().model_dump(mode="json")
        if not plugmem_only:
            out["latency_isolated"] = _isolated_latency(convs, mem, shared)
        mem.close()
        bare.close()
    out["full_history_tokens_mean"] = round(mean(full_tokens), 1)
    out["rank"] = _summarise_rank(rows)
    out["budget"] = _summarise_budget(rows)
    out["latency"] = {k: latency_summary(v) for k, v in latency.items()}
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def _isolated_latency(convs: Sequence[Conversation], mem: PlugMem, shared: Any) -> dict[str, Any]:
    """Each system alone over every question (1,000 tokens, cold query vector), one system at a time.

    The main loop interleaves every system per question, so each timed call runs right after
    other work has evicted its caches; this is the latency of a recall loop on its own.
    """
    latency: dict[str, list[float]] = {}
    for conv in progress(convs, "locomo latency (isolated)"):
        baselines = make_baselines(shared)
        for b in baselines:
            b.index(conv.turns)
            b.rank(WARMUP_QUERY, RANK_DEPTH)
            for q in conv.questions:
                cold_query(shared)
                clock = Stopwatch()
                b.rank(q.question, RANK_DEPTH)
                latency.setdefault(b.name, []).append(clock.ms)
            b.close()
        ns = namespace(conv)
        for mode in MODES:
            for q in conv.questions:
                cold_query(mem.embeddings)
                r = mem.recall(q.question, namespace=ns, budget_tokens=1000, mode=mode)
                latency.setdefault(f"plugmem-{mode}", []).append(r.latency_ms)
    return {k: latency_summary(v) for k, v in latency.items()}


def _summarise_rank(rows: list[Row]) -> dict[str, Any]:
    res: dict[str, Any] = {}
    for system in dict.fromkeys(r.system for r in rows if r.k):
        res[system] = {}
        for k in KS:
            sel = [r for r in rows if r.system == system and r.k == k]
            res[system][f"R@{k}"] = {
                "original": by_group((r.category, r.original) for r in sel),
                "corrected": by_group((r.category, r.corrected) for r in sel),
            }
    return res


def _summarise_budget(rows: list[Row]) -> dict[str, Any]:
    res: dict[str, Any] = {}
    for system in dict.fromkeys(r.system for r in rows if r.budget):
        res[system] = {}
        for budget in BUDGETS:
            sel = [r for r in rows if r.system == system and r.budget == budget]
            entry: dict[str, Any] = {
                "original": by_group((r.category, r.original) for r in sel),
                "corrected": by_group((r.category, r.corrected) for r in sel),
                "tokens_mean": round(mean(r.tokens for r in sel), 1),
            }
            tiers = [r.tier for r in sel if r.tier]
            if tiers:
                entry["tiers"] = {t: round(tiers.count(t) / len(tiers), 3) for t in sorted(set(tiers))}
            res[system][str(budget)] = entry
    return res
