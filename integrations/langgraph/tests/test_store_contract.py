"""The BaseStore contract, written once and run on InMemoryStore (the reference) and PlugMemStore.

Each test runs with a small deterministic hashing embedder and again with the real
MiniLM ONNX model when it is on disk. Where InMemoryStore departs from the documented
contract, `StoreKind` says so and the test notes the difference; PlugMemStore is held
to the documented behaviour.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from _store_fixtures import StoreKind
from langgraph.store.base import (
    BaseStore,
    GetOp,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    SearchItem,
    SearchOp,
)
from langgraph.store.memory import InMemoryStore
from plugmem_langgraph.store import PlugMemStore

needs_onnx = pytest.mark.needs_model

KINDS = [
    pytest.param(("inmemory", "hash"), id="inmemory-hash"),
    pytest.param(("plugmem", "hash"), id="plugmem-hash"),
    pytest.param(("inmemory", "onnx"), id="inmemory-onnx", marks=needs_onnx),
    pytest.param(("plugmem", "onnx"), id="plugmem-onnx", marks=needs_onnx),
    pytest.param(("plugmem", "hash", "postgres"), id="plugmem-hash-postgres"),
    pytest.param(("plugmem", "onnx", "postgres"), id="plugmem-onnx-postgres", marks=needs_onnx),
]

FOOD = {"text": "I love eating pizza with melted cheese", "kind": "food", "stars": 5}
WEATHER = {"text": "Sunny weather and a warm temperature today", "kind": "weather", "stars": 3}
CODE = {"text": "Python programming with type hints and unit tests", "kind": "code", "stars": 4}


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreKind]:
    name, embedder, *backend = request.param
    locate = request.getfixturevalue("postgres_schemas") if backend == ["postgres"] else None
    k = StoreKind(name, embedder, tmp_path, locate)
    yield k
    k.close_all()


def keys(items: list[SearchItem]) -> list[str]:
    return [i.key for i in items]


def _same_score(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) < 1e-6


def tied_groups(items: list[SearchItem]) -> list[frozenset[str]]:
    """Ranked keys grouped by equal score, so ties (whose order is free) compare as sets."""
    groups: list[list[SearchItem]] = []
    for item in items:
        if groups and _same_score(groups[-1][0].score, item.score):
            groups[-1].append(item)
        else:
            groups.append([item])
    return [frozenset(i.key for i in group) for group in groups]


def seed(store: BaseStore, ns: tuple[str, ...] = ("docs", "u1")) -> None:
    store.put(ns, "food", FOOD)
    store.put(ns, "weather", WEATHER)
    store.put(ns, "code", CODE)


# -- put / get / update / delete ----------------------------------------------------------
def test_put_then_get_returns_the_item(kind: StoreKind) -> None:
    store = kind.open()
    value = {"text": "hello", "nested": {"a": [1, 2, {"b": None}]}, "flag": True, "n": 1.5}
    store.put(("users", "u1"), "k1", value)
    item = store.get(("users", "u1"), "k1")
    assert isinstance(item, Item)
    assert (item.namespace, item.key, item.value) == (("users", "u1"), "k1", value)
    assert item.created_at.tzinfo is not None and item.updated_at >= item.created_at
    assert store.get(("users", "u1"), "missing") is None
    assert store.get(("users", "u2"), "k1") is None
    assert store.get(("users",), "k1") is None


def test_update_replaces_the_value_and_moves_updated_at(kind: StoreKind) -> None:
    store = kind.open()
    store.put(("users", "u1"), "k", {"text": "v1"})
    first = store.get(("users", "u1"), "k")
    store.put(("users", "u1"), "k", {"text": "v2", "extra": 1})
    second = store.get(("users", "u1"), "k")
    assert first is not None and second is not None
    assert second.value == {"text": "v2", "extra": 1}
    assert second.updated_at >= first.updated_at
    if kind.keeps_created_at:
        assert second.created_at == first.created_at
    # InMemoryStore stamps created_at anew on every put, although Item documents it as
    # the creation time; PlugMemStore (like the SQL stores) keeps it.


def test_delete_removes_the_item_everywhere(kind: StoreKind) -> None:
    store = kind.open()
    seed(store)
    store.delete(("docs", "u1"), "food")
    store.delete(("docs", "u1"), "never-existed")
    assert store.get(("docs", "u1"), "food") is None
    assert "food" not in keys(store.search(("docs",)))
    assert "food" not in keys(store.search(("docs",), query="pizza cheese"))
    store.put(("docs", "u1"), "food", FOOD)
    assert store.get(("docs", "u1"), "food") is not None


def test_get_returns_a_copy_the_caller_may_change(kind: StoreKind) -> None:
    store = kind.open()
    inner = [1]
    store.put(("n",), "k", {"text": "a", "list": inner})
    inner.append(2)
    item = store.get(("n",), "k")
    assert item is not None
    if kind.is_plugmem:
        assert item.value == {"text": "a", "list": [1]}
    # InMemoryStore keeps the caller's dict (top level copied, nested objects shared), so
    # mutating the nested list after put changes what it returns.


def test_a_batch_answers_in_order_and_the_last_put_wins(kind: StoreKind) -> None:
    store = kind.open()
    store.put(("b",), "old", {"text": "before"})
    results = store.batch(
        [
            GetOp(("b",), "old"),
            PutOp(("b",), "new", {"text": "first"}),
            SearchOp(("b",)),
            PutOp(("b",), "new", {"text": "second"}),
            ListNamespacesOp(),
        ]
    )
    assert isinstance(results[0], Item) and results[0].value == {"text": "before"}
    assert results[1] is None and results[3] is None
    # reads see the state before the batch's writes, as in every LangGraph store
    assert [i.key for i in results[2]] == ["old"]  # type: ignore[union-attr]
    assert results[4] == [("b",)]
    item = store.get(("b",), "new")
    assert item is not None and item.value == {"text": "second"}


# -- search without a query ---------------------------------------------------------------
def test_search_without_query_lists_the_prefix(kind: StoreKind) -> None:
    store = kind.open()
    seed(store, ("docs", "u1"))
    store.put(("docs", "u1", "deep"), "deep", {"text": "nested below"})
    store.put(("docs", "u10"), "sibling", {"text": "not under u1"})
    store.put(("other",), "x", {"text": "elsewhere"})
    found = store.search(("docs", "u1"))
    assert all(isinstance(i, SearchItem) and i.score is None for i in found)
    assert sorted(keys(found)) == ["code", "deep", "food", "weather"]
    assert sorted(keys(store.search(()))) == ["code", "deep", "food", "sibling", "weather", "x"]
    assert sorted(keys(store.search(("docs",)))) == ["code", "deep", "food", "sibling", "weather"]
    assert store.search(("nothing",)) == []


def test_search_without_query_puts_the_most_recent_first(kind: StoreKind) -> None:
    store = kind.open()
    for k in ("a", "b", "c"):
        store.put(("r",), k, {"text": k})
    store.put(("r",), "a", {"text": "a again"})
    found = keys(store.search(("r",)))
    assert sorted(found) == ["a", "b", "c"]
    if kind.orders_by_recency:
        assert found == ["a", "c", "b"]
    # InMemoryStore lists items in first-insertion order (["a", "b", "c"] here); the SQL
    # stores and PlugMemStore order by updated_at, newest first.


def test_limit_and_offset_page_through_results(kind: StoreKind) -> None:
    store = kind.open()
    for i in range(7):
        store.put(("p",), f"k{i}", {"text": f"item {i}", "i": i})
    everything = keys(store.search(("p",), limit=100))
    assert len(everything) == 7
    pages = [keys(store.search(("p",), limit=3, offset=o)) for o in (0, 3, 6)]
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [k for page in pages for k in page] == everything
    assert store.search(("p",), limit=0) == []
    assert store.search(("p",), offset=7) == []
    assert len(store.search(("p",))) == 7  # default limit is 10


# -- filters ------------------------------------------------------------------------------
def test_filter_by_equality(kind: StoreKind) -> None:
    store = kind.open()
    store.put(("f",), "a", {"text": "a", "color": "red", "meta": {"lang": "en", "v": 1}, "tags": ["x", "y"]})
    store.put(("f",), "b", {"text": "b", "color": "blue", "meta": {"lang": "fr", "v": 1}, "tags": ["x"]})
    store.put(("f",), "c", {"text": "c", "color": "red", "meta": {"lang": "fr", "v": 2}})

    def hits(flt: dict[str, object]) -> list[str]:
        return sorted(keys(store.search(("f",), filter=flt)))

    assert hits({"color": "red"}) == ["a", "c"]
    assert hits({"color": "red", "meta": {"lang": "fr"}}) == ["c"]
    assert hits({"meta": {"v": 1}}) == ["a", "b"]
    assert hits({"tags": ["x", "y"]}) == ["a"]
    assert hits({"tags": ["x"]}) == ["b"]
    assert hits({"color": "green"}) == []
    assert hits({}) == ["a", "b", "c"]


def test_filter_with_comparison_operators(kind: StoreKind) -> None:
    store = kind.open()
    for i, stars in enumerate([1, 2, 3, 4, 5]):
        store.put(("ops",), f"k{stars}", {"text": f"review {i}", "stars": stars, "label": f"s{stars}"})

    def hits(flt: dict[str, object]) -> list[str]:
        return sorted(keys(store.search(("ops",), filter=flt)))

    assert hits({"stars": {"$eq": 3}}) == ["k3"]
    assert hits({"stars": {"$ne": 3}}) == ["k1", "k2", "k4", "k5"]
    assert hits({"stars": {"$gt": 3}}) == ["k4", "k5"]
    assert hits({"stars": {"$gte": 3}}) == ["k3", "k4", "k5"]
    assert hits({"stars": {"$lt": 2.5}}) == ["k1", "k2"]
    assert hits({"stars": {"$lte": 2}}) == ["k1", "k2"]
    assert hits({"stars": {"$gte": 2, "$lt": 4}}) == ["k2", "k3"]
    assert hits({"stars": {"$gt": 1}, "label": {"$ne": "s5"}}) == ["k2", "k3", "k4"]
    assert hits({"label": {"$eq": "s1"}}) == ["k1"]


def test_filter_pages_after_filtering(kind: StoreKind) -> None:
    store = kind.open()
    for i in range(10):
        store.put(("fp",), f"k{i}", {"text": f"n {i}", "even": i % 2 == 0})
    all_even = keys(store.search(("fp",), filter={"even": True}, limit=100))
    assert sorted(all_even) == ["k0", "k2", "k4", "k6", "k8"]
    page = keys(store.search(("fp",), filter={"even": True}, limit=2, offset=2))
    assert page == all_even[2:4]


def test_an_unknown_filter_operator_is_an_error(kind: StoreKind) -> None:
    store = kind.open()
    store.put(("u",), "k", {"text": "x", "n": 1})
    with pytest.raises(ValueError):
        store.search(("u",), filter={"n": {"$regex": "1"}})


# -- semantic search ----------------------------------------------------------------------
def test_query_ranks_the_closest_item_first(kind: StoreKind) -> None:
    store = kind.open()
    seed(store)
    store.put(("elsewhere",), "food2", {"text": "pizza with melted cheese"})
    for query, best in [
        ("pizza with cheese", "food"),
        ("sunny warm weather", "weather"),
        ("python programming unit tests", "code"),
    ]:
        found = store.search(("docs",), query=query)
        assert keys(found)[0] == best, (query, keys(found))
        scores = [i.score for i in found]
        assert all(isinstance(s, float) and -1.0001 <= s <= 1.0001 for s in scores)
        assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]
        assert "food2" not in keys(found)


def test_query_with_filter_ranks_only_matching_items(kind: StoreKind) -> None:
    store = kind.open()
    seed(store)
    found = store.search(("docs",), query="pizza with cheese", filter={"stars": {"$lt": 5}})
    assert sorted(keys(found)) == ["code", "weather"]
    found = store.search(("docs",), query="pizza with cheese", filter={"kind": "food"})
    assert keys(found) == ["food"]


def test_query_results_page_with_limit_and_offset(kind: StoreKind) -> None:
    store = kind.open()
    seed(store)
    store.put(("docs", "u1"), "food-2", {"text": "cheese pizza slices with melted cheese"})
    full = store.search(("docs",), query="pizza with melted cheese", limit=10)
    assert len(full) == 4
    assert keys(store.search(("docs",), query="pizza with melted cheese", limit=2)) == keys(full)[:2]
    assert (
        keys(store.search(("docs",), query="pizza with melted cheese", limit=2, offset=1)) == keys(full)[1:3]
    )
    assert (
        keys(store.search(("docs",), query="pizza with melted cheese", limit=5, offset=3)) == keys(full)[3:]
    )


def test_an_item_put_with_index_false_is_found_but_not_scored(kind: StoreKind) -> None:
    store = kind.open()
    seed(store)
    store.put(("docs", "u1"), "secret", {"text": "pizza with melted cheese"}, index=False)
    found = store.search(("docs",), query="pizza with melted cheese", limit=10)
    assert keys(found)[0] == "food"
    assert keys(found)[-1] == "secret" and found[-1].score is None
    assert all(i.score is not None for i in found[:-1])
    item = store.get(("docs", "u1"), "secret")
    assert item is not None and item.value["text"] == "pizza with melted cheese"


def test_only_the_configured_fields_are_embedded(kind: StoreKind) -> None:
    store = kind.open(fields=["text"])
    store.put(("fs",), "a", {"text": "pizza with melted cheese", "note": "sunny weather forecast"})
    store.put(("fs",), "b", {"text": "rainy weather forecast", "note": "pizza"})
    assert keys(store.search(("fs",), query="sunny weather forecast"))[0] == "b"
    assert keys(store.search(("fs",), query="pizza with melted cheese"))[0] == "a"


def test_index_fields_given_at_put_override_the_store_default(kind: StoreKind) -> None:
    store = kind.open(fields=["text"])
    store.put(
        ("fo",), "a", {"text": "pizza with melted cheese", "note": "sunny weather forecast"}, index=["note"]
    )
    store.put(("fo",), "b", {"text": "python programming with unit tests"})
    assert keys(store.search(("fo",), query="sunny weather forecast"))[0] == "a"
    assert keys(store.search(("fo",), query="pizza with melted cheese"))[0] != "a"


def test_nested_and_array_paths_select_what_is_embedded(kind: StoreKind) -> None:
    store = kind.open(fields=["meta.title", "tags[*]"])
    store.put(("np",), "a", {"meta": {"title": "sunny weather forecast"}, "tags": ["travel"]})
    store.put(
        ("np",), "b", {"meta": {"title": "cooking"}, "tags": ["pizza with melted cheese", "python code"]}
    )
    store.put(("np",), "c", {"meta": {"title": "python programming with unit tests"}, "body": "pizza cheese"})
    assert keys(store.search(("np",), query="sunny weather forecast"))[0] == "a"
    # each array element is its own vector; the best one scores the item
    assert keys(store.search(("np",), query="pizza with melted cheese"))[0] == "b"
    assert keys(store.search(("np",), query="python programming with unit tests"))[0] == "c"


def test_whole_value_is_embedded_when_no_fields_are_configured(kind: StoreKind) -> None:
    store = kind.open(fields=None)
    store.put(("wv",), "a", {"title": "sunny weather forecast"})
    store.put(("wv",), "b", {"body": "pizza with melted cheese"})
    assert keys(store.search(("wv",), query="pizza with melted cheese"))[0] == "b"
    assert keys(store.search(("wv",), query="sunny weather forecast"))[0] == "a"


def test_without_an_index_a_query_is_ignored(kind: StoreKind) -> None:
    store = kind.open(indexed=False)
    seed(store)
    found = store.search(("docs",), query="pizza")
    assert sorted(keys(found)) == ["code", "food", "weather"]
    assert all(i.score is None for i in found)


def test_texts_are_embedded_in_one_call_per_batch(kind: StoreKind) -> None:
    store = kind.open(fields=["text"])
    emb = kind.last_embeddings
    assert emb is not None
    store.batch(
        [
            PutOp(("e",), "a", {"text": "first words"}),
            PutOp(("e",), "b", {"text": "second words"}),
            PutOp(("e",), "c", {"text": "not embedded"}, index=False),
        ]
    )
    assert len(emb.document_calls) == 1
    assert sorted(emb.document_calls[0]) == ["first words", "second words"]
    if kind.is_plugmem:
        store.batch([PutOp(("e",), "d", {"text": "same words"}), PutOp(("e",), "f", {"text": "same words"})])
        assert emb.document_calls[1] == ["same words"]
        assert keys(store.search(("e",), query="same words", limit=2)) == ["f", "d"]
    # Two items with the same text in one batch make InMemoryStore raise ValueError
    # ("Number of embeddings (1) does not match number of indices (2)"), since it embeds
    # each text once but then expects one vector per item; PlugMemStore shares the vector.


# -- namespaces ---------------------------------------------------------------------------
NAMESPACES = [
    ("a", "b", "c"),
    ("a", "b", "d", "e"),
    ("a", "b", "d", "i"),
    ("a", "b", "f"),
    ("a", "c", "f"),
    ("x", "y"),
]


def test_list_namespaces_with_prefix_suffix_and_depth(kind: StoreKind) -> None:
    store = kind.open()
    for ns in NAMESPACES:
        store.put(ns, "k", {"text": "/".join(ns)})
    assert store.list_namespaces() == sorted(NAMESPACES)
    assert store.list_namespaces(prefix=("a", "b"), max_depth=3) == [
        ("a", "b", "c"),
        ("a", "b", "d"),
        ("a", "b", "f"),
    ]
    assert store.list_namespaces(prefix=("a", "b", "d")) == [("a", "b", "d", "e"), ("a", "b", "d", "i")]
    assert store.list_namespaces(suffix=("f",)) == [("a", "b", "f"), ("a", "c", "f")]
    assert store.list_namespaces(prefix=("a",), suffix=("f",)) == [("a", "b", "f"), ("a", "c", "f")]
    assert store.list_namespaces(max_depth=1) == [("a",), ("x",)]
    assert store.list_namespaces(max_depth=2) == [("a", "b"), ("a", "c"), ("x", "y")]
    assert store.list_namespaces(prefix=("a", "bb")) == []
    assert store.list_namespaces(prefix=("nope",)) == []


def test_list_namespaces_with_wildcards(kind: StoreKind) -> None:
    store = kind.open()
    for ns in NAMESPACES:
        store.put(ns, "k", {"text": "x"})
    assert store.list_namespaces(prefix=("a", "*", "f")) == [("a", "b", "f"), ("a", "c", "f")]
    assert store.list_namespaces(prefix=("*", "b")) == [
        ("a", "b", "c"),
        ("a", "b", "d", "e"),
        ("a", "b", "d", "i"),
        ("a", "b", "f"),
    ]
    assert store.list_namespaces(suffix=("d", "*")) == [("a", "b", "d", "e"), ("a", "b", "d", "i")]
    assert store.list_namespaces(prefix=("*",), max_depth=1) == [("a",), ("x",)]


def test_list_namespaces_pages(kind: StoreKind) -> None:
    store = kind.open()
    for ns in NAMESPACES:
        store.put(ns, "k", {"text": "x"})
    everything = store.list_namespaces()
    assert store.list_namespaces(limit=2) == everything[:2]
    assert store.list_namespaces(limit=2, offset=2) == everything[2:4]
    assert store.list_namespaces(offset=5) == everything[5:]
    assert store.list_namespaces(limit=0) == []


def test_a_namespace_is_listed_while_it_holds_items(kind: StoreKind) -> None:
    store = kind.open()
    store.put(("gone",), "k", {"text": "x"})
    store.put(("kept",), "k", {"text": "x"})
    store.delete(("gone",), "k")
    store.get(("never", "written"), "k")
    listed = store.list_namespaces()
    assert ("kept",) in listed
    if kind.lists_only_live_namespaces:
        assert listed == [("kept",)]
    # InMemoryStore keeps listing a namespace after its last item is deleted, and lists a
    # namespace that was only read from; PlugMemStore lists namespaces that hold items.


@pytest.mark.parametrize(
    "namespace",
    [(), ("langgraph", "x"), ("a.b",), ("ok", ""), ("ok", 1), ("nul\x00",)],
    ids=["empty", "reserved-root", "period", "empty-label", "not-a-string", "nul"],
)
def test_put_rejects_an_invalid_namespace(kind: StoreKind, namespace: tuple[str, ...]) -> None:
    store = kind.open()
    with pytest.raises(InvalidNamespaceError):
        store.put(namespace, "k", {"text": "x"})


def test_reads_reject_invalid_namespace_labels(kind: StoreKind) -> None:
    store = kind.open()
    with pytest.raises(InvalidNamespaceError):
        store.get(("a.b",), "k")
    with pytest.raises(InvalidNamespaceError):
        store.search(("a", ""))
    with pytest.raises(InvalidNamespaceError):
        store.delete(("a.b",), "k")
    with pytest.raises(InvalidNamespaceError):
        store.list_namespaces(prefix=("a.b",))
    with pytest.raises(InvalidNamespaceError):
        store.list_namespaces(suffix=("",))


def test_reads_accept_refresh_ttl_without_a_ttl(kind: StoreKind) -> None:
    store = kind.open()
    store.put(("t",), "k", {"text": "x"}, ttl=None)
    item = store.get(("t",), "k", refresh_ttl=False)
    assert item is not None
    assert keys(store.search(("t",), refresh_ttl=True)) == ["k"]


# -- async twins --------------------------------------------------------------------------
async def test_async_put_get_update_delete(kind: StoreKind) -> None:
    store = kind.open()
    await store.aput(("as", "u1"), "k", {"text": "v1"})
    await store.aput(("as", "u1"), "k", {"text": "v2"})
    item = await store.aget(("as", "u1"), "k")
    assert item is not None and item.value == {"text": "v2"}
    assert store.get(("as", "u1"), "k") == item
    await store.adelete(("as", "u1"), "k")
    assert await store.aget(("as", "u1"), "k") is None


async def test_async_search_and_list(kind: StoreKind) -> None:
    store = kind.open()
    await asyncio.gather(
        store.aput(("docs", "u1"), "food", FOOD),
        store.aput(("docs", "u1"), "weather", WEATHER),
        store.aput(("docs", "u2"), "code", CODE),
    )
    found = await store.asearch(("docs",), query="pizza with cheese")
    assert keys(found)[0] == "food" and found[0].score is not None
    assert sorted(keys(await store.asearch(("docs",), filter={"stars": {"$gte": 4}}))) == ["code", "food"]
    assert await store.alist_namespaces(prefix=("docs",)) == [("docs", "u1"), ("docs", "u2")]
    assert await store.alist_namespaces(max_depth=1) == [("docs",)]
    with pytest.raises(InvalidNamespaceError):
        await store.aput(("a.b",), "k", {"text": "x"})


async def test_async_batch_matches_sync_batch(kind: StoreKind) -> None:
    store = kind.open()
    seed(store)
    ops: list[Op] = [
        GetOp(("docs", "u1"), "food"),
        SearchOp(("docs",), query="sunny warm weather", limit=2),
        ListNamespacesOp(match_conditions=(MatchCondition("prefix", ("docs",)),)),
    ]
    sync_results = store.batch(ops)
    async_results = await store.abatch(ops)
    assert sync_results[0] == async_results[0]
    assert keys(sync_results[1]) == keys(async_results[1])  # type: ignore[arg-type]
    assert sync_results[2] == async_results[2]


# -- the two stores side by side ----------------------------------------------------------
@pytest.mark.parametrize("embedder", ["hash", pytest.param("onnx", marks=needs_onnx)])
def test_both_stores_answer_the_same(embedder: str, tmp_path: Path) -> None:
    """Same ops on both stores: same items, same ranking, same scores."""
    mem_kind = StoreKind("inmemory", embedder, tmp_path)
    pm_kind = StoreKind("plugmem", embedder, tmp_path)
    reference = mem_kind.open(fields=["text", "tags[*]"])
    ours = pm_kind.open(fields=["text", "tags[*]"])
    assert isinstance(reference, InMemoryStore) and isinstance(ours, PlugMemStore)
    try:
        docs = [
            (("d", "u1"), "food", {**FOOD, "tags": ["dinner", "italian"]}),
            (("d", "u1"), "weather", WEATHER),
            (("d", "u2"), "code", {**CODE, "tags": ["software"]}),
            (("d", "u2"), "travel", {"text": "A train trip to the mountains in spring", "stars": 2}),
            (("e",), "other", {"text": "pizza night with friends", "stars": 1}),
        ]
        for store in (reference, ours):
            for ns, key, value in docs:
                store.put(ns, key, value)
            store.put(("d", "u1"), "hidden", {"text": "pizza and cheese", "stars": 3}, index=False)
        queries = ["pizza with cheese", "mountain train trip", "software", "warm sunny day"]
        for query in queries:
            for flt in (None, {"stars": {"$gte": 3}}):
                a = reference.search(("d",), query=query, filter=flt, limit=10)
                b = ours.search(("d",), query=query, filter=flt, limit=10)
                # equal scores may come in either order (InMemoryStore: insertion; ours: recency)
                assert tied_groups(a) == tied_groups(b), (query, flt)
                by_key = {i.key: i for i in a}
                for y in b:
                    x = by_key[y.key]
                    assert x.value == y.value and x.namespace == y.namespace
                    assert (x.score is None) == (y.score is None)
                    if x.score is not None and y.score is not None:
                        assert y.score == pytest.approx(x.score, abs=1e-5)
        for prefix in [(), ("d",), ("d", "u2")]:
            assert sorted(keys(reference.search(prefix, limit=50))) == sorted(
                keys(ours.search(prefix, limit=50))
            )
        assert reference.list_namespaces() == ours.list_namespaces()
        assert reference.list_namespaces(max_depth=1) == ours.list_namespaces(max_depth=1)
        for ns, key, _ in docs:
            got = reference.get(ns, key), ours.get(ns, key)
            assert got[0] is not None and got[1] is not None and got[0].value == got[1].value
    finally:
        ours.close()
