"""LLMExtractor with scripted fake chat models: parsing, retries, recorded failures, one call per batch."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import FakeListChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from test_ingest_helpers import T0, chat

from plugmem.ingest.extract_llm import LLMExtractor
from plugmem.ingest.segment import segment
from plugmem.model import Event, Step


class Calls(BaseCallbackHandler):
    def __init__(self) -> None:
        self.prompts: list[list[BaseMessage]] = []

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], **kw: Any
    ) -> None:
        self.prompts.extend(messages)


def _conversation() -> tuple[list[Event], dict[str, Step]]:
    steps = chat(
        [
            ("Caroline", "I went to a LGBTQ support group yesterday and it was so powerful."),
            ("Melanie", "That's great! I'm painting a lake sunrise for my kids."),
        ]
    )
    later = chat(
        [("Caroline", "I moved to Denver last week."), ("Melanie", "Call me when you are settled, Caro!")],
        session="s2",
        prefix="n",
        start=T0 + timedelta(days=20),
    )
    all_steps = [*steps, *later]
    return segment(all_steps, None), {s.id: s for s in all_steps}


def _answer(events: list[Event]) -> str:
    e1, e2 = events[0].id, events[1].id
    return json.dumps(
        {
            "propositions": [
                {
                    "statement": "Caroline went to an LGBTQ support group on 7 May 2023.",
                    "subject": "Caroline",
                    "predicate": "went to",
                    "object": "an LGBTQ support group",
                    "event_time": "2023-05-07",
                    "confidence": 0.9,
                    "source_ids": ["m1"],
                    "event_id": e1,
                    "entities": ["Caroline", "LGBTQ"],
                },
                {
                    "statement": "Caroline moved to Denver in the week of 22 May 2023.",
                    "subject": "Caro",
                    "predicate": "moved to",
                    "object": "Denver",
                    "source_ids": ["n1"],
                    "entities": ["Caroline", "Denver"],
                },
            ],
            "prescriptions": [
                {
                    "goal": "settle in after a move",
                    "steps": ["unpack", "call Melanie"],
                    "source_ids": ["n1", "n2"],
                }
            ],
            "entities": [
                {"name": "Caroline", "aliases": ["Caro"], "kind": "person"},
                {"name": "Denver", "kind": "place"},
            ],
            "relations": [{"src": e2, "dst": e1, "label": "elaboration"}],
            "summaries": [{"event_id": e1, "summary": "Caroline told Melanie about a support group."}],
        }
    )


def test_parses_a_fenced_answer_into_knowledge_and_edges() -> None:
    events, steps = _conversation()
    llm = FakeListChatModel(responses=["```json\n" + _answer(events) + "\n```"])
    x = LLMExtractor(llm).extract(events, steps)
    assert x.failures == []
    props = [k for k in x.knowledge if k.kind == "proposition"]
    assert props[0].statement == "Caroline went to an LGBTQ support group on 7 May 2023."
    first = props[0]
    assert first.event_time is not None and first.event_time.date().isoformat() == "2023-05-07"
    assert first.valid_from == steps["m1"].timestamp and first.confidence == 0.9
    assert props[1].subject == "Caroline"  # the alias resolved to the canonical name
    assert props[1].event_id == events[1].id  # filled from the source step
    [proc] = [k for k in x.knowledge if k.kind == "prescription"]
    assert proc.steps == ["unpack", "call Melanie"] and proc.source_ids == ["n1", "n2"]
    caroline = next(e for e in x.entities if e.name == "Caroline")
    assert "Caro" in caroline.aliases and caroline.kind == "person"
    assert next(e for e in x.entities if e.name == "Denver").kind == "place"
    assert any(e.kind == "relates" and e.label == "elaboration" for e in x.edges)
    assert x.event_summaries == {events[0].id: "Caroline told Melanie about a support group."}
    derived = {(e.src, e.dst) for e in x.edges if e.kind == "derived_from"}
    assert (first.id, "m1") in derived and (proc.id, "n2") in derived
    for k in x.knowledge:
        assert set(k.source_ids) <= set(steps)


def test_retry_after_malformed_json_then_success() -> None:
    events, steps = _conversation()
    calls = Calls()
    llm = FakeListChatModel(responses=['Here: {"propositions": "none"}', _answer(events)], callbacks=[calls])
    x = LLMExtractor(llm, max_retries=2).extract(events, steps)
    assert x.failures == [] and x.usage.calls == 2 == len(calls.prompts)
    assert "could not be used" in str(calls.prompts[1][-1].content)
    assert any(k.statement.startswith("Caroline went to") for k in x.knowledge)


def test_hallucinated_source_ids_are_rejected_and_fed_back() -> None:
    events, steps = _conversation()
    bad = json.loads(_answer(events))
    bad["propositions"][0]["source_ids"] = ["m1", "D99:1"]
    calls = Calls()
    llm = FakeListChatModel(responses=[json.dumps(bad), _answer(events)], callbacks=[calls])
    x = LLMExtractor(llm).extract(events, steps)
    assert x.failures == []
    assert "D99:1" in str(calls.prompts[1][-1].content)
    assert all(set(k.source_ids) <= set(steps) for k in x.knowledge)


def test_failure_is_recorded_and_rules_fill_in() -> None:
    events, steps = _conversation()
    llm = FakeListChatModel(responses=["not json", "still not json", '{"propositions": 5}'])
    x = LLMExtractor(llm, max_retries=2).extract(events, steps)
    [failure] = x.failures
    assert failure.event_ids == [e.id for e in events]
    assert failure.attempts == 3 and failure.extractor == "llm"
    assert x.usage.calls == 3
    rule = [k.statement for k in x.knowledge]
    assert "Caroline went to a LGBTQ support group yesterday (7 May 2023)" in rule
    assert all(set(k.source_ids) <= set(steps) for k in x.knowledge)


def test_provider_errors_never_escape() -> None:
    events, steps = _conversation()

    class Broken(FakeListChatModel):
        def _call(self, *args: Any, **kwargs: Any) -> str:
            raise ConnectionError("network down")

    x = LLMExtractor(Broken(responses=["unused"])).extract(events, steps)
    assert len(x.failures) == 1 and "network down" in x.failures[0].error
    assert x.knowledge


def test_exactly_one_call_per_batch_of_events() -> None:
    turns: list[Step] = []
    for i in range(10):
        turns += chat(
            [("Ana", f"I visited museum number {i} today."), ("Ben", "Nice.")],
            session=f"s{i}",
            prefix=f"x{i}-",
            start=T0 + timedelta(days=i),
        )
    events = segment(turns, None)
    assert len(events) == 10
    steps = {s.id: s for s in turns}
    calls = Calls()
    empty = '{"propositions": [], "prescriptions": [], "entities": [], "relations": [], "summaries": []}'
    llm = FakeListChatModel(responses=[empty] * 5, callbacks=[calls])
    x = LLMExtractor(llm, batch_events=4).extract(events, steps)
    assert len(calls.prompts) == 3 == x.usage.calls  # 4 + 4 + 2 events, never one call per message
    for prompt, batch in zip(calls.prompts, [events[0:4], events[4:8], events[8:10]], strict=True):
        text = str(prompt[-1].content)
        assert all(f"Event {e.id}" in text for e in batch)
        assert all(sid in text for e in batch for sid in e.step_ids)


def test_token_accounting_uses_usage_metadata_or_tiktoken() -> None:
    events, steps = _conversation()
    reported = AIMessage(
        content=_answer(events),
        usage_metadata={"input_tokens": 700, "output_tokens": 90, "total_tokens": 790},
    )
    x = LLMExtractor(GenericFakeChatModel(messages=iter([reported]))).extract(events, steps)
    assert (x.usage.calls, x.usage.input_tokens, x.usage.output_tokens) == (1, 700, 90)

    from plugmem.tokens import TokenCounter

    extractor = LLMExtractor(FakeListChatModel(responses=[_answer(events)]))
    x2 = extractor.extract(events, steps)
    counter = TokenCounter()
    prompt = extractor.messages(events, steps)
    assert x2.usage.input_tokens == sum(counter.count(str(m.content)) for m in prompt)
    assert x2.usage.output_tokens == counter.count(_answer(events))


def test_llm_facts_use_the_shared_slot_vocabulary_and_supersede_rule_facts() -> None:
    """The prompt names the vocabulary; a labelled answer fills or ends slots that the rules' facts fill."""
    from plugmem.ingest.consolidate import consolidate
    from plugmem.ingest.extract import RuleExtractor
    from plugmem.ingest.slots import RELATIONS

    old = chat([("Sam", "I work at Acme as a designer."), ("Ana", "Nice.")], prefix="a")
    rule_facts = RuleExtractor().extract(segment(old, None), {s.id: s for s in old}).knowledge
    assert any(k.slots.get("employer") == "acme" for k in rule_facts)
    later = chat(
        [("Sam", "I quit Acme last month and joined Northwind."), ("Ana", "Congrats!")],
        prefix="b",
        start=T0 + timedelta(days=60),
    )
    events = segment(later, None)
    answer = {
        "propositions": [
            {
                "statement": "Sam left Acme.",
                "subject": "Sam",
                "relation": "employer",
                "value": "Acme",
                "ends": True,
                "source_ids": ["b1"],
            },
            {
                "statement": "Sam works at Northwind.",
                "subject": "Sam",
                "relation": "Employer",
                "value": "Northwind",
                "source_ids": ["b1"],
            },
            {
                "statement": "Sam likes tea.",
                "subject": "Sam",
                "relation": "made-up",
                "value": "tea",
                "source_ids": ["b1"],
            },
        ]
    }
    calls = Calls()
    llm = FakeListChatModel(responses=[json.dumps(answer)], callbacks=[calls])
    x = LLMExtractor(llm).extract(events, {s.id: s for s in later})
    by_text = {k.statement: k for k in x.knowledge}
    assert by_text["Sam left Acme."].ends == {"employer": "acme"}
    assert by_text["Sam works at Northwind."].slots == {"employer": "northwind"}
    assert (
        by_text["Sam likes tea."].slots == {} and by_text["Sam likes tea."].ends == {}
    )  # not in the vocabulary
    system = str(calls.prompts[0][0].content)
    assert all(rel in system for rel in RELATIONS)  # the prompt carries the same vocabulary
    out = consolidate(x.knowledge, consolidate(rule_facts, []).to_add)
    [closed] = [k for k in out.to_close if k.slots.get("employer") == "acme"]
    assert closed.superseded_by in {by_text["Sam left Acme."].id, by_text["Sam works at Northwind."].id}
