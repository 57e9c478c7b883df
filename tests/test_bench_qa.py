"""End-to-end QA harness with scripted chat models over a small real memory.

The answer model only answers from what plugmem actually put in the prompt, and the judge
compares the candidate with the gold answer, so the accuracy below depends on recall,
prompting, verdict parsing and bookkeeping all working together.
"""

from __future__ import annotations

import re
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # benchmarks/ is not installed; pytest only puts tests/ on the path
    sys.path.insert(0, str(ROOT))

from benchmarks import qa  # noqa: E402
from benchmarks.data import Conversation, Question, Turn  # noqa: E402
from benchmarks.plug import ingest  # noqa: E402
from plugmem import PlugMem, prompts  # noqa: E402

T0 = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
UNSURE = "bicycle"  # the judge hedges on this question: its verdict cannot be parsed


class ScriptedChat(BaseChatModel):
    """Answers from the prompt it is given: the scripted answer only if the memory shows it; grades by equality."""

    answers: dict[str, str] = Field(default_factory=dict)
    usage: bool = False
    answer_calls: int = 0
    judge_calls: int = 0
    prompts: list[str] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(
        self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        prompt = str(messages[-1].content)
        self.prompts.append(prompt)
        if "Gold answer:" in prompt:
            self.judge_calls += 1
            text = self._judge(prompt)
        else:
            self.answer_calls += 1
            text = self._answer(prompt)
        msg = AIMessage(content=text)
        if self.usage:
            msg = AIMessage(
                content=text, usage_metadata={"input_tokens": 100, "output_tokens": 3, "total_tokens": 103}
            )
        return ChatResult(generations=[ChatGeneration(message=msg)])

    def _answer(self, prompt: str) -> str:
        memory = prompt.split("Memory:\n", 1)[1].split("\n\nQuestion:", 1)[0]
        question = re.search(r"^Question: (.*)$", prompt, re.M)
        assert question is not None
        answer = self.answers.get(question.group(1), "unknown")
        return answer if answer.lower() in memory.lower() else "unknown"

    def _judge(self, prompt: str) -> str:
        fields = dict(re.findall(r"^(Question|Gold answer|Candidate answer): (.*)$", prompt, re.M))
        if UNSURE in fields["Question"]:
            return "Hard to say, it could go either way."
        same = fields["Gold answer"].strip().lower() == fields["Candidate answer"].strip().lower()
        return "CORRECT" if same else "**Wrong.** The candidate differs."


class Broken(BaseChatModel):
    """A chat model whose endpoint is down."""

    @property
    def _llm_type(self) -> str:
        return "broken"

    def _generate(
        self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        raise ConnectionError("connection refused")


def _conversation() -> Conversation:
    lines = [
        ("session_1", "Ann", "I adopted a golden retriever puppy named Biscuit last weekend."),
        ("session_1", "Ben", "That's lovely! I just started learning the cello."),
        ("session_1", "Ann", "My sister Clara lives in Lisbon and works as an architect."),
        ("session_1", "Ben", "I'm training for the Berlin marathon in September."),
        ("session_2", "Ann", "Biscuit chewed my new running shoes yesterday."),
        ("session_2", "Ben", "My cello teacher is called Mr. Okafor."),
        ("session_2", "Ann", "I'm reading a novel about a lighthouse keeper."),
        ("session_2", "Ben", "I bought a blue bicycle for commuting to work."),
    ]
    turns = []
    for i, (session, speaker, text) in enumerate(lines):
        day = 0 if session == "session_1" else 24
        turns.append(
            Turn(
                id=f"D{session[-1]}:{i % 4 + 1}",
                speaker=speaker,
                role="user" if speaker == "Ann" else "assistant",
                text=text,
                timestamp=T0 + timedelta(days=day, minutes=i),
                session=session,
            )
        )
    questions = [
        Question(
            "t#0", "What is the name of Ann's puppy?", "single-hop", ["D1:1"], ["D1:1"], answer="Biscuit"
        ),
        Question(
            "t#1", "Which city does Ann's sister live in?", "single-hop", ["D1:3"], ["D1:3"], answer="Lisbon"
        ),
        Question(
            "t#2", "Which marathon is Ben training for?", "multi-hop", ["D1:4"], ["D1:4"], answer="Berlin"
        ),
        Question("t#3", "What colour is Ben's bicycle?", "temporal", ["D2:4"], ["D2:4"], answer="blue"),
        Question(
            "t#4",
            "Which instrument does Ann's brother play?",
            "open-domain",
            ["D1:2"],
            ["D1:2"],
            answer="violin",
        ),
    ]
    return Conversation("qa-test", turns, questions)


ANSWERS = {
    "What is the name of Ann's puppy?": "Biscuit",
    "Which city does Ann's sister live in?": "Lisbon",
    "Which marathon is Ben training for?": "Berlin marathon",  # in memory, but not the gold wording
    "What colour is Ben's bicycle?": "blue",  # right, but the judge hedges
    "Which instrument does Ann's brother play?": "violin",  # not in memory: the model says unknown
}


@pytest.fixture
def loaded(mem: PlugMem) -> Iterator[tuple[Conversation, PlugMem]]:
    conv = _conversation()
    ingest(mem, [conv], "test ingest")
    yield conv, mem


def test_run_scores_answers_and_verdicts(loaded: tuple[Conversation, PlugMem]) -> None:
    conv, mem = loaded
    answer = ScriptedChat(answers=ANSWERS, usage=True)
    judge = ScriptedChat()
    out = qa.run([conv], mem, answer, judge, budget_tokens=1000)

    assert out["questions"] == 5
    assert out["accuracy"] == {
        "multi-hop": 0.0,
        "open-domain": 0.0,
        "single-hop": 1.0,
        "temporal": 0.0,
        "all": 0.4,
    }
    assert out["questions_by_category"] == {"multi-hop": 1, "open-domain": 1, "single-hop": 2, "temporal": 1}
    assert out["correct"] == 2
    assert out["unparseable"] == 1
    assert out["errors"] == 0

    # one answer call and one judge call per question, each on its own model
    assert answer.answer_calls == 5 and answer.judge_calls == 0
    assert judge.judge_calls == 5 and judge.answer_calls == 0
    assert out["llm_calls"] == 10
    assert out["usage"]["answer"]["calls"] == 5 and out["usage"]["judge"]["calls"] == 5

    # the answer model reports usage; the judge's tokens are counted with tiktoken
    assert out["usage"]["answer"]["input_tokens"] == 500
    assert out["usage"]["answer"]["output_tokens"] == 15
    assert out["usage"]["answer"]["calls_without_usage_metadata"] == 0
    assert out["usage"]["judge"]["calls_without_usage_metadata"] == 5
    judge_in = sum(mem.tokens.count(p) for p in judge.prompts)
    assert out["usage"]["judge"]["input_tokens"] == judge_in
    assert out["llm_tokens"] == 515 + judge_in + out["usage"]["judge"]["output_tokens"]

    # the context really came from memory and was handed to the model
    assert 0 < out["context_tokens_mean"] <= 1000
    assert all("Memory:\n" in p for p in answer.prompts)
    assert any("Biscuit" in p for p in answer.prompts)
    assert out["evidence_recall_mean"] > 0

    verdicts = {e["question"]: e["verdict"] for e in out["examples"]}
    assert verdicts["What is the name of Ann's puppy?"] == "CORRECT"
    assert verdicts["What colour is Ben's bicycle?"] == "UNPARSEABLE"
    unknown = next(e for e in out["examples"] if e["question"].startswith("Which instrument"))
    assert unknown["answer"] == "unknown" and unknown["verdict"] == "WRONG" and unknown["gold"] == "violin"


def test_judge_defaults_to_the_answer_model_and_limit(loaded: tuple[Conversation, PlugMem]) -> None:
    conv, mem = loaded
    model = ScriptedChat(answers=ANSWERS)
    out = qa.run([conv], mem, model, limit=3, mode="fast")
    assert out["questions"] == 3
    assert model.answer_calls == 3 and model.judge_calls == 3
    assert out["llm_calls"] == 6
    assert set(out["usage"]) == {"answer"}
    assert out["judge"] == "answer model"
    # first three questions: two right, Berlin vs "Berlin marathon" judged wrong by strict equality
    assert out["accuracy"]["all"] == pytest.approx(0.6667, abs=1e-4)
    assert out["unparseable"] == 0
    assert out["usage"]["answer"]["calls_without_usage_metadata"] == 6


class FlakyJudge(ScriptedChat):
    """A judge whose call fails for one question."""

    def _judge(self, prompt: str) -> str:
        if "puppy" in prompt:
            raise TimeoutError("judge timed out")
        return super()._judge(prompt)


def test_failed_calls_are_errors_not_unparseable(loaded: tuple[Conversation, PlugMem]) -> None:
    conv, mem = loaded
    out = qa.run([conv], mem, ScriptedChat(answers=ANSWERS), FlakyJudge())
    assert out["errors"] == 1
    assert out["unparseable"] == 1
    assert out["correct"] == 1  # only Lisbon now
    assert out["accuracy"]["all"] == 0.2
    assert out["usage"]["judge"]["errors"] == 1
    assert out["usage"]["judge"]["error_samples"] == ["TimeoutError: judge timed out"]
    assert out["llm_calls"] == 10


def test_failing_model_stops_after_repeated_errors(loaded: tuple[Conversation, PlugMem]) -> None:
    conv, mem = loaded
    conv.questions.extend(conv.questions)  # 10 questions: enough to hit the limit of 5 failures in a row
    with pytest.raises(RuntimeError, match=r"in a row failed.*connection refused"):
        qa.run([conv], mem, Broken())


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ("CORRECT", "CORRECT"),
        ("correct.", "CORRECT"),
        ("  **Correct**", "CORRECT"),
        ("WRONG", "WRONG"),
        ("wrong - the date differs", "WRONG"),
        ("Incorrect", "WRONG"),
        ("The answer is correct.", "CORRECT"),
        ("The answer is not correct.", "WRONG"),
        ("Verdict: WRONG", "WRONG"),
        ("CORRECT or WRONG", "CORRECT"),  # first word decides
        ("It is either correct or wrong", None),
        ("maybe", None),
        ("", None),
    ],
)
def test_parse_verdict(reply: str, verdict: str | None) -> None:
    assert qa.parse_verdict(reply) == verdict


