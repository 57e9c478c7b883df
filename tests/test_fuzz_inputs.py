"""Fuzzing the public API: every failure is a typed plugmem error and nothing stored changes.

The strategies produce what callers really get wrong: lone surrogates, NULs, out-of-range
and non-finite timestamps, unserialisable or reserved-key metadata, non-dict tool-call
arguments, wrong types everywhere. A raw `TypeError`, `OverflowError` or `sqlite3` error
escaping, or a stored row changing after a rejected call, fails the suite.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugmem import MemoryPolicy, PlugMem, PlugMemError

NS = ("fuzz", "u1")
FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

any_text = st.text(max_size=40)  # includes lone surrogates and NULs
weird_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    any_text,
    st.binary(max_size=8),
    st.just(datetime.max),
    st.just(datetime.min),
    st.datetimes(timezones=st.just(UTC)),
    st.just(object()),
    st.just({1, 2}),
)
json_like = st.recursive(
    weird_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(any_text, inner, max_size=3)),
    max_leaves=6,
)
metadata = st.one_of(
    json_like, st.dictionaries(st.sampled_from(["$dt", "$x", "ok", "k"]), json_like, max_size=3)
)
tool_calls = st.one_of(
    st.none(),
    weird_scalars,
    st.lists(
        st.one_of(
            weird_scalars,
            st.fixed_dictionaries({"name": st.one_of(any_text, weird_scalars), "args": json_like}),
        ),
        max_size=2,
    ),
)
message = st.fixed_dictionaries(
    {"role": st.one_of(st.sampled_from(["user", "assistant", "tool", "system"]), weird_scalars)},
    optional={
        "content": st.one_of(any_text, weird_scalars, st.lists(st.one_of(any_text, json_like), max_size=2)),
        "id": st.one_of(any_text, weird_scalars),
        "name": st.one_of(any_text, weird_scalars),
        "timestamp": weird_scalars,
        "metadata": metadata,
        "tool_calls": tool_calls,
        "tool_call_id": st.one_of(any_text, weird_scalars),
    },
)
# mostly well-formed messages with one field pushed to an edge, so the accept path is exercised too
word = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=30
)
plausible = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "human", "ai"]), "content": word},
    optional={
        "id": st.one_of(word, any_text),
        "name": st.one_of(word, any_text),
        "timestamp": st.one_of(
            st.datetimes(), st.floats(min_value=-1e12, max_value=1e12), st.just("2023-05-01T10:00Z")
        ),
        "metadata": st.dictionaries(word, st.one_of(st.integers(), st.floats(), word, st.none()), max_size=2),
        "tool_calls": st.lists(
            st.fixed_dictionaries({"name": word, "args": st.dictionaries(word, word, max_size=2)}), max_size=1
        ),
    },
)
batches = st.one_of(
    st.lists(plausible, min_size=1, max_size=3),
    weird_scalars,
    message,
    st.lists(st.one_of(message, weird_scalars), max_size=3),
)
namespaces = st.one_of(st.just(NS), any_text, weird_scalars, st.lists(any_text, max_size=3).map(tuple))


@pytest.fixture(scope="module")
def fuzz_mem(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlugMem]:
    path: Path = tmp_path_factory.mktemp("fuzz") / "m"
    m = PlugMem.open(path, policy=MemoryPolicy(full_history_when_fits=False), embeddings=None)
    m.add([{"role": "user", "content": "I keep my passport in the blue drawer.", "id": "keep"}], namespace=NS)
    m.flush()
    yield m
    m.close()


def snapshot(m: PlugMem) -> list[tuple[Any, ...]]:
    return [
        tuple(r) for r in m.store.query("SELECT namespace, id, content, ts, state FROM steps ORDER BY seq")
    ]


def only_typed_errors(fn: Any, *args: Any, **kwargs: Any) -> bool:
    """True if the call succeeded; a plugmem error returns False; anything else fails the test."""
    try:
        fn(*args, **kwargs)
    except PlugMemError:
        return False
    return True


@given(
    batch=batches,
    namespace=namespaces,
    session=st.one_of(st.none(), any_text, weird_scalars),
    ts=weird_scalars,
)
@FUZZ
def test_add_fails_only_with_typed_errors_and_leaves_the_store_as_it_was(
    fuzz_mem: PlugMem, batch: Any, namespace: Any, session: Any, ts: Any
) -> None:
    before = snapshot(fuzz_mem)
    ok = only_typed_errors(fuzz_mem.add, batch, namespace=namespace, session_id=session, timestamp=ts)
    after = snapshot(fuzz_mem)
    if not ok:
        assert after == before
    else:  # accepted input must also survive the worker: no quarantine, no dead thread
        fuzz_mem.flush()
        assert fuzz_mem.stats().quarantined == 0
        assert after[: len(before)] == before


@given(
    query=st.one_of(any_text, weird_scalars),
    budget=st.one_of(st.none(), weird_scalars),
    k=st.one_of(st.none(), weird_scalars),
    mode=st.one_of(st.none(), st.sampled_from(["auto", "fast", "deep"]), weird_scalars),
    namespace=namespaces,
)
@FUZZ
def test_recall_fails_only_with_typed_errors(
    fuzz_mem: PlugMem, query: Any, budget: Any, k: Any, mode: Any, namespace: Any
) -> None:
    before = snapshot(fuzz_mem)
    only_typed_errors(fuzz_mem.recall, query, namespace=namespace, budget_tokens=budget, k=k, mode=mode)
    assert snapshot(fuzz_mem) == before


@given(
    ids=st.one_of(st.none(), weird_scalars, st.lists(st.one_of(any_text, weird_scalars), max_size=3)),
    session=st.one_of(st.none(), any_text, weird_scalars),
    namespace=st.one_of(weird_scalars, any_text.filter(lambda s: s != "fuzz")),
)
@FUZZ
def test_forget_fails_only_with_typed_errors_and_never_touches_other_namespaces(
    fuzz_mem: PlugMem, ids: Any, session: Any, namespace: Any
) -> None:
    before = [r for r in snapshot(fuzz_mem) if r[0] == "fuzz/u1"]
    only_typed_errors(fuzz_mem.forget, namespace=namespace, ids=ids, session_id=session)
    assert [r for r in snapshot(fuzz_mem) if r[0] == "fuzz/u1"] == before


@given(st.dictionaries(st.sampled_from(sorted(MemoryPolicy.model_fields)) | any_text, json_like, max_size=4))
@settings(max_examples=150, deadline=None)
def test_policy_validation_is_typed(data: dict[str, Any]) -> None:
    only_typed_errors(MemoryPolicy.from_dict, data)


@given(timeout=weird_scalars)
@FUZZ
def test_flush_timeout_is_validated(fuzz_mem: PlugMem, timeout: Any) -> None:
    if (
        isinstance(timeout, (int, float))
        and not isinstance(timeout, bool)
        and math.isfinite(timeout)
        and timeout >= 0
    ):
        timeout = min(timeout, 5.0)
    only_typed_errors(fuzz_mem.flush, timeout)
