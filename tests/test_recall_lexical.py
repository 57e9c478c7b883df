"""What the agent receives without an embedding model (lexical recall only): the same guarantees.

A machine without the model still gets current facts first, stale ones marked, the procedure
for a how-to, and nothing for an off-topic question; with BM25 in RAM and with SQLite FTS5 alike.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _story import ask, build, lines, tag_of, text_of

from plugmem import MemoryPolicy, PlugMem


@pytest.fixture(scope="module", params=["ram", "fts5"])
def story(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[PlugMem]:
    """The story once per lexical backend: BM25 in RAM, and SQLite FTS5 for every namespace."""
    disk_from = 0 if request.param == "fts5" else None
    mem = build(
        tmp_path_factory.mktemp("lexical") / "mem",
        MemoryPolicy(full_history_when_fits=False, lexical_on_disk_from=disk_from),
        embeddings=None,
    )
    assert mem.lexical_only
    yield mem
    mem.close()


@pytest.mark.parametrize(
    ("query", "current", "old"),
    [("Where do I live?", "Bristol", "Leeds"), ("What's my favourite band?", "Wet Leg", "Radiohead")],
)
def test_current_first_and_stale_marked_without_vectors(
    story: PlugMem, query: str, current: str, old: str
) -> None:
    r = ask(story, query)
    assert current in lines(r)[0], r.context
    for ln in lines(r)[1:]:
        if old in text_of(ln):
            assert "superseded" in tag_of(ln) and current in tag_of(ln), ln


def test_how_to_without_vectors(story: PlugMem) -> None:
    r = ask(story, "How do I search flights?")
    assert lines(r)[0].startswith("[how-to, worked 2×") and "month must be YYYY-MM-DD" in lines(r)[0]


def test_off_topic_without_vectors(story: PlugMem) -> None:
    r = ask(story, "What is the boiling point of mercury?")
    assert r.items == [] and r.context == "" and "nothing relevant" in r.reason
