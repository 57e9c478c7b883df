"""A model per role, models named in policies, prompts overridden per memory: on a real memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _support import T0, conv
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field, ValidationError

from plugmem import InvalidInputError, LLMUnavailableError, MemoryPolicy, PlugMem, PolicyError, prompts
from plugmem.llm_roles import ChatModels
from plugmem.prompts import PROMPTS_VERSION

NS = ("u", "1")
EMPTY = '{"propositions": [], "prescriptions": [], "entities": [], "relations": [], "summaries": []}'
PLAN = '{"sub_questions": [], "entities": [], "time_constraints": []}'


class Seen(BaseCallbackHandler):
    def __init__(self) -> None:
        self.prompts: list[list[BaseMessage]] = []

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], **kw: Any
    ) -> None:
        self.prompts.extend(messages)


def _model(*responses: str) -> tuple[FakeListChatModel, Seen]:
    seen = Seen()
    return FakeListChatModel(responses=list(responses), callbacks=[seen]), seen


class RoleModel(BaseChatModel):
    """Answers each of plugmem's prompts (told apart by the system prompt) with a fixed valid answer."""

    answers: dict[str, str] = Field(default_factory=dict)

    @property
    def _llm_type(self) -> str:
        return "by-role"

    def _generate(
        self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        reply = self.answers[str(messages[0].content)]
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=reply))])


DEEP = {
    prompts.PLAN: PLAN,
    prompts.WALK: '{"expand": []}',
    prompts.REFLECT: '{"enough": true, "missing": ""}',
}


def _roles(answers: dict[str, str]) -> tuple[RoleModel, Seen]:
    seen = Seen()
    return RoleModel(answers=answers, callbacks=[seen]), seen


def _talk(mem: PlugMem) -> None:
    mem.add(
        conv(
            "I moved to Lisbon in March for a job at a robotics startup.",
            "Welcome to Lisbon!",
            "My manager there is called Tiago.",
            start=T0,
        ),
        namespace=NS,
        session_id="s1",
    )
    mem.flush()


def test_each_role_uses_its_own_model_and_is_accounted_apart(tmp_path: Path) -> None:
    extract, seen_x = _model(*[EMPTY] * 5)
    plan, seen_p = _roles(DEEP)
    reason, seen_r = _model('{"relevant": true, "guidance": "Maya lives in Lisbon.", "used": [1]}')
    llms = {"extract": extract, "plan": plan, "reason": reason}
    with PlugMem.open(tmp_path / "m", MemoryPolicy(full_history_when_fits=False), llms=llms) as mem:
        _talk(mem)
        assert seen_x.prompts and not seen_p.prompts and not seen_r.prompts  # ingest used "extract" only
        r = mem.reason("Where is my robotics job?", namespace=NS, mode="deep")
        n_plan = len(seen_p.prompts)  # plan, (walk when the graph offers neighbours), reflect
        assert n_plan in (2, 3) and len(seen_r.prompts) == 1
        assert r.guidance is not None and r.guidance.llm and r.llm_calls == n_plan + 1
        st = mem.stats()
        assert st.llm_calls == {"extract": len(seen_x.prompts), "plan": n_plan, "reason": 1}
        assert set(st.llm_tokens) == {"extract", "plan", "reason"} and all(st.llm_tokens.values())
        assert st.llm_outcomes["plan"] == {"parsed": n_plan} and st.llm_outcomes["reason"] == {"parsed": 1}


def test_one_llm_serves_every_role_and_per_role_models_win(tmp_path: Path) -> None:
    shared, seen_s = _roles({prompts.EXTRACT: EMPTY, **DEEP})
    reason, seen_r = _model('{"relevant": false, "guidance": "", "used": []}')
    with PlugMem.open(
        tmp_path / "m", MemoryPolicy(full_history_when_fits=False), llm=shared, llms={"reason": reason}
    ) as mem:
        _talk(mem)
        assert [str(p[0].content) for p in seen_s.prompts] == [prompts.EXTRACT]  # one event, one call
        r = mem.reason("Where is my robotics job?", namespace=NS, mode="deep")
        systems = [str(p[0].content) for p in seen_s.prompts[1:]]
        assert systems[0] == prompts.PLAN and systems[-1] == prompts.REFLECT and len(seen_r.prompts) == 1
        assert r.guidance is None  # the reason model said nothing recalled is relevant


