"""What the agent reads: is the answer in the rendered context, not only the evidence turn's id?

Evidence recall counts ids; a model reads text. This stage renders the context exactly as an
agent receives it (auto mode, 500 and 1,000 tokens) and checks whether the gold answer is in it
(`answer_in_context`: the normalised answer as a phrase, and the share of its words), beside
evidence recall, for plugmem now, plugmem at an earlier commit (`--before REF`) and BM25 alone,
in the same run on the same data. It also reports how often recall comes back empty: on
answerable questions (false empties) and on LoCoMo's adversarial questions (true empties).

plugmem runs in child processes through `recall_worker.py`, so "before" is the real code of
the earlier commit (a temporary git worktree on `PYTHONPATH`), not a reimplementation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks.baselines import BM25Baseline, pack, turn_costs, turn_line
from benchmarks.common import ROOT, onnx_model, progress
from benchmarks.data import Conversation
from benchmarks.metrics import answer_in_context, by_group, evidence_recall, mean, roll_up
from plugmem.recall.context import FOOTER, HEADER
from plugmem.tokens import TokenCounter

BUDGETS = (500, 1000)
WORKER = Path(__file__).with_name("recall_worker.py")


def _job(convs: Sequence[Conversation], *, lme: bool) -> dict[str, Any]:
    """The haystacks as the worker reads them; "now" is the question date, else a day after the last turn."""
    hays = []
    for c in convs:
        now = (
            c.questions[0].when if lme and c.questions[0].when else c.turns[-1].timestamp + timedelta(days=1)
        )
        hays.append(
            {
                "id": c.id,
                "now": now.isoformat(),
                "turns": [
                    {
                        "id": t.id,
                        "role": t.role,
                        "name": t.speaker,
                        "content": t.text,
                        "timestamp": t.timestamp.isoformat(),
                        "session": t.session,
                    }
                    for t in c.turns
                ],
                "questions": [{"id": q.id, "question": q.question} for q in c.questions],
            }
        )
    return {"mode": "auto", "budgets": list(BUDGETS), "haystacks": hays}


def run_worker(job: dict[str, Any], src: Path | None, label: str) -> dict[tuple[str, int], dict[str, Any]]:
    """Run the job in a child interpreter; `src` (a checkout) goes first on the import path."""
    with tempfile.TemporaryDirectory(prefix="plugmem-answers-") as tmp:
        job_file, out_file = Path(tmp) / "job.json", Path(tmp) / "out.jsonl"
        job_file.write_text(json.dumps(job))
        env = dict(os.environ)
        # the same model for every system, wherever this run found it
        env["PLUGMEM_EMBEDDING_MODEL_DIR"] = str(onnx_model().model_dir)
        if src is not None:
            env["PYTHONPATH"] = str(src) + os.pathsep + env.get("PYTHONPATH", "")
        print(f"   {label}: recall worker running ({len(job['haystacks'])} haystacks)", file=sys.stderr)
        subprocess.run([sys.executable, str(WORKER), str(job_file), str(out_file)], env=env, check=True)
        rows = [json.loads(line) for line in out_file.read_text().splitlines() if line]
    return {(r["qid"], r["budget"]): r for r in rows}


def checkout(ref: str, where: Path) -> Path:
    """A detached worktree of `ref` (the repository's own history), for the "before" system."""
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "--force", str(where), ref],
        check=True,
        capture_output=True,
    )
    return where


def remove_checkout(where: Path) -> None:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(where)], capture_output=True)


def bm25_contexts(convs: Sequence[Conversation]) -> dict[tuple[str, int], dict[str, Any]]:
    """BM25 alone, packed and rendered the way plugmem renders turns."""
    tokens = TokenCounter()
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for c in progress(convs, "answers: bm25"):
        b = BM25Baseline()
        b.index(c.turns)
        costs = turn_costs(c.turns, tokens)
        lines = {t.id: turn_line(t) for t in c.turns}
        for q in c.questions:
            ranking = b.rank(q.question, 200)
            for budget in BUDGETS:
                ids, used = pack(ranking, costs, budget, tokens)
                body = [lines[i] for i in ids]
                context = "\n".join([HEADER, *body, FOOTER]) if body else ""
                out[(q.id, budget)] = {"context": context, "source_ids": ids, "tokens": used, "tier": ""}
        b.close()
    return out


def score(
    convs: Sequence[Conversation], contexts: dict[tuple[str, int], dict[str, Any]], *, sessions: bool
) -> dict[str, Any]:
    """Per budget and category: exact answer, answer-word share, evidence recall, empties, tokens.

    `sessions`: LongMemEval's evidence is session ids, so retrieved turn ids roll up to sessions.
    """
    res: dict[str, Any] = {}
    for budget in BUDGETS:
        exact, share, ev, empty, toks = [], [], [], [], []
        for c in convs:
            parent = {t.id: t.session for t in c.turns}
            for q in c.questions:
                r = contexts[(q.id, budget)]
                got = roll_up(r["source_ids"], parent) if sessions else r["source_ids"]
                is_empty = 1.0 if not r["context"] else 0.0
                empty.append((q.category, is_empty))
                if q.category == "adversarial":
                    continue
                e, s = answer_in_context(q.answer, r["context"])
                exact.append((q.category, e))
                share.append((q.category, s))
                ev.append((q.category, evidence_recall(q.evidence_corrected or q.evidence, got)))
                toks.append(r["tokens"])
        res[str(budget)] = {
            "answer_exact": by_group(exact),
            "answer_share": by_group(share),
            "evidence_recall": by_group(ev),
            "empty": by_group(empty),
            "tokens_mean": round(mean(toks), 1),
        }
    return res


def run(
    locomo: Sequence[Conversation], lme: Sequence[Conversation], *, before: str | None = None
) -> dict[str, Any]:
    datasets = {"locomo": (locomo, False), "longmemeval": (lme, True)}
    out: dict[str, Any] = {
        "budgets": list(BUDGETS),
        "before": before,
        "locomo_questions": sum(len(c.questions) for c in locomo),
        "longmemeval_questions": sum(len(c.questions) for c in lme),
    }
    with tempfile.TemporaryDirectory(prefix="plugmem-before-") as tmp:
        src = checkout(before, Path(tmp) / "src") if before else None
        try:
            for name, (convs, lme_like) in datasets.items():
                if not convs:
                    continue
                job = _job(convs, lme=lme_like)
                systems = {"plugmem": run_worker(job, ROOT, f"{name} plugmem")}
                if src is not None:
                    systems["plugmem-before"] = run_worker(job, src, f"{name} plugmem@{before}")
                systems["bm25"] = bm25_contexts(convs)
                out[name] = {sys_: score(convs, ctx, sessions=lme_like) for sys_, ctx in systems.items()}
                out[name]["examples"] = _examples(convs, systems)
        finally:
            if src is not None:
                remove_checkout(src)
    return out


def _examples(
    convs: Sequence[Conversation], systems: dict[str, dict[tuple[str, int], dict[str, Any]]], n: int = 3
) -> list[dict[str, Any]]:
    """A few questions with each system's 500-token context, to read as the model would."""
    picked = [q for c in convs for q in c.questions if q.category != "adversarial"][:: max(1, 97)][:n]
    return [
        {
            "question": q.question,
            "answer": q.answer,
            **{s: ctx[(q.id, 500)]["context"] for s, ctx in systems.items()},
        }
        for q in picked
    ]
