"""End-to-end QA on LoCoMo: plugmem's context → an answer model → a judge model.

Retrieval metrics say whether the evidence reached the context; this says whether an
LLM can answer from it. It needs a chat model, so it only runs when one is configured
(`--llm package.module:factory`, a callable returning a LangChain `BaseChatModel`, or an
`init_chat_model` spec such as `openai:gpt-4o-mini`). From `python -m benchmarks --llm …` the
same model also extracts knowledge at ingest and plans the deep tier (`run_with_memory_llm`),
and the result says what that cost per 1,000 messages.
The judge (the answer model unless `--judge` is given) replies CORRECT or WRONG; any
other reply counts as wrong and is reported separately as unparseable.

Run alone: `python -m benchmarks.qa --llm my_models:make_chat [--judge my_models:judge] [--limit N] [--quick]
[--memory-llm] [--sessions N]`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage

from benchmarks.common import RESULTS, Stopwatch, machine, onnx_model, progress
from benchmarks.data import Conversation, data_dir, load_locomo
from benchmarks.metrics import by_group, evidence_recall, mean
from benchmarks.plug import ingest, namespace
from plugmem import LLMUnavailableError, MemoryPolicy, PlugMem
from plugmem.llm_roles import init_model
from plugmem.policy import RecallMode
from plugmem.tokens import TokenCounter

Verdict = Literal["CORRECT", "WRONG"]
MAX_CONSECUTIVE_ERRORS = 5
N_EXAMPLES = 4  # of each outcome (correct / not correct)

ANSWER_PROMPT = """You answer questions about a long conversation between two people, using only the memory below.

Memory:
{context}

Question: {question}

Reply with a short answer only (a few words: a name, a date, a phrase). Use the dates in the memory \
to resolve relative times. If the memory does not contain the answer, reply "unknown"."""

JUDGE_PROMPT = """You grade an answer to a question about a conversation.

Question: {question}
Gold answer: {gold}
Candidate answer: {answer}

The candidate is CORRECT if it states the same facts as the gold answer (wording, date formats \
and extra detail may differ); it is WRONG if it contradicts, misses or only vaguely touches the gold answer.
Reply with exactly one word: CORRECT or WRONG."""


def _factory(spec: str, mod_name: str, attr: str) -> BaseChatModel:
    """Call `mod_name:attr` (a factory, or a ready-made model instance)."""
    obj: Any = importlib.import_module(mod_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    if isinstance(obj, BaseChatModel):  # a ready-made instance is fine too
        return obj
    if not callable(obj):
        raise TypeError(f"LLM spec {spec!r}: {attr!r} is a {type(obj).__name__}, not a callable factory")
    model = obj()
    if not isinstance(model, BaseChatModel):
        raise TypeError(
            f"LLM spec {spec!r}: {attr}() returned a {type(model).__name__}, "
            "expected a langchain_core BaseChatModel (e.g. ChatOpenAI(...))"
        )
    return model


def load_llm(spec: str) -> BaseChatModel:
    """A chat model from `package.module:factory` or from an `init_chat_model` spec ("openai:gpt-4o-mini").

    An importable module with that attribute wins; otherwise the spec goes to `init_chat_model`.
    When neither works, the error names the spec and what each reading found, since this is
    what a user types on the command line.
    """
    spec = spec.strip() if isinstance(spec, str) else ""
    forms = "'package.module:factory' or an init_chat_model spec such as 'openai:gpt-4o-mini'"
    left, _, right = spec.partition(":")
    mod_name, attr = left.strip(), right.strip()
    if spec.count(":") == 1 and (not mod_name or not attr):
        raise ValueError(f"LLM spec must look like {forms} (both parts non-empty), got {spec!r}")
    if not spec:
        raise ValueError(f"LLM spec must look like {forms}, got {spec!r}")
    import_error: Exception | None = None
    if spec.count(":") == 1:
        try:
            module = importlib.import_module(mod_name)
        except ImportError as exc:
            import_error = exc
        else:
            if _has_path(module, attr):
                return _factory(spec, mod_name, attr)
            import_error = AttributeError(f"module {mod_name!r} has no attribute {attr!r}")
    try:
        return init_model(spec)
    except LLMUnavailableError as exc:
        if isinstance(import_error, AttributeError):
            raise ImportError(
                f"LLM spec {spec!r}: {import_error}; as an init_chat_model spec: {exc}"
            ) from None
        if import_error is not None:
            raise ImportError(
                f"LLM spec {spec!r}: cannot import module {mod_name!r} ({import_error}); is it on PYTHONPATH? "
                f"As an init_chat_model spec: {exc}"
            ) from None
        raise ValueError(f"LLM spec must look like {forms}; {spec!r} failed: {exc}") from None


def _has_path(obj: Any, dotted: str) -> bool:
    for part in dotted.split("."):
        if not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return True


def message_text(msg: BaseMessage) -> str:
    """The text of a reply, whether `content` is a string or a list of content blocks."""
    content = msg.content
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and isinstance(block.get("text"), str):
            parts.append(block["text"])
    return "".join(parts)


_WORD = re.compile(r"[A-Z]+")


def parse_verdict(text: str) -> Verdict | None:
    """CORRECT / WRONG from a judge reply, tolerant of case, punctuation and markdown.

    The first word decides when it is a verdict ("Correct.", "**WRONG** because…"); otherwise
    exactly one of the labels must appear. "INCORRECT" and "NOT CORRECT" mean WRONG. None when unclear.
    """
    words = _WORD.findall(text.upper())
    if not words:
        return None
    if words[0] == "CORRECT":
        return "CORRECT"
    if words[0] in ("WRONG", "INCORRECT"):
        return "WRONG"
    negated = any(a == "NOT" and b == "CORRECT" for a, b in pairwise(words))
    has_correct = "CORRECT" in words and not negated
    has_wrong = "WRONG" in words or "INCORRECT" in words or negated
    if has_correct and not has_wrong:
        return "CORRECT"
    if has_wrong and not has_correct:
        return "WRONG"
    return None


@dataclass(slots=True)
class Usage:
    """Calls and tokens of one role (answer or judge); `estimated` counts calls without usage_metadata."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    estimated: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.input_tokens + self.output_tokens,
            "calls_without_usage_metadata": self.estimated,
            "errors": self.errors,
            "error_samples": self.error_samples,
        }


