"""The benchmark harness's building blocks: metrics by hand, packing, and the data loaders on real data.

A wrong metric or loader silently changes every number the benchmarks report, so the
expected values here are computed by hand or straight from the raw files, not by the code under test.
"""

from __future__ import annotations

import gc
import gzip
import json
import math
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _support import data_dir

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # benchmarks/ is not installed; pytest only puts tests/ on the path
    sys.path.insert(0, str(ROOT))

from benchmarks.baselines import full_history, pack, turn_costs, turn_line  # noqa: E402
from benchmarks.data import LOCOMO_CATEGORIES, Conversation, Turn, load_locomo, longmemeval_haystacks  # noqa: E402
from benchmarks.metrics import (  # noqa: E402
    by_group,
    dedupe,
    evidence_recall,
    latency_summary,
    ndcg_at_k,
    percentile,
    recall_all_at_k,
    recall_any_at_k,
    recall_at_k,
    roll_up,
)
from plugmem.recall.context import FOOTER, HEADER  # noqa: E402
from plugmem.tokens import TokenCounter  # noqa: E402

needs_data = pytest.mark.needs_data
DATA_DIR = data_dir()


# -- metrics ---------------------------------------------------------------------------


def test_dedupe_keeps_first_occurrence_order() -> None:
    assert dedupe(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]


def test_evidence_recall() -> None:
    assert evidence_recall({"a", "b"}, ["a", "c"]) == 0.5
    assert evidence_recall(["a", "b", "c", "d"], ["d", "d", "b", "x"]) == 0.5
    assert evidence_recall({"a"}, []) == 0.0
    assert evidence_recall([], ["a"]) == 1.0  # nothing to find counts as found


def test_recall_at_k_counts_distinct_ids() -> None:
    ranking = ["a", "a", "a", "b", "c"]
    # the top 2 distinct ids are a, b (not a, a)
    assert recall_at_k({"b", "c"}, ranking, 2) == 0.5
    assert recall_at_k({"b", "c"}, ranking, 3) == 1.0
    assert recall_at_k({"b", "c"}, ranking, 1) == 0.0


def test_recall_all_and_any_at_k() -> None:
    gold = {"a", "b"}
    assert recall_all_at_k(gold, ["a", "x", "b"], 2) == 0.0
    assert recall_all_at_k(gold, ["a", "x", "b"], 3) == 1.0
    assert recall_all_at_k(gold, ["a", "a", "b"], 2) == 1.0  # duplicates do not take a slot
    assert recall_any_at_k(gold, ["x", "b"], 1) == 0.0
    assert recall_any_at_k(gold, ["x", "b"], 2) == 1.0
    assert recall_any_at_k(gold, ["x", "x", "b"], 2) == 1.0
    assert recall_any_at_k(gold, [], 5) == 0.0


