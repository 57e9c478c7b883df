"""What LLM mode costs in prompt tokens, counted on LoCoMo without calling any model.

`python -m benchmarks.llm_cost [--conversations N] [--questions N]`

The real pipeline runs (segmentation, batching to 8 events a call, the deep tier's plan → walk →
reflect, `reason`), with a recording chat model in place of a provider: it answers each role with
the smallest valid JSON and counts every prompt it is sent with tiktoken (cl100k). So the input
tokens are exactly what plugmem would send; output tokens depend on the model and are not
counted here (the `--llm` QA stage reports them for a real model). Figures per 1,000 messages
(ingest) and per question (deep tier, reason).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

from benchmarks.common import RESULTS, machine, onnx_model
from benchmarks.data import data_dir, load_locomo
from benchmarks.plug import ingest, namespace
from plugmem import MemoryPolicy, PlugMem, prompts
from plugmem.tokens import TokenCounter


def _by_role() -> defaultdict[str, list[int]]:
    return defaultdict(list)


class RecordingChat(BaseChatModel):
    """Answers each plugmem role with minimal valid JSON and counts the prompt tokens per role."""

    enough: bool = True  # the reflect answer: stop after one round, or walk to the round limit
    _counts: defaultdict[str, list[int]] = PrivateAttr(default_factory=_by_role)
    _tokens: TokenCounter = PrivateAttr(default_factory=TokenCounter)

    @property
    def counts(self) -> dict[str, list[int]]:
        """Prompt tokens of each call, per role."""
        return self._counts

    @property
    def _llm_type(self) -> str:
        return "recording"

    def _generate(
        self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        system = str(messages[0].content)
        role, answer = {
            prompts.EXTRACT: ("extract", {}),
            prompts.PLAN: ("plan", {"sub_questions": [], "entities": [], "time_constraints": []}),
            prompts.WALK: ("walk", {"expand": []}),
            prompts.REFLECT: ("reflect", {"enough": self.enough, "missing": ""}),
            prompts.REASON: ("reason", {"relevant": False, "guidance": "", "used": []}),
        }.get(system, ("other", {}))
        self._counts[role].append(sum(self._tokens.count(str(m.content)) for m in messages))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=json.dumps(answer)))])


def _per(counts: dict[str, list[int]], role: str) -> dict[str, float]:
    calls = counts.get(role, [])
    return {
        "calls": len(calls),
        "input_tokens": sum(calls),
        "mean_input": round(sum(calls) / max(1, len(calls))),
    }


def run(n_conversations: int | None, n_questions: int) -> dict[str, Any]:
    convs = load_locomo(data_dir(None), limit=n_conversations)
    extractor = RecordingChat()
    with tempfile.TemporaryDirectory(prefix="plugmem-cost-") as tmp:
        with PlugMem.open(
            tmp, MemoryPolicy(full_history_when_fits=False), embeddings=onnx_model(), llm=extractor
        ) as mem:
            stats = ingest(mem, convs, "ingest (counting extraction prompts)")
        messages = stats["turns"]
        out: dict[str, Any] = {
            "conversations": len(convs),
            "messages": messages,
            "prompts_version": prompts.PROMPTS_VERSION,
            "extract": _per(extractor.counts, "extract"),
        }
        out["extract_per_1000_messages"] = {
            "calls": round(len(extractor.counts["extract"]) * 1000 / messages, 1),
            "input_tokens": round(sum(extractor.counts["extract"]) * 1000 / messages),
        }
        jobs = [(c, q) for c in convs for q in c.questions][:n_questions]
        for label, enough in (("deep_one_round", True), ("deep_to_round_limit", False)):
            model = RecordingChat(enough=enough)
            with PlugMem.open(
                tmp, MemoryPolicy(full_history_when_fits=False), embeddings=onnx_model(), llm=model
            ) as mem:
                for conv, q in jobs:
                    mem.reason(q.question, namespace=namespace(conv), mode="deep", budget_tokens=1000)
            roles = {r: _per(model.counts, r) for r in ("plan", "walk", "reflect", "reason")}
            deep = sum(roles[r]["input_tokens"] for r in ("plan", "walk", "reflect"))
            out[label] = {
                "questions": len(jobs),
                "roles": roles,
                "deep_input_tokens_per_question": round(deep / max(1, len(jobs))),
                "reason_input_tokens_per_question": round(
                    roles["reason"]["input_tokens"] / max(1, len(jobs))
                ),
            }
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.llm_cost", description=__doc__.splitlines()[0])
    p.add_argument("--conversations", type=int, help="LoCoMo conversations to ingest (default all)")
    p.add_argument("--questions", type=int, default=100, help="questions for the deep tier and reason")
    p.add_argument("--out", default=str(RESULTS / "llm_cost.json"))
    args = p.parse_args(argv)
    result = run(args.conversations, args.questions)
    info = machine()
    info["command"] = " ".join(
        ["python -m benchmarks.llm_cost", *(argv if argv is not None else sys.argv[1:])]
    )
    result["machine"] = info
    with open(args.out, "w") as f:
        f.write(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