class _Caller:
    """Calls one chat model, tallies usage, and gives up after repeated failures (a dead endpoint)."""

    def __init__(self, llm: BaseChatModel, tokens: TokenCounter) -> None:
        self.llm = llm
        self.tokens = tokens
        self.usage = Usage()
        self._consecutive_errors = 0

    def __call__(self, prompt: str) -> str | None:
        self.usage.calls += 1
        try:
            reply = self.llm.invoke([HumanMessage(content=prompt)])
        except Exception as exc:  # one bad call should not end a long run; many in a row should
            self.usage.errors += 1
            self._consecutive_errors += 1
            if len(self.usage.error_samples) < 3:
                self.usage.error_samples.append(f"{type(exc).__name__}: {exc}"[:300])
            if self._consecutive_errors >= MAX_CONSECUTIVE_ERRORS:
                raise RuntimeError(
                    f"{MAX_CONSECUTIVE_ERRORS} LLM calls in a row failed; last: {type(exc).__name__}: {exc}"
                ) from exc
            return None
        self._consecutive_errors = 0
        text = message_text(reply)
        meta = getattr(reply, "usage_metadata", None)
        if meta:
            self.usage.input_tokens += int(meta.get("input_tokens", 0))
            self.usage.output_tokens += int(meta.get("output_tokens", 0))
        else:
            self.usage.estimated += 1
            self.usage.input_tokens += self.tokens.count(prompt)
            self.usage.output_tokens += self.tokens.count(text)
        return text