def test_ndcg_at_k() -> None:
    assert ndcg_at_k({"a", "b"}, ["a", "b", "c"], 3) == pytest.approx(1.0)
    assert ndcg_at_k({"a", "b"}, ["b", "a"], 2) == pytest.approx(1.0)
    assert ndcg_at_k({"a", "b"}, ["c", "d", "e"], 3) == 0.0
    assert ndcg_at_k(set(), ["a"], 3) == 0.0
    # hits at ranks 2 and 4: (1/log2 3 + 1/log2 5) / (1 + 1/log2 3)
    assert ndcg_at_k({"a", "b"}, ["c", "a", "d", "b"], 4) == pytest.approx(0.650921, abs=1e-5)
    # same with a duplicate in front: ranks are counted over distinct ids
    assert ndcg_at_k({"a", "b"}, ["c", "c", "a", "d", "b"], 4) == pytest.approx(0.650921, abs=1e-5)
    # k cuts the ranking: only the hit at rank 2 counts
    assert ndcg_at_k({"a", "b"}, ["c", "a", "d", "b"], 2) == pytest.approx(
        (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    )
    # more gold than k: the ideal ranking has only k slots
    assert ndcg_at_k({"a", "b", "c"}, ["a"], 1) == pytest.approx(1.0)


def test_roll_up_maps_turns_to_sessions_in_first_seen_order() -> None:
    parent = {"s1#0": "s1", "s1#3": "s1", "s2#1": "s2", "s3#0": "s3"}
    assert roll_up(["s2#1", "s1#0", "missing", "s1#3", "s3#0"], parent) == ["s2", "s1", "s3"]
    assert roll_up([], parent) == []


def test_percentile_matches_numpy() -> None:
    rng = random.Random(7)
    for n in (1, 2, 5, 10, 101):
        values = [rng.uniform(0, 100) for _ in range(n)]
        for q in (0, 1, 25, 50, 90, 95, 99, 100):
            assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    assert percentile([], 50) == 0.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0  # unsorted input


def test_latency_summary() -> None:
    s = latency_summary([10.0, 20.0, 30.0, 40.0])
    assert s == {"n": 4.0, "p50_ms": 25.0, "p95_ms": 38.5, "p99_ms": 39.7, "mean_ms": 25.0}
    assert latency_summary([])["mean_ms"] == 0.0


def test_by_group() -> None:
    out = by_group([("b", 1.0), ("a", 1.0), ("a", 0.0), ("b", 1.0), ("a", 0.0)])
    assert out == {"a": round(1 / 3, 4), "b": 1.0, "all": 0.6}
    assert list(out) == ["a", "b", "all"]
    assert by_group([]) == {"all": 0.0}


# -- baselines: packing into a budget ---------------------------------------------------

T0 = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)


@pytest.fixture(scope="module")
def tokens() -> TokenCounter:
    return TokenCounter()


def _turns(n: int) -> list[Turn]:
    return [
        Turn(f"t{i}", "Ann", "user", f"message number {i} about topic {i}", T0 + timedelta(minutes=i), "s1")
        for i in range(n)
    ]


def test_turn_costs_count_the_rendered_line(tokens: TokenCounter) -> None:
    turns = _turns(3)
    costs = turn_costs(turns, tokens)
    assert costs == {t.id: tokens.count(turn_line(t)) + 1 for t in turns}
    assert turn_line(turns[0]).endswith("Ann: message number 0 about topic 0")


def test_pack_is_greedy_and_respects_the_budget(tokens: TokenCounter) -> None:
    overhead = tokens.count(HEADER + "\n" + FOOTER) + 1
    costs = {"a": 10, "b": 50, "c": 5, "d": 6}
    budget = overhead + 20
    ids, used = pack(["a", "b", "unknown", "c", "d"], costs, budget, tokens)
    # a fits (10 left), b does not and is skipped, c fits (5 left), d (6) no longer fits
    assert ids == ["a", "c"]
    assert used == overhead + 15
    assert used <= budget
    ids, used = pack(["b"], costs, budget, tokens)
    assert ids == [] and used == overhead
    ids, used = pack(["d", "c", "a"], costs, overhead + 100, tokens)
    assert ids == ["d", "c", "a"] and used == overhead + 21


def test_full_history_takes_the_most_recent_turns_first(tokens: TokenCounter) -> None:
    turns = _turns(6)
    costs = turn_costs(turns, tokens)
    ids, _ = full_history(turns, costs, 100_000, tokens)
    assert ids == ["t5", "t4", "t3", "t2", "t1", "t0"]
    overhead = tokens.count(HEADER + "\n" + FOOTER) + 1
    budget = overhead + costs["t5"] + costs["t4"]
    ids, used = full_history(turns, costs, budget, tokens)
    assert ids == ["t5", "t4"]
    assert used == budget


# -- data loaders on the shared data ------------------------------------------------------


@pytest.fixture(scope="module")
def locomo() -> list[Conversation]:
    return load_locomo(DATA_DIR)


