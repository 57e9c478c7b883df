"""A time window lifts what was said inside it and lowers what was said before it, not what came after.

A turn is dated by when it was said: "I missed two fun runs in March", said in April, tells March.
"""

from __future__ import annotations

from datetime import UTC, datetime

from plugmem.index.catalog import Catalog, Doc
from plugmem.namespace import NamespaceKey
from plugmem.recall.context import Scored
from plugmem.recall.scope import apply_scope, time_scope

NOW = datetime(2023, 4, 26, 12, tzinfo=UTC)


def _turn(n: int, when: datetime, text: str) -> Scored:
    doc = Doc(f"t:{n}", "turn", f"user: {text}", when, "s1", [str(n)], seq=n)
    return Scored(doc, 1.0)


def _order(query: str) -> list[str]:
    scope = time_scope(query, NOW, lambda phrase: None)
    assert scope is not None and not scope.broad
    items = [
        _turn(1, datetime(2023, 2, 20, tzinfo=UTC), "Planning to sign up for two fun runs next month."),
        _turn(2, datetime(2023, 4, 20, tzinfo=UTC), "I missed two fun runs in March because of work."),
        _turn(3, datetime(2023, 3, 12, tzinfo=UTC), "Ran the spring fun run today!"),
    ]
    return [s.doc.id for s in apply_scope(items, scope, Catalog(NamespaceKey("u/1"), None, None))]


def test_inside_first_then_what_was_said_after_then_what_was_said_before() -> None:
    assert _order("How many fun runs did I miss in March?") == ["t:3", "t:2", "t:1"]


def _scores(query: str) -> tuple[float, float, float]:
    scope = time_scope(query, NOW, lambda phrase: None)
    assert scope is not None
    inside, after, before = (
        _turn(1, datetime(2023, 3, 5, tzinfo=UTC), "a"),
        _turn(2, datetime(2023, 4, 5, tzinfo=UTC), "b"),
        _turn(3, datetime(2023, 2, 5, tzinfo=UTC), "c"),
    )
    apply_scope([inside, after, before], scope, Catalog(NamespaceKey("u/1"), None, None))
    return inside.score, after.score, before.score


def test_a_pointed_question_keeps_what_came_after_at_its_rank() -> None:
    inside, after, before = _scores("Which doctor did I see in March?")
    assert inside > after == 1.0 > before


def test_a_broad_look_back_lowers_everything_outside_the_window() -> None:
    inside, after, before = _scores("What did I do in March?")
    assert inside > 1.0 > after and after == before