def run(
    convs: Sequence[Conversation],
    mem: PlugMem,
    answer_llm: BaseChatModel,
    judge_llm: BaseChatModel | None = None,
    *,
    budget_tokens: int = 1000,
    mode: RecallMode = "auto",
    limit: int | None = None,
) -> dict[str, Any]:
    """Answer and judge every question (or the first `limit`) of already-ingested conversations.

    `mem` must hold each conversation under `benchmarks.plug.namespace(conv)`.
    """
    tokens = mem.tokens
    answer = _Caller(answer_llm, tokens)
    judge = answer if judge_llm is None or judge_llm is answer_llm else _Caller(judge_llm, tokens)
    jobs = [(c, q) for c in convs for q in c.questions][:limit]
    rows: list[dict[str, Any]] = []
    recall_llm_calls = 0
    recall_llm_tokens = 0
    clock = Stopwatch()
    for conv, q in progress(jobs, "qa", total=len(jobs)):
        r = mem.recall(q.question, namespace=namespace(conv), budget_tokens=budget_tokens, mode=mode)
        recall_llm_calls += r.llm_calls
        recall_llm_tokens += r.llm_tokens
        reply = answer(ANSWER_PROMPT.format(context=r.context, question=q.question))
        candidate = (reply or "").strip()
        judged: str | None = None
        if reply is not None:
            judged = judge(JUDGE_PROMPT.format(question=q.question, gold=q.answer, answer=candidate))
        # a failed call (answer or judge) is an ERROR; a reply that is neither label is UNPARSEABLE
        parsed = parse_verdict(judged) if judged is not None else None
        verdict = parsed or ("ERROR" if judged is None else "UNPARSEABLE")
        rows.append(
            {
                "id": q.id,
                "category": q.category,
                "question": q.question,
                "gold": q.answer,
                "answer": candidate,
                "verdict": verdict,
                "judge_reply": (judged or "")[:200],
                "context_tokens": r.tokens,
                "tier": r.tier,
                "evidence_recall": evidence_recall(q.evidence, r.source_ids),
            }
        )
    correct = [(row["category"], 1.0 if row["verdict"] == "CORRECT" else 0.0) for row in rows]
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["category"]] = counts.get(row["category"], 0) + 1
    usage = {"answer": answer.usage.as_dict()}
    if judge is not answer:
        usage["judge"] = judge.usage.as_dict()
    llm_calls = answer.usage.calls + (judge.usage.calls if judge is not answer else 0)
    total_tokens = sum(u["total_tokens"] for u in usage.values())
    good = [r for r in rows if r["verdict"] == "CORRECT"][:N_EXAMPLES]
    bad = [r for r in rows if r["verdict"] != "CORRECT"][:N_EXAMPLES]
    return {
        "questions": len(rows),
        "budget_tokens": budget_tokens,
        "mode": mode,
        "judge": "answer model" if judge is answer else type(judge_llm).__name__,
        "accuracy": by_group(correct),
        "questions_by_category": dict(sorted(counts.items())),
        "correct": sum(row["verdict"] == "CORRECT" for row in rows),
        "unparseable": sum(r["verdict"] == "UNPARSEABLE" for r in rows),
        "errors": sum(r["verdict"] == "ERROR" for r in rows),
        "llm_calls": llm_calls,
        "llm_tokens": total_tokens,
        "usage": usage,
        "recall_llm_calls": recall_llm_calls,
        "recall_llm_tokens": recall_llm_tokens,
        "context_tokens_mean": round(mean(r["context_tokens"] for r in rows), 1),
        "evidence_recall_mean": round(mean(r["evidence_recall"] for r in rows), 4),
        "tiers": {t: sum(r["tier"] == t for r in rows) for t in sorted({r["tier"] for r in rows})},
        "seconds": round(clock.s, 1),
        "examples": [
            {k: r[k] for k in ("question", "gold", "answer", "verdict", "category")} for r in good + bad
        ],
    }


def subset(conv: Conversation, sessions: int | None) -> Conversation:
    """The first `sessions` sessions and the questions whose evidence all lies in them (None: all)."""
    if sessions is None:
        return conv
    keep = set(conv.sessions[:sessions])
    turns = [t for t in conv.turns if t.session in keep]
    ids = {t.id for t in turns}
    questions = [q for q in conv.questions if q.evidence and set(q.evidence) <= ids]
    return Conversation(conv.id, turns, questions, conv.malformed_evidence)