@pytest.fixture(scope="module")
def locomo_raw() -> list[dict[str, Any]]:
    return json.loads((DATA_DIR / "locomo_dev.json").read_text())


@pytest.fixture(scope="module")
def fixes() -> dict[tuple[str, int], list[str]]:
    """The audit's corrected citations, straight from the file."""
    audit = json.loads((DATA_DIR / "locomo_audit_errors.json").read_text())
    return {
        (r["sample_id"], int(r["qa_index"])): r["correct_evidence"]
        for r in audit
        if r["error_type"] == "WRONG_CITATION"
    }


@needs_data
def test_locomo_conversations_and_turns(locomo: list[Conversation], locomo_raw: list[dict[str, Any]]) -> None:
    assert [c.id for c in locomo] == ["conv-26", "conv-30", "conv-41", "conv-42", "conv-43", "conv-49"]
    for conv, raw in zip(locomo, locomo_raw, strict=True):
        c = raw["conversation"]
        expected = [
            t["dia_id"]
            for k in sorted(
                (k for k in c if k.startswith("session_") and not k.endswith("date_time")),
                key=lambda k: int(k.split("_")[1]),
            )
            for t in c[k]
        ]
        assert [t.id for t in conv.turns] == expected
        assert len(set(expected)) == len(expected)
        stamps = [t.timestamp for t in conv.turns]
        assert stamps == sorted(stamps) and all(s.tzinfo is not None for s in stamps)
        assert {t.role for t in conv.turns if t.speaker == c["speaker_a"]} == {"user"}
        assert {t.role for t in conv.turns if t.speaker == c["speaker_b"]} == {"assistant"}
    first = locomo[0].turns[0]
    assert first.id == "D1:1" and first.session == "session_1"
    assert first.timestamp == datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
    captioned = [t for t in locomo[0].turns if "[shares a photo:" in t.text]
    assert captioned, "photo captions should be inlined into the turn text"


@needs_data
def test_locomo_questions_categories_1_to_4_only(
    locomo: list[Conversation], locomo_raw: list[dict[str, Any]], fixes: dict[tuple[str, int], list[str]]
) -> None:
    expected = 0
    for conv, raw in zip(locomo, locomo_raw, strict=True):
        ids = {t.id for t in conv.turns}
        for q in conv.questions:
            assert q.category in LOCOMO_CATEGORIES.values()
            assert q.evidence or q.evidence_corrected
            assert set(q.evidence) <= ids and set(q.evidence_corrected) <= ids
            i = int(q.id.split("#")[1])
            assert raw["qa"][i]["question"] == q.question
            assert int(raw["qa"][i]["category"]) != 5
        # kept: categories 1-4 with at least one real evidence turn, published or corrected
        expected += sum(
            1
            for i, qa in enumerate(raw["qa"])
            if int(qa["category"]) in LOCOMO_CATEGORIES
            and (set(qa.get("evidence", [])) | set(fixes.get((conv.id, i), []))) & ids
        )
    assert sum(len(c.questions) for c in locomo) == expected
    assert not any(q.category == "adversarial" for c in locomo for q in c.questions)


@needs_data
def test_locomo_audit_corrections_applied(
    locomo: list[Conversation], fixes: dict[tuple[str, int], list[str]]
) -> None:
    by_id = {q.id: (c, q) for c in locomo for q in c.questions}
    changed = [q for c in locomo for q in c.questions if q.evidence != q.evidence_corrected]
    assert len(changed) == 36
    for (sample, idx), fixed in fixes.items():
        conv, q = by_id[f"{sample}#{idx}"]
        ids = {t.id for t in conv.turns}
        assert q.evidence_corrected == [e for e in fixed if e in ids]
    # questions the audit does not name keep their published evidence
    for conv in locomo:
        for q in conv.questions:
            if (conv.id, int(q.id.split("#")[1])) not in fixes:
                assert q.evidence_corrected == q.evidence


