"""Render results.json as REPORT.md with PNG plots; `python -m benchmarks.report [DIR]` re-renders."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS, RUN_FIELDS

LOCOMO_CATS = ("multi-hop", "temporal", "open-domain", "single-hop")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def _get(d: Any, *path: Any, default: Any = None) -> Any:
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return default
        d = d[p]
    return d


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(d, (int, float, str, bool)) or d is None:
        out[prefix] = d
    return out


# -- targets ----------------------------------------------------------------------------
def targets(r: dict[str, Any]) -> list[tuple[str, str, Any, bool | None]]:
    """(what, target, measured, met) for every number an issue set as a target."""
    out: list[tuple[str, str, Any, bool | None]] = []

    def add(
        what: str, target: str, value: Any, at_least: float | None = None, at_most: float | None = None
    ) -> None:
        ok = (
            None
            if value is None
            else (at_least is None or value >= at_least) and (at_most is None or value <= at_most)
        )
        out.append((what, target, value, ok))

    lc = r.get("locomo", {})
    add(
        "LoCoMo ingest with embeddings, turns only (turns/s)",
        "≥ 150",
        _get(lc, "ingest_turns_only", "turns_per_s"),
        at_least=150,
    )
    full = _get(lc, "ingest", "turns_per_s")
    out.append(("LoCoMo ingest, full pipeline incl. knowledge (turns/s)", "(no target)", full, None))
    for key, how in (
        ("latency_isolated", "recall loop alone"),
        ("latency", "interleaved with other systems"),
    ):
        add(
            f"fast recall p50 (ms, incl. query embedding; {how})",
            "≤ 15",
            _get(lc, key, "plugmem-fast", "p50_ms"),
            at_most=15,
        )
        add(f"fast recall p95 (ms; {how})", "≤ 50", _get(lc, key, "plugmem-fast", "p95_ms"), at_most=50)
    fused = _get(lc, "rank", "plugmem-turns", "R@10", "original", "all")
    bm = _get(lc, "rank", "bm25", "R@10", "original", "all")
    de = _get(lc, "rank", "dense", "R@10", "original", "all")
    if fused is not None and bm is not None and de is not None:
        out.append(
            ("fused R@10 (turns only) vs BM25 / dense", f"> {max(bm, de):.3f}", fused, fused > max(bm, de))
        )
    for mode, budget, goal in (("fast", "1000", 0.80), ("auto", "1000", 0.88), ("fast", "500", 0.70)):
        v = _get(lc, "budget", f"plugmem-{mode}", budget, "original", "all")
        add(f"LoCoMo evidence recall, {mode} @ {budget} tokens", f"≥ {goal:.2f}", v, at_least=goal)
    for key, how in (("latency_isolated", "recall loop alone"), ("latency", "interleaved")):
        add(
            f"deterministic deep p50 (ms; {how})",
            "≤ 150",
            _get(lc, key, "plugmem-deep", "p50_ms"),
            at_most=150,
        )
    esc = _get(lc, "budget", "plugmem-auto", "1000", "tiers", "deep", default=0.0 if lc else None)
    add("auto escalation rate (LoCoMo @1000)", "≤ 0.30", esc, at_most=0.30)
    lme = r.get("longmemeval", {})
    for metric, goal in (("recall_all@5", 0.88), ("recall_any@5", 0.97), ("ndcg@5", 0.85)):
        v = _get(lme, "results", "plugmem-auto", metric, "all")
        add(f"LongMemEval-S {metric} (auto)", f"≥ {goal:.2f}", v, at_least=goal)
    ratio = _find_ratio(r.get("checkpointer", {}))
    add("checkpointer mean step time, feeding memory / SqliteSaver", "≤ 1.5×", ratio, at_most=1.5)
    rel = r.get("reliability", {})
    add("kill -9 rounds: acknowledged writes lost", "0", _get(rel, "kill9", "lost"), at_most=0)
    add(
        "one tenant's recall p95 during another's 1,500-message import / idle",
        "≤ 2×",
        _get(rel, "isolation", "p95_ratio"),
        at_most=2.0,
    )
    g = _get(rel, "graph", "p95_ratio", "with_memory")
    out.append(("LangGraph invoke p95, with memory / without", "(reported)", g, None))
    return out


def _find_ratio(cp: dict[str, Any]) -> float | None:
    """The mean step-time ratio of PlugMemSaver feeding a real memory to SqliteSaver."""
    v = _get(cp, "ratio_to_sqlite", "plugmem_feeding", "mean")
    return float(v) if isinstance(v, (int, float)) else None


# -- plots ------------------------------------------------------------------------------
def plots(out: Path, r: dict[str, Any]) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    made: list[str] = []
    budget = _get(r, "locomo", "budget")
    if budget:
        fig, ax = plt.subplots(figsize=(7, 4))
        for system, per in budget.items():
            xs = sorted(int(b) for b in per)
            ax.plot(xs, [per[str(x)]["original"]["all"] for x in xs], marker="o", label=system)
        ax.set_xlabel("context budget (tokens)")
        ax.set_ylabel("evidence recall")
        ax.set_title("LoCoMo dev: evidence recall within a token budget")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "locomo_budget.png", dpi=110)
        plt.close(fig)
        made.append("locomo_budget.png")
    lme = _get(r, "longmemeval", "results")
    if lme:
        fig, ax = plt.subplots(figsize=(7, 4))
        systems = list(lme)
        metrics = ("recall_all@5", "recall_any@5", "ndcg@5", "recall_all@10")
        width = 0.8 / len(systems)
        for i, s in enumerate(systems):
            ax.bar(
                [j + i * width for j in range(len(metrics))],
                [lme[s][m]["all"] for m in metrics],
                width,
                label=s,
            )
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(metrics))], metrics)
        ax.set_ylim(0, 1)
        ax.set_title("LongMemEval-S (session level, user turns)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "longmemeval.png", dpi=110)
        plt.close(fig)
        made.append("longmemeval.png")
    sc = _get(r, "scaling", "turns_only") or {}
    pts = _scaling_points(sc)
    full_pts = _scaling_points(_get(r, "scaling", "full_pipeline") or {})
    if pts or full_pts:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.6))
        for label, series in (("turns only", pts), ("full pipeline", full_pts)):
            if not series:
                continue
            xs = [p["size"] for p in series]
            a1.plot(xs, [p["p50"] for p in series], marker="o", label=f"{label}: fast p50")
            a1.plot(xs, [p["p95"] for p in series], marker="x", linestyle="--", label=f"{label}: fast p95")
            a2.plot(xs, [p["rss"] for p in series], marker="o", label=f"{label}: RSS after ingest")
        for ax, ylabel in ((a1, "recall latency (ms)"), (a2, "MB")):
            ax.set_xscale("log")
            ax.set_xlabel("messages in memory")
            ax.set_ylabel(ylabel)
            ax.legend(fontsize=7)
            ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / "scaling.png", dpi=110)
        plt.close(fig)
        made.append("scaling.png")
    return made


def _scaling_points(sc: dict[str, Any]) -> list[dict[str, Any]]:
    pts = []
    for key, v in sc.items():
        if str(key).isdigit() and isinstance(v, dict):
            pts.append(
                {
                    "size": int(key),
                    "p50": _get(v, "recall", "fast", "latency", "p50_ms"),
                    "p95": _get(v, "recall", "fast", "latency", "p95_ms"),
                    "rss": v.get("rss_mb"),
                }
            )
    return sorted(pts, key=lambda p: p["size"])


# -- sections ---------------------------------------------------------------------------
def _locomo(lc: dict[str, Any]) -> list[str]:
    s = ["## LoCoMo dev (evidence recall)", ""]
    s.append(
        f"{len(lc['conversations'])} conversations, {lc['turns']} turns, {lc['questions']} questions "
        f"(categories 1–4); {lc['questions_corrected']} questions have audit-corrected evidence; "
        f"{len(lc['malformed_evidence_ids'])} malformed evidence ids skipped "
        f"({', '.join(repr(x) for x in lc['malformed_evidence_ids'])}). "
        "A question scores the share of its evidence turns whose ids reach the result."
    )
    ing = lc.get("ingest", {})
    s += [
        "",
        f"**Ingest** (plugmem, full pipeline: durable log, segmentation, rule extraction, consolidation, "
        f"summaries, embeddings, indexes): {ing.get('turns')} turns in {ing.get('seconds')} s = "
        f"**{ing.get('turns_per_s')} turns/s**; `add` itself {ing.get('add_ms_per_turn')} ms per turn. Built: "
        f"{ing.get('events')} events, {ing.get('propositions')} propositions, {ing.get('prescriptions')} "
        f"prescriptions, {ing.get('entities')} entities, {ing.get('summaries')} summaries.",
        "",
        f"Turns only (`extract_knowledge=False`: durable log, embeddings, indexes): "
        f"**{_get(lc, 'ingest_turns_only', 'turns_per_s')} turns/s**.",
        "",
        "### Ranking: evidence recall@k",
        "",
    ]
    rows = []
    for system, v in lc["rank"].items():
        for k in ("R@5", "R@10"):
            o, c = v[k]["original"], v[k]["corrected"]
            rows.append([system, k, o["all"], c["all"], *(o.get(cat, "–") for cat in LOCOMO_CATS)])
    s.append(table(["system", "k", "all", "all (corrected)", *LOCOMO_CATS], rows))
    s += [
        "",
        "plugmem rankings: the recalled items in score order, each citing its source turns. "
        "`plugmem-turns` indexes raw turns only (no events, knowledge or summaries), i.e. the fused "
        "BM25 + dense ranking alone; `plugmem-fast` adds the structure.",
        "",
        "### Within a token budget",
        "",
    ]
    rows = []
    for system, per in lc["budget"].items():
        for b, e in per.items():
            o, c = e["original"], e["corrected"]
            tiers = ", ".join(f"{t} {x:.0%}" for t, x in e.get("tiers", {}).items())
            rows.append(
                [
                    system,
                    b,
                    o["all"],
                    c["all"],
                    *(o.get(cat, "–") for cat in LOCOMO_CATS),
                    e["tokens_mean"],
                    tiers,
                ]
            )
    s.append(
        table(["system", "budget", "all", "all (corrected)", *LOCOMO_CATS, "tokens/query", "tiers"], rows)
    )
    full = lc.get("full_history_tokens_mean")
    s += ["", f"The full history of a conversation is {full} tokens on average (one line per turn)."]
    ratios = []
    for b in ("500", "1000", "2000"):
        p = _get(lc, "budget", "plugmem-auto", b, "original", "all")
        row: list[Any] = [b, p]
        for base in ("bm25", "dense", "inmemorystore", "full-history"):
            v = _get(lc, "budget", base, b, "original", "all")
            row.append(f"{p / v:.2f}×" if p and v else "n/a")
        row.append(f"{full / float(b):.0f}× fewer" if full else "")
        ratios.append(row)
    s += ["", "Ratios (plugmem auto over each baseline, same budget):", ""]
    s.append(
        table(
            [
                "budget",
                "plugmem auto",
                "÷ bm25",
                "÷ dense",
                "÷ InMemoryStore",
                "÷ full history (truncated)",
                "tokens vs whole history",
            ],
            ratios,
        )
    )
    return s


def _lme(lme: dict[str, Any]) -> list[str]:
    s = ["## LongMemEval-S (session-level retrieval)", ""]
    s.append(
        f"{lme['questions']} questions scored ({lme['skipped']} skipped by the official protocol), "
        f"{lme['turns']} user turns, {lme['sessions_per_question']} sessions per haystack. "
        f"plugmem ingest: {_get(lme, 'ingest', 'turns_per_s')} turns/s (full pipeline; these turns are "
        "twice LoCoMo's length). auto tiers: "
        + ", ".join(f"{t} {v:.0%}" for t, v in lme.get("auto_tiers", {}).items())
    )
    s.append("")
    metrics = ("recall_all@5", "recall_any@5", "ndcg@5", "recall_all@10")
    s.append(
        table(["system", *metrics], [[k, *(v[m]["all"] for m in metrics)] for k, v in lme["results"].items()])
    )
    types = sorted({t for v in lme["results"].values() for t in v["recall_all@5"] if t != "all"})
    s += ["", "recall_all@5 per question type:", ""]
    s.append(
        table(
            ["system", *types],
            [[k, *(v["recall_all@5"].get(t, "–") for t in types)] for k, v in lme["results"].items()],
        )
    )
    return s


def _latency(r: dict[str, Any]) -> list[str]:
    s = [
        "## Recall latency",
        "",
        "Per query, each timed call paying for its query embedding (the query-vector cache is emptied "
        "first). *alone*: one system at a time over every LoCoMo question (1,000 tokens). *interleaved*: "
        "timed inside the LoCoMo scoring loop, right after the other systems answered the same question "
        "(colder caches). LongMemEval: one question per haystack, 8,000-token budget, k=60.",
        "",
    ]
    rows = []
    for src, key, how in (
        ("locomo", "latency_isolated", "alone"),
        ("locomo", "latency", "interleaved"),
        ("longmemeval", "latency", "interleaved"),
    ):
        for name, v in _get(r, src, key, default={}).items():
            rows.append(
                [f"{src} ({how})", name, int(v["n"]), v["p50_ms"], v["p95_ms"], v["p99_ms"], v["mean_ms"]]
            )
    s.append(table(["run", "system / tier", "n", "p50 ms", "p95 ms", "p99 ms", "mean ms"], rows))
    return s


def _server_mb(v: dict[str, Any]) -> float | str:
    """PostgreSQL's PSS + the Chroma server's RSS after recall; "–" for the embedded backend."""
    mem = _get(v, "servers_after_recall", "memory", default=None)
    if not mem:
        return "–"
    return round(mem["postgres"]["pss_mb"] + mem["chroma"]["rss_mb"], 1)


def _scaling(sc: dict[str, Any], title: str = "Scaling") -> list[str]:
    s = [
        f"## {title}",
        "",
        "One namespace holds LoCoMo conv-26 (419 turns, its real questions asked at 1,000 tokens) plus filler "
        "turns from LongMemEval-S haystacks (distinct texts, cut to chat-turn length, dated before conv-26).",
        "",
    ]
    for name, part in sc.items():
        if not isinstance(part, dict):
            continue
        s += [f"**{part.get('pipeline', name)}**, {part.get('questions')} questions:", ""]
        rows = []
        for key in sorted((k for k in part if str(k).isdigit()), key=int):
            v = part[key]
            f, a = _get(v, "recall", "fast", default={}), _get(v, "recall", "auto", default={})
            b = v.get("baselines", {})
            rows.append(
                [
                    f"{int(key):,}",
                    _get(v, "ingest", "messages_per_s"),
                    v.get("disk_mb"),
                    v.get("rss_mb"),
                    _server_mb(v),
                    _get(f, "latency", "p50_ms"),
                    _get(f, "latency", "p95_ms"),
                    _get(f, "latency", "p99_ms"),
                    _get(a, "latency", "p50_ms"),
                    f.get("evidence_recall"),
                    a.get("evidence_recall"),
                    _get(b, "bm25", "evidence_recall", default="–"),
                    _get(b, "dense", "evidence_recall", default="–"),
                    _get(b, "dense", "latency", "p50_ms", default="–"),
                ]
            )
        s.append(
            table(
                [
                    "messages",
                    "ingest msg/s",
                    "disk MB",
                    "RSS MB",
                    "servers MB",
                    "fast p50 ms",
                    "fast p95 ms",
                    "fast p99 ms",
                    "auto p50 ms",
                    "recall fast",
                    "recall auto",
                    "recall bm25",
                    "recall dense",
                    "dense p50 ms",
                ],
                rows,
            )
        )
        s.append("")
    return s


def _checkpointer(cp: dict[str, Any]) -> list[str]:
    s = ["## Checkpointer overhead per graph step", ""]
    setup = cp.get("setup", {})
    s.append(
        f"{setup.get('graph')}; {setup.get('invokes')} invokes over {setup.get('threads')} threads, "
        f"{setup.get('checkpoints_per_invoke')} checkpoints per invoke; {setup.get('synchronous_note', '')}. "
        f"{setup.get('method', '')}."
    )
    s.append("")
    rows = []
    for name, v in cp.get("per_invoke", {}).items():
        ratio = _get(cp, "ratio_to_sqlite", name, default={})
        rng = _get(cp, "ratio_to_sqlite_range", name, "mean", default=["", ""])
        rows.append(
            [
                name,
                v.get("p50_ms"),
                v.get("p95_ms"),
                v.get("mean_ms"),
                ratio.get("p50"),
                ratio.get("mean"),
                f"{rng[0]}–{rng[1]}",
            ]
        )
    s.append(
        table(
            ["saver", "p50 ms", "p95 ms", "mean ms", "× sqlite p50", "× sqlite mean", "mean ratio range"],
            rows,
        )
    )
    return s


def _reliability(rel: dict[str, Any]) -> list[str]:
    k, iso, g = rel.get("kill9", {}), rel.get("isolation", {}), rel.get("graph", {})
    rows = [
        [name, _get(v, "p50_ms"), _get(v, "p95_ms"), _get(v, "n")]
        for name, v in (
            ("tenant B recall, idle", iso.get("recall_idle")),
            (
                f"tenant B recall, while A imports {iso.get('import_messages')} messages",
                iso.get("recall_during_import"),
            ),
            ("tenant B add then recall (own write), A importing", iso.get("add_then_recall_during_import")),
            *(
                (f"graph invoke: {name.replace('_', ' ')}", v)
                for name, v in g.items()
                if isinstance(v, dict) and "p95_ms" in v
            ),
        )
    ]
    return [
        "## Reliability (`python -m benchmarks.reliability`)",
        "",
        f"- kill -9: {k.get('rounds')} rounds, {k.get('acknowledged')} acknowledged ids, **{k.get('lost')} lost**; "
        f"reopen after a kill p50 {_get(k, 'reopen_ms', 'p50_ms')} ms (includes the vector index probe in a child "
        f"process); after a final flush {k.get('after_final_flush')}",
        f"- load average at start {rel.get('load_avg_at_start')}",
        "",
        table(["what", "p50 ms", "p95 ms", "n"], rows),
    ]


def _agents(ag: dict[str, Any]) -> list[str]:
    rows = [
        [
            r.get("processes"),
            r.get("added"),
            r.get("adds_per_s"),
            r.get("recall_p50_ms"),
            r.get("recall_p95_ms"),
            r.get("errors"),
            r.get("lost"),
            r.get("duplicated"),
            r.get("derived_twice"),
        ]
        for r in ag.get("rows", [])
    ]
    return [
        "## Many agents on one server memory (`python -m benchmarks.multi_agent`)",
        "",
        f"- {ag.get('backend')}; each agent process adds to its own namespace and a shared one and recalls "
        "after each turn (lexical-only); 'messages' counts every add, the common messages all agents send "
        "with the same ids included (stored once: the lost / duplicated columns audit the database afterwards); "
        f"load average at start {ag.get('load_avg_at_start')}, at the end {ag.get('load_avg_at_end')}",
        "",
        table(
            [
                "processes",
                "messages",
                "adds/s",
                "recall p50 ms",
                "recall p95 ms",
                "errors",
                "lost",
                "duplicated",
                "derived twice",
            ],
            rows,
        ),
    ]


def _int8(i8: dict[str, Any]) -> list[str]:
    rows = [
        [
            p,
            _get(i8, p, "embedding_only", "texts_per_s"),
            _get(i8, p, "embedding_only", "texts_per_cpu_s"),
            _get(i8, p, "full_pipeline", "turns_per_s"),
            _get(i8, p, "evidence_recall_at_1000", "fast", "all"),
            _get(i8, p, "evidence_recall_at_1000", "auto", "all"),
        ]
        for p in ("fp32", "int8")
    ]
    cos = i8.get("cosine_to_fp32", {})
    return [
        "## INT8 against FP32 embeddings (LoCoMo dev)",
        "",
        table(
            [
                "weights",
                "embed texts/s",
                "per CPU-s",
                "full pipeline turns/s",
                "evidence fast @1k",
                "auto @1k",
            ],
            rows,
        ),
        "",
        f"Vectors agree at a mean cosine of {cos.get('mean')} (min {cos.get('min')}) over {i8.get('turns')} turns.",
    ]


def _generic(title: str, d: dict[str, Any], note: str = "") -> list[str]:
    flat = _flatten(d)
    s = [f"## {title}", ""]
    if note:
        s += [note, ""]
    s.append(table(["measure", "value"], [[k, v] for k, v in flat.items()]))
    return s


def _measured(v: Any, ok: bool | None) -> Any:
    """A value as the table shows it, with a fourth decimal when three would hide a miss (.8798 ≠ .880)."""
    if v is None:
        return "not run"
    if isinstance(v, float) and ok is False and abs(v) < 10:
        return f"{v:.4f}"
    return v


def _stage_runs(r: dict[str, Any]) -> list[str]:
    """One line per run when stages come from different runs (a later `--only` rerun)."""
    runs: dict[str, Any] = r.get("stage_runs") or {}
    by_run: dict[tuple[str, ...], list[str]] = {}
    for stage, run in runs.items():
        key = tuple(str(run.get(k)) for k in RUN_FIELDS)
        by_run.setdefault(key, []).append(stage)
    if len(by_run) < 2:
        return []
    return [
        f"- stages {', '.join(stages)}: run {date}, `{command}`, commit `{commit}`, {cpu} "
        f"(load average at start {load})"
        for (date, command, commit, cpu, load), stages in sorted(by_run.items())
    ]


def _answers(a: dict[str, Any]) -> list[str]:
    """What the agent reads: answer in context beside evidence recall, per dataset and budget."""
    s = [
        "## What the agent reads: is the answer in the context?",
        "",
        "The rendered context (auto mode) checked for the gold answer: **exact** = the normalised answer "
        "appears as a phrase (dates compared as dates), **words** = share of the answer's words present; "
        "beside evidence recall and how often recall came back empty. "
        + (
            f"`plugmem-before` is plugmem at `{a['before']}`, run in the same job. "
            if a.get("before")
            else ""
        )
        + f"{a.get('locomo_questions')} LoCoMo questions (incl. adversarial), "
        f"{a.get('longmemeval_questions')} LongMemEval-S questions.",
        "",
    ]
    for ds in ("locomo", "longmemeval"):
        if ds not in a:
            continue
        rows = []
        for system, res in a[ds].items():
            if system == "examples":
                continue
            for budget in ("500", "1000"):
                x = res[budget]
                empty = x["empty"]
                rows.append(
                    [
                        system,
                        budget,
                        x["answer_exact"]["all"],
                        x["answer_share"]["all"],
                        x["evidence_recall"]["all"],
                        empty.get("all", 0),
                        empty.get("adversarial", "–"),
                        x["tokens_mean"],
                    ]
                )
        s += [
            f"### {ds}",
            "",
            table(
                [
                    "system",
                    "budget",
                    "exact",
                    "words",
                    "evidence",
                    "empty (all)",
                    "empty (adversarial)",
                    "tokens",
                ],
                rows,
            ),
            "",
        ]
    return s


def render(r: dict[str, Any], pngs: Sequence[str]) -> str:
    m = r.get("machine", {})
    s = [
        "# plugmem benchmark report",
        "",
        f"- date: {m.get('date')}  ·  command: `{m.get('command')}`  ·  commit: `{m.get('commit')}`",
        f"- machine (latest run): {m.get('cpu')}, {m.get('cores')} cores, {m.get('ram_gb')} GB RAM, {m.get('os')}, "
        f"Python {m.get('python')}; load average at start {m.get('load_avg_at_start')}",
        f"- packages: {', '.join(f'{k} {v}' for k, v in m.get('packages', {}).items())}",
        f"- data: `{r.get('data')}`; embedding model all-MiniLM-L6-v2 (ONNX) for every system",
        f"- stage times (s): {r.get('stage_seconds')}"
        + ("  ·  **quick mode (subsets)**" if r.get("quick") else ""),
        *_stage_runs(r),
        "",
        "## Targets",
        "",
    ]
    rows = [
        [w, t, _measured(v, ok), {True: "met", False: "**missed**", None: ""}[ok]]
        for w, t, v, ok in targets(r)
    ]
    s.append(table(["measure", "target", "measured", ""], rows))
    s.append("")
    for png in pngs:
        s += [f"![{png}]({png})", ""]
    if "embedding" in r:
        e = r["embedding"]
        pe, ce = e.get("plugmem_onnx", {}), e.get("chroma_default", {})
        s += [
            "## Embedding speed (same ONNX model files)",
            "",
            table(
                ["embedder", "texts", "turns/s", "query p50 ms"],
                [
                    [
                        "plugmem (length-sorted batches)",
                        e.get("texts"),
                        pe.get("turns_per_s"),
                        _get(pe, "query", "p50_ms"),
                    ],
                    [
                        "Chroma default (pads to 256)",
                        ce.get("texts"),
                        ce.get("turns_per_s", ce.get("error")),
                        _get(ce, "query", "p50_ms"),
                    ],
                ],
            ),
            "",
        ]
    if "int8" in r:
        s += [*_int8(r["int8"]), ""]
    if "locomo" in r:
        s += [*_locomo(r["locomo"]), ""]
    if "answers" in r:
        s += [*_answers(r["answers"]), ""]
    if "longmemeval" in r:
        s += [*_lme(r["longmemeval"]), ""]
    s += [*_latency(r), ""]
    if "scaling" in r:
        s += [*_scaling(r["scaling"]), ""]
    if "scaling_server" in r:
        s += [
            *_scaling(r["scaling_server"], "Scaling on the server backend (PostgreSQL + Chroma server)"),
            "",
        ]
    if "checkpointer" in r:
        s += [*_checkpointer(r["checkpointer"]), ""]
    if "reliability" in r:
        s += [*_reliability(r["reliability"]), ""]
    if "agents" in r:
        s += [*_agents(r["agents"]), ""]
    if "qa" in r:
        s += [*_generic("End-to-end QA (answer + judge)", r["qa"]), ""]
    return "\n".join(s) + "\n"


def write(out: Path, results: dict[str, Any]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    pngs = plots(out, results)
    path = out / "REPORT.md"
    path.write_text(render(results, pngs))
    return path


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS
    print(write(folder, json.loads((folder / "results.json").read_text())))