def test_policy_names_models_as_init_chat_model_specs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-used")
    path = tmp_path / "agent.yaml"
    path.write_text(
        "name: support\nllm: openai:gpt-4o-mini\nllms:\n  plan: anthropic:claude-3-5-haiku-latest\n"
        "prompts:\n  reason: Be brief. Answer only JSON with relevant, guidance, used.\n"
    )
    policy = MemoryPolicy.from_file(path)
    models = ChatModels()
    extract, plan = models.get("extract", policy), models.get("plan", policy)
    assert type(extract).__name__ == "ChatOpenAI" and getattr(extract, "model_name", "") == "gpt-4o-mini"
    assert type(plan).__name__ == "ChatAnthropic" and "haiku" in str(getattr(plan, "model", ""))
    assert models.get("reason", policy) is extract  # one spec, created once
    fake, _ = _model("x")
    assert ChatModels(fake).get("plan", policy) is fake  # code beats configuration


def test_a_missing_provider_is_a_typed_error_when_needed_not_at_open(tmp_path: Path) -> None:
    policy = MemoryPolicy(
        full_history_when_fits=False, llms={"extract": "ollama:qwen2.5", "plan": "ollama:qwen2.5"}
    )
    with PlugMem.open(tmp_path / "m", policy) as mem:  # opens: nothing is created yet
        _talk(mem)  # ingest falls back to the rules, and says so
        st = mem.stats()
        assert st.failures >= 1 and st.llm_outcomes["extract"] == {"fallbacks": 1}
        assert st.propositions >= 1
        with pytest.raises(LLMUnavailableError, match="ollama"):
            mem.recall("Where is my robotics job?", namespace=NS, mode="deep")
        assert mem.recall(
            "Where is my robotics job?", namespace=NS, mode="fast"
        ).items  # the fast tier needs no model


def test_bad_role_and_spec_configuration_is_rejected(tmp_path: Path) -> None:
    fake, _ = _model("x")
    with pytest.raises(InvalidInputError, match="unknown LLM role 'summarise'"):
        PlugMem.open(tmp_path / "a", llms={"summarise": fake})
    with pytest.raises(InvalidInputError, match="BaseChatModel or a model spec"):
        PlugMem.open(tmp_path / "b", llms={"plan": 42})  # type: ignore[dict-item]
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    with pytest.raises(PolicyError):
        MemoryPolicy.from_dict({"llms": {"judge": "openai:gpt-4o"}})
    with pytest.raises(ValidationError):
        MemoryPolicy(llm="  ")


def test_prompts_are_overridden_per_memory_and_versioned(tmp_path: Path) -> None:
    plan, seen = _roles(
        {
            "PLAN LIKE THIS. Answer JSON.": PLAN,
            **DEEP,
            "REFLECT LIKE THIS. Answer JSON.": DEEP[prompts.REFLECT],
        }
    )
    policy = MemoryPolicy(
        full_history_when_fits=False, prompts={"reflect": "REFLECT LIKE THIS. Answer JSON."}
    )
    with PlugMem.open(tmp_path / "m", MemoryPolicy(full_history_when_fits=False)) as mem:
        _talk(mem)
        assert mem.stats().prompts_version == PROMPTS_VERSION
    with PlugMem.open(tmp_path / "m", policy) as mem:
        assert mem.stats().prompts_version == PROMPTS_VERSION + "+custom"
    with PlugMem.open(
        tmp_path / "m", policy, llms={"plan": plan}, prompts={"plan": "PLAN LIKE THIS. Answer JSON."}
    ) as mem:
        mem.recall("Where is my robotics job?", namespace=NS, mode="deep")
        systems = [str(p[0].content) for p in seen.prompts]
        assert (
            systems[0] == "PLAN LIKE THIS. Answer JSON." and systems[-1] == "REFLECT LIKE THIS. Answer JSON."
        )
        assert mem.stats().prompts_version == PROMPTS_VERSION + "+custom"
    with pytest.raises(InvalidInputError, match="unknown prompt 'planning'"):
        PlugMem.open(tmp_path / "m", prompts={"planning": "x"})
    with pytest.raises(ValidationError):
        MemoryPolicy(prompts={"reason": ""})