@needs_data
def test_locomo_malformed_evidence_counted(
    locomo: list[Conversation], locomo_raw: list[dict[str, Any]]
) -> None:
    for conv, raw in zip(locomo, locomo_raw, strict=True):
        ids = {t.id for t in conv.turns}
        bad = [
            e
            for qa in raw["qa"]
            if int(qa["category"]) in LOCOMO_CATEGORIES
            for e in qa.get("evidence", [])
            if e not in ids
        ]
        assert conv.malformed_evidence == bad
    assert sum(len(c.malformed_evidence) for c in locomo) == 7  # of the nine; two sit in category 5
    assert "D" in locomo[3].malformed_evidence


@pytest.fixture(scope="module")
def lme_raw() -> list[dict[str, Any]]:
    """The raw LongMemEval-S rows, parsed once for the module (GC paused: millions of small objects)."""
    blob = gzip.decompress((Path(DATA_DIR) / "longmemeval_s_dev.json.gz").read_bytes())
    gc.disable()
    try:
        rows: list[dict[str, Any]] = json.loads(blob)
    finally:
        gc.enable()
    return rows


@pytest.fixture(scope="module")
def lme(lme_raw: list[dict[str, Any]]) -> tuple[list[Conversation], dict[str, int]]:
    """The loader over the real file's rows, parsed once above (parsing takes seconds)."""
    return longmemeval_haystacks(lme_raw)


@needs_data
def test_longmemeval_skips_abstention_and_keeps_user_turns(
    lme: tuple[list[Conversation], dict[str, int]], lme_raw: list[dict[str, Any]]
) -> None:
    convs, skipped = lme
    raw = {r["question_id"]: r for r in lme_raw}
    assert skipped["abstention"] == sum(qid.endswith("_abs") for qid in raw) > 0
    assert not any(c.id.endswith("_abs") for c in convs)
    assert len(convs) + skipped["abstention"] + skipped["no_user_evidence"] == len(lme_raw)
    for conv in convs:
        row = raw[conv.id]
        assert {t.role for t in conv.turns} == {"user"}
        expected: list[tuple[str, str]] = []
        seen: set[str] = set()
        for sid, sess in zip(row["haystack_session_ids"], row["haystack_sessions"], strict=True):
            if sid in seen:  # a few haystacks list a session twice; it is indexed once
                continue
            seen.add(sid)
            expected += [
                (f"{sid}#{n}", t["content"])
                for n, t in enumerate(sess)
                if t["role"] == "user" and str(t["content"]).strip()  # a few user turns are empty
            ]
        assert [(t.id, t.text) for t in conv.turns] == expected
        assert len({t.id for t in conv.turns}) == len(conv.turns)
        assert len(conv.questions) == 1 and conv.questions[0].id == conv.id


@needs_data
def test_longmemeval_gold_sessions_in_haystack(
    lme: tuple[list[Conversation], dict[str, int]], lme_raw: list[dict[str, Any]]
) -> None:
    convs, _ = lme
    raw = {r["question_id"]: r for r in lme_raw}
    for conv in convs:
        q = conv.questions[0]
        sessions = set(conv.sessions)
        assert q.evidence, conv.id
        assert set(q.evidence) <= sessions
        assert q.evidence == [
            s for s in raw[conv.id]["answer_session_ids"] if s in raw[conv.id]["haystack_session_ids"]
        ]
        # at least one gold session holds a user-side evidence turn (the protocol's filter)
        row = raw[conv.id]
        with_user_answer = {
            sid
            for sid, sess in zip(row["haystack_session_ids"], row["haystack_sessions"], strict=True)
            if any(t["role"] == "user" and t.get("has_answer") for t in sess)
        }
        assert with_user_answer
        assert q.when is not None and q.answer == str(row["answer"])