def test_message_text_handles_content_blocks() -> None:
    assert qa.message_text(AIMessage(content="plain")) == "plain"
    assert (
        qa.message_text(AIMessage(content=[{"type": "text", "text": "CORR"}, "ECT", {"type": "image"}]))
        == "CORRECT"
    )


# -- load_llm -------------------------------------------------------------------------------


@pytest.fixture
def factories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A throwaway module of factories on sys.path; returns its (unique) name."""
    name = f"fake_llms_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            """
            from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
            from langchain_core.messages import AIMessage

            def good():
                return GenericFakeChatModel(messages=iter([AIMessage(content="hello")]))

            def not_a_model():
                return "a string"

            READY = GenericFakeChatModel(messages=iter([AIMessage(content="ready")]))
            NUMBER = 3

            class Factories:
                @staticmethod
                def make():
                    return good()
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_load_llm_valid_specs(factories: str) -> None:
    model = qa.load_llm(f"{factories}:good")
    assert isinstance(model, BaseChatModel)
    assert model.invoke("hi").content == "hello"
    assert isinstance(qa.load_llm(f"{factories}:READY"), BaseChatModel)
    assert isinstance(qa.load_llm(f" {factories} : Factories.make "), BaseChatModel)


@pytest.mark.parametrize("spec", ["no_colon_here", "a:b:c", ":factory", "module:", ""])
def test_load_llm_malformed_spec(spec: str) -> None:
    with pytest.raises(ValueError, match=r"package\.module:factory"):
        qa.load_llm(spec)


