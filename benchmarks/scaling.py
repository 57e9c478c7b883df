"""Scaling: how ingest, disk, memory and recall behave as one namespace grows.

One namespace holds LoCoMo conv-26's real turns plus filler up to N messages. The filler
is real chat text (LongMemEval-S haystacks, user and assistant turns, each text once so
the embedding cache cannot make it free) in its own sessions, moved into 2021–2022 so it
all predates conv-26. conv-26's questions are then asked against the whole namespace:
evidence recall shows whether the right turns still surface, latency how recall scales.
The BM25 and dense baselines index the same N turns for comparison.

`--backend server` runs the same namespace on the server backend: a fresh PostgreSQL cluster and
Chroma server per size (benchmarks/servers.py), whose memory and disk are reported beside the
client process's. `--repeat-filler` lets sizes beyond LongMemEval-S's ~106k distinct turn texts
reuse them (new ids and sessions, same texts): plugmem's embedding cache, kept in the database,
then embeds each text once, so such a run does not measure the embedding cost of its size.

Run alone: `python -m benchmarks.scaling [--quick] [--sizes 1000,10000] [--no-baselines]
[--turns-only] [--backend embedded|server] [--precision int8] [--repeat-filler [--filler-distinct N]]
[--embedding-pool FILE] [--ingest-budget SECONDS]` (see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import groupby
from pathlib import Path
from typing import Any, Literal, Protocol

import chromadb
import numpy as np

from benchmarks.baselines import BM25Baseline, DenseBaseline, pack, turn_costs
from benchmarks.common import (
    RESULTS,
    WARMUP_QUERY,
    Stopwatch,
    cold_query,
    fresh_process,
    host_yardstick,
    machine,
    onnx_model,
    peak_rss_mb,
    progress,
    rss_mb,
    shared_embeddings,
)
from benchmarks.data import Conversation, Question, Turn, _lme_date, data_dir, load_locomo
from benchmarks.embedding_pool import embedding_pool, vectors_for
from benchmarks.metrics import by_group, evidence_recall, latency_summary, mean
from plugmem import MemoryPolicy, PlugMem
from plugmem.index.embeddings import OnnxMiniLM, Precision
from plugmem.policy import RecallMode
from plugmem.tokens import TokenCounter

DEFAULT_SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (1_000, 3_000)
QUICK_QUESTIONS = 40
BUDGET = 1000
MODES: tuple[RecallMode, ...] = ("fast", "auto")
RANK_DEPTH = 50  # candidates handed to `pack`; far more than 1000 tokens of turns
FILLER_START = datetime(2021, 1, 1, tzinfo=UTC)
FILLER_END = datetime(2022, 12, 31, tzinfo=UTC)
NAMESPACE = ("bench", "scaling")
STAT_FIELDS = ("steps", "sessions", "events", "propositions", "prescriptions", "entities", "summaries")
# filler is cut to the length of an ordinary chat turn: LongMemEval's assistant answers run to
# thousands of characters, and a 100k-message run of those would measure the embedder, not recall
FILLER_MAX_CHARS = 300
# the ingest thread at normal priority: no recall competes with it here, and at the default (19) a
# shared machine's other work (compilers, other benchmarks) starves it and the rate measures them
INGEST_NICENESS = 0
CHECK_EVERY = 5_000  # messages between two checks of --ingest-budget (each waits for the pipeline)
BASELINE_MAX = 10_000  # the baselines re-embed every turn; above this they would dominate the run

# (session id, original session date text, turn index, role, text)
RawTurn = tuple[str, str, int, str, str]
BackendName = Literal["embedded", "server"]


def _read_filler(folder: str, n: int) -> list[RawTurn]:
    """The first `n` distinct turn texts of the LongMemEval-S haystacks, in file order.

    Runs in a child process: the parsed file is ~1 GB of Python objects and would
    otherwise dominate the peak RSS this benchmark reports.
    """
    with gzip.open(Path(folder) / "longmemeval_s_dev.json.gz", "rt") as fh:
        rows = json.load(fh)
    seen_sessions: set[str] = set()
    seen_texts: set[str] = set()
    out: list[RawTurn] = []
    for row in rows:
        for sid, date, session in zip(
            row["haystack_session_ids"], row["haystack_dates"], row["haystack_sessions"], strict=True
        ):
            if sid in seen_sessions or len(out) >= n:
                continue
            seen_sessions.add(sid)
            for i, t in enumerate(session):
                text = str(t.get("content") or "").strip()
                if text and text not in seen_texts and len(out) < n:
                    seen_texts.add(text)
                    out.append((sid, date, i, str(t["role"]), text))
    return out


def filler_turns(
    n: int, folder: Path | None = None, *, repeat: bool = False, distinct: int | None = None
) -> list[Turn]:
    """`n` filler turns with distinct texts in file order (so a prefix is the same filler at any size).

    Timestamps are the original LongMemEval dates; `schedule` moves them before conv-26.
    `repeat` reuses the texts, pass after pass, once the distinct ones run out (each pass in
    sessions of its own, `~2`, `~3`... appended to the ids); otherwise running out is an error.
    `distinct` caps the distinct texts (with `repeat`: a smaller pool, reused more often).
    """
    if n <= 0:
        return []
    # in a child process: the parsed file is ~1 GB of Python objects
    raw = fresh_process(_read_filler, str(folder or data_dir()), min(n, distinct or n))
    if len(raw) < n and not repeat:
        raise ValueError(f"LongMemEval-S has only {len(raw)} distinct turn texts; {n} filler turns requested")
    cut = {text: _cut(text) for *_, text in raw}  # one string per text, however often it is reused
    return [
        Turn(
            id=f"filler:{sid}:{i}",
            speaker=role,
            role="user" if role == "user" else "assistant",
            text=cut[text],
            timestamp=_lme_date(date),
            session=f"filler-{sid}",
        )
        for sid, date, i, role, text in repeat_pool(raw, n)
    ]


def repeat_pool(raw: Sequence[RawTurn], n: int) -> list[RawTurn]:
    """The first `n` of `raw`, passing over it again as often as needed; pass k's sessions end in `~k`."""
    if not raw:
        return []
    passes = -(-n // len(raw))
    return [
        (f"{sid}~{k + 1}" if k else sid, date, i, role, text)
        for k in range(passes)
        for sid, date, i, role, text in raw
    ][:n]


def _cut(text: str) -> str:
    if len(text) <= FILLER_MAX_CHARS:
        return text
    return text[:FILLER_MAX_CHARS].rsplit(" ", 1)[0] + " …"


def schedule(turns: Sequence[Turn], start: datetime = FILLER_START, end: datetime = FILLER_END) -> list[Turn]:
    """Whole sessions in their original date order, each given its own evenly spaced slot in [start, end).

    Haystacks of different questions overlap in time; sorting their turns by time would interleave
    sessions. Here sessions never overlap: turn k of a session is k minutes after the slot starts.
    """
    sessions = [list(g) for _, g in groupby(turns, key=lambda t: t.session)]
    order = sorted(range(len(sessions)), key=lambda k: (sessions[k][0].timestamp, k))
    slot = (end - start) / max(1, len(sessions))
    if sessions and slot < timedelta(minutes=max(len(s) for s in sessions)):
        raise ValueError(f"{len(sessions)} sessions do not fit between {start:%Y-%m-%d} and {end:%Y-%m-%d}")
    return [
        replace(t, timestamp=start + slot * rank + timedelta(minutes=m))
        for rank, k in enumerate(order)
        for m, t in enumerate(sessions[k])
    ]


def fitting_start(
    turns: Sequence[Turn], start: datetime = FILLER_START, end: datetime = FILLER_END
) -> datetime:
    """`start`, or an earlier one when the filler's sessions would not fit before `end` (a 1M-message run).

    Smaller sizes keep the 2021–2022 window, so their timestamps do not change.
    """
    sessions = [len(list(g)) for _, g in groupby(turns, key=lambda t: t.session)]
    if not sessions:
        return start
    need = timedelta(minutes=max(sessions)) * len(sessions) * 1.01
    return min(start, end - need)


def pick_questions(questions: Sequence[Question], n: int | None) -> list[Question]:
    """Every question, or `n` spread evenly over the conversation (not just its start)."""
    if n is None or n >= len(questions):
        return list(questions)
    return [questions[i * len(questions) // n] for i in range(n)]


def dir_mb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20, 2)


class Backend(Protocol):
    """Where one size's memory lives: a folder (embedded) or a PostgreSQL + Chroma server pair."""

    def open(self, policy: MemoryPolicy, model: Any) -> PlugMem: ...

    def disk_mb(self) -> float: ...

    def servers(self) -> dict[str, Any]:
        """The servers' memory and disk now ({} for the embedded backend)."""
        ...


class EmbeddedBackend:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def open(self, policy: MemoryPolicy, model: Any) -> PlugMem:
        return PlugMem.open(self.folder / "mem", embeddings=model, policy=policy)

    def disk_mb(self) -> float:
        return dir_mb(self.folder)

    def servers(self) -> dict[str, Any]:
        return {}


class ServerBackend:
    def __init__(self, servers: Any) -> None:
        self.s = servers  # benchmarks.servers.Servers

    def open(self, policy: MemoryPolicy, model: Any) -> PlugMem:
        return PlugMem.open(self.s.url, embeddings=model, policy=policy, vectors=self.s.vectors)

    def disk_mb(self) -> float:
        return float(self.s.disk_mb()["total"])

    def servers(self) -> dict[str, Any]:
        return {"memory": self.s.memory(), "disk_mb": self.s.disk_mb()}


@contextmanager
def open_backend(name: BackendName, keep: Path | None = None) -> Iterator[Backend]:
    """A fresh, empty place for one size's memory, deleted afterwards unless it is `keep` (embedded)."""
    if name == "server":
        from benchmarks.servers import servers

        with servers() as s:
            yield ServerBackend(s)
        return
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=False)  # never measure on top of an older memory
        yield EmbeddedBackend(keep)
        return
    tmp = Path(tempfile.mkdtemp(prefix="plugmem-scaling-"))
    try:
        yield EmbeddedBackend(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _seed(mem: PlugMem, vectors: dict[str, np.ndarray]) -> dict[str, float]:
    """Put precomputed vectors in the memory's embedding cache, as `plugmem import` does with an export's."""
    if mem.embeddings is None:
        return {}
    clock = Stopwatch()
    mem.store.save_vectors(mem.embeddings.model_id, vectors)
    return {"vectors": len(vectors), "seconds": round(clock.s, 2)}


def _sessions(turns: Sequence[Turn]) -> list[list[Turn]]:
    return [list(g) for _, g in groupby(turns, key=lambda t: t.session)]


def _ingest(
    mem: PlugMem, turns: Sequence[Turn], desc: str, *, budget_s: float | None = None, keep: int = 0
) -> dict[str, Any]:
    """One `add` per session in time order, then `flush`: the full pipeline, timed end to end.

    With `budget_s`, the filler stops once ingest has taken that long (checked after a flush every
    CHECK_EVERY messages) and the last `keep` turns (conv-26's) are added anyway: a size that does
    not fit in the time is measured at the size it reached, and says so (`stopped_early`).
    """
    embedded = mem.embeddings.embedded if mem.embeddings is not None else 0
    clock = Stopwatch()
    add_s = 0.0
    added = since_check = 0
    head, tail = _sessions(turns[: len(turns) - keep]), _sessions(turns[len(turns) - keep :])
    for batch in progress(head, desc):
        if budget_s is not None and since_check >= CHECK_EVERY:
            since_check = 0
            mem.flush()
            if clock.s > budget_s:
                break
        t0 = Stopwatch()
        mem.add([t.message() for t in batch], namespace=NAMESPACE, session_id=batch[0].session)
        add_s += t0.s
        added += len(batch)
        since_check += len(batch)
    for batch in tail:
        t0 = Stopwatch()
        mem.add([t.message() for t in batch], namespace=NAMESPACE, session_id=batch[0].session)
        add_s += t0.s
        added += len(batch)
    add_total = clock.s
    mem.flush()
    total = clock.s
    return {
        "messages": added,
        "stopped_early": added < len(turns),
        "seconds": round(total, 2),
        "messages_per_s": round(added / total, 1),
        "add_seconds": round(add_total, 2),
        "add_ms_per_message": round(add_s * 1000 / added, 3),
        "flush_seconds": round(total - add_total, 2),
        # texts the model embedded during ingest (all but conv-26's when the cache was seeded)
        "texts_embedded": (mem.embeddings.embedded - embedded) if mem.embeddings is not None else 0,
    }


def measure_recall(mem: PlugMem, questions: Sequence[Question], label: str) -> dict[str, Any]:
    """Both modes over every question at 1000 tokens: evidence recall, engine and wall latency."""
    clock = Stopwatch()
    mem.recall(WARMUP_QUERY, namespace=NAMESPACE, budget_tokens=BUDGET, mode="fast")
    out: dict[str, Any] = {"cold_recall_ms": round(clock.ms, 1)}
    for mode in MODES:
        engine_ms: list[float] = []
        wall_ms: list[float] = []
        rows: list[tuple[str, float]] = []
        corrected: list[float] = []
        tokens: list[int] = []
        tiers: list[str] = []
        for q in progress(questions, f"{label} recall ({mode})"):
            cold_query(mem.embeddings)
            clock = Stopwatch()
            r = mem.recall(q.question, namespace=NAMESPACE, budget_tokens=BUDGET, mode=mode)
            wall_ms.append(clock.ms)
            engine_ms.append(r.latency_ms)
            ids = r.source_ids
            rows.append((q.category, evidence_recall(q.evidence, ids)))
            corrected.append(evidence_recall(q.evidence_corrected, ids))
            tokens.append(r.tokens)
            tiers.append(r.tier)
        out[mode] = {
            "evidence_recall": by_group(rows)["all"],
            "evidence_recall_by_category": by_group(rows),
            "evidence_recall_corrected": round(mean(corrected), 4),
            "tokens_mean": round(mean(tokens), 1),
            "tiers": {t: tiers.count(t) for t in sorted(set(tiers))},
            "latency": latency_summary(engine_ms),
            "wall_latency": latency_summary(wall_ms),
        }
    return out


def _baselines(
    turns: Sequence[Turn], questions: Sequence[Question], model: Any, label: str
) -> dict[str, Any]:
    """BM25 and dense (Chroma, same MiniLM vectors, cold cache) over the same turns, 1000-token packs."""
    tokens = TokenCounter()
    costs = turn_costs(turns, tokens)
    client = chromadb.EphemeralClient()
    out: dict[str, Any] = {}
    for b in (BM25Baseline(), DenseBaseline(client, shared_embeddings(model))):
        clock = Stopwatch()
        b.index(turns)
        index_s = clock.s
        ms: list[float] = []
        scores: list[float] = []
        used: list[int] = []
        for q in progress(questions, f"{label} {b.name}"):
            clock = Stopwatch()
            ranking = b.rank(q.question, RANK_DEPTH)
            ms.append(clock.ms)
            ids, n_tokens = pack(ranking, costs, BUDGET, tokens)
            scores.append(evidence_recall(q.evidence, ids))
            used.append(n_tokens)
        b.close()
        out[b.name] = {
            "index_seconds": round(index_s, 2),
            "messages_per_s": round(len(turns) / index_s, 1) if index_s else 0.0,
            "evidence_recall": round(mean(scores), 4),
            "tokens_mean": round(mean(used), 1),
            "latency": latency_summary(ms),
        }
    return out


def run_size(
    n: int,
    conv: Conversation,
    filler: Sequence[Turn],
    questions: Sequence[Question],
    model: Any,
    *,
    baselines: bool,
    structure: bool = True,
    backend: BackendName = "embedded",
    precision: Precision = "fp32",
    pool: dict[str, np.ndarray] | None = None,
    budget_s: float | None = None,
    keep: Path | None = None,
) -> dict[str, Any]:
    """One fresh memory of `n` messages: filler sessions first (they are older), then conv-26.

    The filler is the first `n - 419` distinct texts in file order, so every size extends the smaller ones.
    With `pool` (text hash → vector) the filler's vectors are put in the embedding cache before ingest.
    """
    need = n - len(conv.turns)
    if need < 0:
        raise ValueError(f"size {n} is below conv-26's own {len(conv.turns)} turns")
    turns = [*schedule(filler[:need], start=fitting_start(filler[:need])), *conv.turns]
    label = f"N={n:,}"
    res: dict[str, Any] = {
        "messages": n,
        "conv_turns": len(conv.turns),
        "filler_turns": need,
        "chars_per_message": round(mean(len(t.text) for t in turns), 1),
    }
    res["rss_before_mb"] = rss_mb()
    res["backend"] = backend
    with open_backend(backend, keep / str(n) if keep is not None else None) as where:
        policy = MemoryPolicy(
            extract_knowledge=structure, embedding_precision=precision, ingest_niceness=INGEST_NICENESS
        )
        mem = where.open(policy, model)
        try:
            if pool is not None:
                res["seeded_cache"] = _seed(mem, vectors_for(filler[:need], pool))
            res["ingest"] = _ingest(mem, turns, f"{label} ingest", budget_s=budget_s, keep=len(conv.turns))
            if res["ingest"]["stopped_early"]:  # measured at the size reached, not at `n`
                res["messages"] = res["ingest"]["messages"]
                res["filler_turns"] = res["messages"] - len(conv.turns)
            res["disk_mb"] = where.disk_mb()
            res["rss_mb"] = rss_mb()
            res["peak_rss_mb"] = peak_rss_mb()
            res["servers_after_ingest"] = where.servers()
            # other work on a shared machine skews every timing: record how busy it was
            res["load_avg_after_ingest"] = [round(x, 2) for x in os.getloadavg()]
            stats = mem.stats(NAMESPACE)
            res["stats"] = {k: getattr(stats, k) for k in STAT_FIELDS}
            res["recall"] = measure_recall(mem, questions, label)
            res["rss_after_recall_mb"] = rss_mb()
            res["servers_after_recall"] = where.servers()
            res["load_avg_after_recall"] = [round(x, 2) for x in os.getloadavg()]
        finally:
            mem.close()
        res["disk_mb_closed"] = where.disk_mb()
    if baselines and n <= BASELINE_MAX:
        res["baselines"] = _baselines(turns, questions, model, label)
    res["peak_rss_mb_end"] = peak_rss_mb()
    return res


def run(
    *,
    sizes: Sequence[int] = DEFAULT_SIZES,
    quick: bool = False,
    baselines: bool = True,
    data: Path | None = None,
    structure: bool = True,
    backend: BackendName = "embedded",
    precision: Precision = "fp32",
    repeat_filler: bool = False,
    pool_file: Path | None = None,
    filler_distinct: int | None = None,
    budget_s: float | None = None,
    keep: Path | None = None,
) -> dict[str, Any]:
    """Every size in increasing order (peak RSS is per process, so it only grows).

    `quick` asks 40 questions instead of all, and swaps the default sizes for 1k and 3k.
    """
    if quick and tuple(sizes) == DEFAULT_SIZES:
        sizes = QUICK_SIZES
    sizes = sorted(set(sizes))
    folder = data or data_dir()
    conv = load_locomo(folder)[0]
    questions = pick_questions(conv.questions, QUICK_QUESTIONS if quick else None)
    filler = filler_turns(
        max(sizes) - len(conv.turns), folder, repeat=repeat_filler, distinct=filler_distinct
    )
    model = onnx_model() if precision == "fp32" else OnnxMiniLM(onnx_model().model_dir, precision=precision)
    out: dict[str, Any] = {
        "sizes": sizes,
        "conversation": conv.id,
        "questions": len(questions),
        "budget_tokens": BUDGET,
        "quick": quick,
        "pipeline": "full (events, knowledge, summaries)"
        if structure
        else "turns only (extract_knowledge=False)",
        "filler_max_chars": FILLER_MAX_CHARS,
        "backend": backend,
        "embedding_precision": precision,
        "filler_distinct_texts": len({t.text for t in filler}),
    }
    pool = None
    if pool_file is not None:
        pool, out["embedding_pool"] = embedding_pool(filler, model, pool_file)
    for n in progress(sizes, "scaling"):
        out[str(n)] = run_size(
            n,
            conv,
            filler,
            questions,
            model,
            baselines=baselines,
            structure=structure,
            backend=backend,
            precision=precision,
            pool=pool,
            budget_s=budget_s,
            keep=keep,
        )
    return out


def estimate_seconds(result: dict[str, Any], n: int) -> dict[str, float]:
    """Extrapolate a size's cost from the two largest measured ones (linear in messages).

    Ingest should be close to linear; recall grows more slowly, so this errs high.
    """
    sizes = [s for s in result["sizes"] if str(s) in result]
    if len(sizes) < 2:
        raise ValueError("need two measured sizes to extrapolate")
    a, b = sizes[-2], sizes[-1]

    def total(s: int) -> dict[str, float]:
        r = result[str(s)]
        q = result["questions"]
        recall_s = sum(r["recall"][m]["wall_latency"]["mean_ms"] * q for m in MODES) / 1000
        base = sum(
            v["index_seconds"] + v["latency"]["mean_ms"] * q / 1000 for v in r.get("baselines", {}).values()
        )
        return {"ingest": r["ingest"]["seconds"], "recall": recall_s, "baselines": base}

    ta, tb = total(a), total(b)
    # never below the larger measurement: noise (a busy machine at the smaller size) can make a slope negative
    est = {k: round(max(tb[k], tb[k] + (tb[k] - ta[k]) * (n - b) / (b - a)), 1) for k in ta}
    est["total"] = round(sum(est.values()), 1)
    return est


def table(result: dict[str, Any]) -> str:
    """A compact text table: one row per size."""
    head = (
        f"{'N':>8} {'ingest s':>9} {'msg/s':>7} {'disk MB':>8} {'RSS MB':>7} {'peak MB':>8} {'srv MB':>7} "
        f"{'fast R':>7} {'p50':>6} {'p95':>6} {'auto R':>7} {'p50':>6} {'p95':>6} "
        f"{'bm25 R':>7} {'p50':>6} {'dense R':>8} {'p50':>6}"
    )
    lines = [head]
    for n in result["sizes"]:
        r = result.get(str(n))
        if r is None:
            continue
        f, a = r["recall"]["fast"], r["recall"]["auto"]
        b = r.get("baselines", {})
        bm, de = b.get("bm25"), b.get("dense")
        lines.append(
            f"{r['messages']:>8,} {r['ingest']['seconds']:>9.1f} {r['ingest']['messages_per_s']:>7.1f} {r['disk_mb']:>8.1f} "
            f"{r['rss_mb']:>7.0f} {r['peak_rss_mb']:>8.0f} {_server_mb(r):>7} "
            f"{f['evidence_recall']:>7.3f} {f['wall_latency']['p50_ms']:>6.1f} {f['wall_latency']['p95_ms']:>6.1f} "
            f"{a['evidence_recall']:>7.3f} {a['wall_latency']['p50_ms']:>6.1f} {a['wall_latency']['p95_ms']:>6.1f} "
            + (
                f"{bm['evidence_recall']:>7.3f} {bm['latency']['p50_ms']:>6.1f} "
                if bm
                else f"{'-':>7} {'-':>6} "
            )
            + (
                f"{de['evidence_recall']:>8.3f} {de['latency']['p50_ms']:>6.1f}"
                if de
                else f"{'-':>8} {'-':>6}"
            )
        )
    lines.append(
        "(R = evidence recall of conv-26's questions at 1000 tokens; p50/p95 = wall ms per recall / rank;"
        " srv MB = PostgreSQL PSS + Chroma server RSS after recall)"
    )
    return "\n".join(lines)


def server_mb(r: dict[str, Any]) -> float | None:
    """The servers' resident memory after recall: PostgreSQL's PSS (shared buffers once) + Chroma's RSS."""
    mem = r.get("servers_after_recall", {}).get("memory")
    if not mem:
        return None
    return round(mem["postgres"]["pss_mb"] + mem["chroma"]["rss_mb"], 1)


def _server_mb(r: dict[str, Any]) -> str:
    mb = server_mb(r)
    return "-" if mb is None else f"{mb:.0f}"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.scaling", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="sizes 1000,3000 (unless --sizes) and 40 questions")
    p.add_argument("--sizes", help="comma-separated message counts, e.g. 1000,10000")
    p.add_argument("--no-baselines", action="store_true", help="skip the BM25 and dense baselines")
    p.add_argument("--data", help="folder with the benchmark data (default ../shared/data)")
    p.add_argument(
        "--turns-only", action="store_true", help="extract_knowledge=False (no knowledge, summaries)"
    )
    p.add_argument(
        "--backend",
        choices=("embedded", "server"),
        default="embedded",
        help="server: a throwaway PostgreSQL + Chroma server per size",
    )
    p.add_argument("--precision", choices=("fp32", "int8"), default="fp32", help="embedding model weights")
    p.add_argument("--int8", action="store_true", help="the same as --precision int8")
    p.add_argument(
        "--embedding-pool",
        help="an .npz of the filler's vectors (made if missing): each memory's embedding cache is seeded "
        "from it, so ingest does not embed filler (see benchmarks/embedding_pool.py)",
    )
    p.add_argument(
        "--repeat-filler",
        action="store_true",
        help="reuse filler texts beyond the ~106k distinct ones (the embedding cache then makes repeats free)",
    )
    p.add_argument(
        "--ingest-budget",
        type=float,
        help="seconds: stop adding filler after this long, add conv-26, measure at the size reached",
    )
    p.add_argument(
        "--filler-distinct",
        type=int,
        help="with --repeat-filler: use only the first N distinct texts, reused",
    )
    p.add_argument(
        "--keep",
        help="embedded: keep each size's memory under KEEP/<size> (for python -m benchmarks.scaling_recall)",
    )
    p.add_argument("--out", default=str(RESULTS / "scaling.json"), help="where to write the JSON result")
    p.add_argument("--estimate", type=int, default=100_000, help="extrapolate the cost of this size")
    args = p.parse_args(argv)
    sizes: Sequence[int] = DEFAULT_SIZES
    if args.sizes:
        sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    info = machine()
    info["command"] = " ".join(
        ["python -m benchmarks.scaling", *(argv if argv is not None else sys.argv[1:])]
    )
    info["yardstick_int8_texts_per_cpu_s"] = host_yardstick()
    clock = Stopwatch()
    result = run(
        sizes=sizes,
        quick=args.quick,
        baselines=not args.no_baselines,
        data=data_dir(args.data),
        structure=not args.turns_only,
        backend=args.backend,
        precision="int8" if args.int8 else args.precision,
        repeat_filler=args.repeat_filler,
        pool_file=Path(args.embedding_pool) if args.embedding_pool else None,
        filler_distinct=args.filler_distinct,
        budget_s=args.ingest_budget,
        keep=Path(args.keep) if args.keep else None,
    )
    result["wall_seconds"] = round(clock.s, 1)
    result["machine"] = info
    measured = [s for s in result["sizes"] if str(s) in result]
    if len(measured) >= 2 and args.estimate > max(measured):
        result["estimate"] = {str(args.estimate): estimate_seconds(result, args.estimate)}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"wall time {result['wall_seconds']:.0f} s; written to {out}")
    if "estimate" in result:
        print(f"extrapolated seconds for N={args.estimate:,}: {result['estimate'][str(args.estimate)]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
