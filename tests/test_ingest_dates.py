"""Dates: benchmark timestamp formats, relative expressions, and query time constraints."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from plugmem.dates import find_dates, parse_datetime, parse_time_constraints, resolve

ANCHOR = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)  # a Monday


def test_parse_benchmark_formats() -> None:
    assert parse_datetime("1:56 pm on 8 May, 2023") == datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
    assert parse_datetime("12:04 am on 1 Jan, 2024") == datetime(2024, 1, 1, 0, 4, tzinfo=UTC)
    assert parse_datetime("2023/05/20 (Sat) 05:13") == datetime(2023, 5, 20, 5, 13, tzinfo=UTC)
    assert parse_datetime("2023-05-08T10:00:00+02:00") == datetime(2023, 5, 8, 8, 0, tzinfo=UTC)
    assert parse_datetime("not a date") is None
    ts = parse_datetime("1:56 pm on 8 May, 2023")
    assert ts is not None and ts.tzinfo is not None


def _day(text: str, anchor: datetime = ANCHOR) -> date:
    r = resolve(text, anchor)
    assert r is not None, text
    return r.start.date()


@pytest.mark.parametrize(
    ("text", "start", "end", "granularity"),
    [
        ("I went there yesterday", date(2023, 5, 7), date(2023, 5, 7), "day"),
        ("today", date(2023, 5, 8), date(2023, 5, 8), "day"),
        ("tomorrow", date(2023, 5, 9), date(2023, 5, 9), "day"),
        ("I painted it last year", date(2022, 1, 1), date(2022, 12, 31), "year"),
        ("last week", date(2023, 5, 1), date(2023, 5, 7), "week"),
        ("next week", date(2023, 5, 15), date(2023, 5, 21), "week"),
        ("last month", date(2023, 4, 1), date(2023, 4, 30), "month"),
        ("next month", date(2023, 6, 1), date(2023, 6, 30), "month"),
        ("this month", date(2023, 5, 1), date(2023, 5, 31), "month"),
        ("next year", date(2024, 1, 1), date(2024, 12, 31), "year"),
        ("we went camping last weekend", date(2023, 5, 6), date(2023, 5, 7), "weekend"),
        ("this weekend", date(2023, 5, 13), date(2023, 5, 14), "weekend"),
        ("last Saturday", date(2023, 5, 6), date(2023, 5, 6), "day"),
        ("next Friday", date(2023, 5, 12), date(2023, 5, 12), "day"),
        ("3 days ago", date(2023, 5, 5), date(2023, 5, 5), "day"),
        ("two weeks ago", date(2023, 4, 24), date(2023, 4, 30), "week"),
        ("a month ago", date(2023, 4, 1), date(2023, 4, 30), "month"),
        ("three years ago", date(2020, 1, 1), date(2020, 12, 31), "year"),
        ("a few days ago", date(2023, 5, 3), date(2023, 5, 6), "approx"),
        ("in May", date(2023, 5, 1), date(2023, 5, 31), "month"),
        ("in 2022", date(2022, 1, 1), date(2022, 12, 31), "year"),
        ("in June 2023", date(2023, 6, 1), date(2023, 6, 30), "month"),
        ("on 8 May, 2023", date(2023, 5, 8), date(2023, 5, 8), "day"),
        ("last summer", date(2022, 6, 1), date(2022, 8, 31), "season"),
    ],
)
def test_relative_expressions(text: str, start: date, end: date, granularity: str) -> None:
    r = resolve(text, ANCHOR)
    assert r is not None, text
    assert (r.start.date(), r.end.date(), r.granularity) == (start, end, granularity)
    assert r.start.tzinfo is not None and r.start <= r.end


def test_matched_text_and_span() -> None:
    text = "I went to a support group yesterday and it was great"
    r = resolve(text, ANCHOR)
    assert r is not None
    assert r.text == "yesterday"
    assert text[r.span[0] : r.span[1]] == "yesterday"
    assert r.label() == "7 May 2023"


def test_modal_may_is_not_a_month() -> None:
    assert find_dates("this may be hard, I may go", ANCHOR) == []
    assert find_dates("I may 5 times", ANCHOR) == []


def test_direction_settles_ambiguous_weekday() -> None:
    assert _day("on Friday") == date(2023, 5, 5)
    r = resolve("on Friday", ANCHOR, prefer="future")
    assert r is not None and r.start.date() == date(2023, 5, 12)


def test_multiple_expressions_in_order() -> None:
    found = find_dates("Yesterday I called; next month I move", ANCHOR)
    assert [r.text.lower() for r in found] == ["yesterday", "next month"]


def test_query_time_constraints() -> None:
    [june] = parse_time_constraints("What did Caroline do in June 2023?", ANCHOR)
    assert (june.start.date(), june.end.date()) == (date(2023, 6, 1), date(2023, 6, 30))
    [last] = parse_time_constraints("what happened last month", ANCHOR)
    assert last.start.date() == date(2023, 4, 1)
    [before] = parse_time_constraints("What did she paint before June 2023?", ANCHOR)
    assert before.granularity == "before" and before.contains(datetime(2023, 5, 31, tzinfo=UTC))
    assert not before.contains(datetime(2023, 6, 1, tzinfo=UTC))
    [since] = parse_time_constraints("anything new since 2020?", ANCHOR)
    assert since.start.date() == date(2020, 1, 1) and since.end >= ANCHOR
    assert parse_time_constraints("What is Caroline's favorite color?", ANCHOR) == []


def test_time_constraints_default_to_now() -> None:
    before = (datetime.now(UTC) - timedelta(days=1)).date()
    [r] = parse_time_constraints("what did I do yesterday")
    after = (datetime.now(UTC) - timedelta(days=1)).date()
    assert r.start.date() in (before, after)