def test_load_llm_missing_module_or_attribute(factories: str) -> None:
    with pytest.raises(ImportError, match=r"cannot import module 'no_such_module_xyz'.*PYTHONPATH"):
        qa.load_llm("no_such_module_xyz:make")
    with pytest.raises(ImportError, match=rf"module '{factories}' has no attribute 'missing'"):
        qa.load_llm(f"{factories}:missing")


def test_load_llm_wrong_types(factories: str) -> None:
    with pytest.raises(TypeError, match=r"returned a str, expected a langchain_core BaseChatModel"):
        qa.load_llm(f"{factories}:not_a_model")
    with pytest.raises(TypeError, match="not a callable factory"):
        qa.load_llm(f"{factories}:NUMBER")


class MemoryChat(ScriptedChat):
    """Also plays plugmem's roles: an empty extraction, a plan that stops at once; answers and judges as above."""

    def _generate(
        self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        system = str(messages[0].content) if len(messages) > 1 else ""
        role_answers = {
            prompts.EXTRACT: '{"propositions": [], "prescriptions": [], "entities": [], "relations": [], "summaries": []}',
            prompts.PLAN: '{"sub_questions": [], "entities": [], "time_constraints": []}',
            prompts.WALK: '{"expand": []}',
            prompts.REFLECT: '{"enough": true, "missing": ""}',
        }
        if system in role_answers:
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content=role_answers[system]))])
        return super()._generate(messages, stop, run_manager, **kw)


def test_bench_llm_path_extracts_plans_answers_and_reports_cost() -> None:
    conv = _conversation()
    only_first = qa.subset(conv, 1)
    assert {t.session for t in only_first.turns} == {"session_1"}
    assert [q.id for q in only_first.questions] == ["t#0", "t#1", "t#2", "t#4"]  # evidence in session 1 only
    model = MemoryChat(answers=ANSWERS)
    out = qa.run_with_memory_llm([conv], model, ScriptedChat(), limit=3)
    used = out["memory_llm"]
    assert (
        used["llm_calls"]["extract"] >= 1 and used["llm_calls"]["plan"] == 3 * 3
    )  # plan, walk, reflect each
    assert used["llm_outcomes"]["extract"]["parsed"] == used["llm_calls"]["extract"]
    assert used["extract_tokens_per_1000_messages"] == round(used["llm_tokens"]["extract"] * 1000 / 8)
    assert out["tiers"] == {"deep": 3} and out["accuracy"]["single-hop"] == 1.0


def test_load_llm_takes_init_chat_model_specs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used")
    model = qa.load_llm("openai:gpt-4o-mini")
    assert type(model).__name__ == "ChatOpenAI" and getattr(model, "model_name", "") == "gpt-4o-mini"
    with pytest.raises(ImportError, match=r"cannot import module 'nosuchprovider'.*init_chat_model spec"):
        qa.load_llm("nosuchprovider:some-model")