def run_with_memory_llm(
    convs: Sequence[Conversation],
    llm: BaseChatModel,
    judge_llm: BaseChatModel | None = None,
    *,
    embeddings: Any = True,
    budget_tokens: int = 1000,
    mode: RecallMode = "deep",
    limit: int | None = None,
) -> dict[str, Any]:
    """Ingest with `llm` extracting, recall with it planning the deep tier, answer and judge.

    Adds what memory's own LLM use cost: calls, tokens and outcomes per role, tokens per
    1,000 messages ingested and per question recalled (what `--llm` costs to run on your data).
    """
    with tempfile.TemporaryDirectory(prefix="plugmem-qa-") as tmp:
        mem = PlugMem.open(tmp, MemoryPolicy(full_history_when_fits=False), embeddings=embeddings, llm=llm)
        try:
            ingest_stats = ingest(mem, convs, "qa ingest (LLM extraction)")
            result = run(convs, mem, llm, judge_llm, budget_tokens=budget_tokens, mode=mode, limit=limit)
            st = mem.stats()
        finally:
            mem.close()
    messages, questions = ingest_stats["turns"], max(1, result["questions"])
    result["ingest"] = ingest_stats
    result["memory_llm"] = {
        "llm_calls": st.llm_calls,
        "llm_tokens": st.llm_tokens,
        "llm_outcomes": st.llm_outcomes,
        "failures_recorded": st.failures,
        "prompts_version": st.prompts_version,
        "extract_tokens_per_1000_messages": round(st.llm_tokens.get("extract", 0) * 1000 / max(1, messages)),
        "extract_calls_per_1000_messages": round(st.llm_calls.get("extract", 0) * 1000 / max(1, messages), 1),
        "plan_tokens_per_question": round(st.llm_tokens.get("plan", 0) / questions),
        "model_tally": dict(getattr(llm, "tally", {}) or {}),
    }
    return result


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.qa", description=__doc__.splitlines()[0])
    p.add_argument(
        "--llm",
        required=True,
        help="answer model: 'package.module:factory' or an init_chat_model spec ('openai:gpt-4o-mini')",
    )
    p.add_argument("--judge", help="judge model spec (default: the answer model)")
    p.add_argument("--limit", type=int, help="at most this many questions")
    p.add_argument(
        "--sessions", type=int, help="only the first N sessions of each conversation (and their questions)"
    )
    p.add_argument(
        "--quick", action="store_true", help="first conversation only, 40 questions unless --limit"
    )
    p.add_argument("--budget", type=int, default=1000, help="recall budget in tokens (default 1000)")
    p.add_argument("--mode", choices=("auto", "fast", "deep"), default="auto")
    p.add_argument(
        "--memory-llm",
        action="store_true",
        help="also give the answer model to plugmem (LLM extraction, deep recall)",
    )
    p.add_argument("--data", help="folder with the benchmark data (default ../shared/data)")
    p.add_argument("--out", default=str(RESULTS / "qa.json"), help="where to write the JSON result")
    args = p.parse_args(argv)
    answer_llm = load_llm(args.llm)
    judge_llm = load_llm(args.judge) if args.judge else None
    convs = [
        subset(c, args.sessions) for c in load_locomo(data_dir(args.data), limit=1 if args.quick else None)
    ]
    limit = args.limit if args.limit is not None else (40 if args.quick else None)
    info = machine()
    info["command"] = " ".join(["python -m benchmarks.qa", *(argv if argv is not None else sys.argv[1:])])
    if args.memory_llm:
        result = run_with_memory_llm(
            convs,
            answer_llm,
            judge_llm,
            embeddings=onnx_model(),
            budget_tokens=args.budget,
            mode=args.mode,
            limit=limit,
        )
    else:
        with tempfile.TemporaryDirectory(prefix="plugmem-qa-") as tmp:
            mem = PlugMem.open(tmp, embeddings=onnx_model())
            try:
                ingest_stats = ingest(mem, convs, "qa ingest")
                result = run(
                    convs, mem, answer_llm, judge_llm, budget_tokens=args.budget, mode=args.mode, limit=limit
                )
            finally:
                mem.close()
        result["ingest"] = ingest_stats
    result["models"] = {"answer": args.llm, "judge": args.judge or args.llm}
    result["machine"] = info
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    acc = result["accuracy"]
    print(" ".join(f"{k}={v:.3f}" for k, v in acc.items()))
    print(
        f"{result['questions']} questions, {result['unparseable']} unparseable, {result['errors']} errors, "
        f"{result['llm_calls']} LLM calls, {result['llm_tokens']} tokens, "
        f"context {result['context_tokens_mean']} tokens; written to {out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
