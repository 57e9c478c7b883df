"""Dates: absolute timestamps in the formats benchmarks use, and relative expressions resolved.

Why: "yesterday" is meaningless a week later. Facts keep the date it resolves to against
the moment it was said, and recall turns "last month" in a query into a range it can filter on.
All results are timezone-aware UTC; ranges are inclusive on both ends. It sits beside the stages
rather than in one: ingest resolves what was said, recall what is asked, and neither imports the other.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

Granularity = Literal[
    "day", "week", "weekend", "month", "season", "year", "decade", "approx", "range", "before", "after"
]
Direction = Literal["past", "future", "nearest"]

MIN_TIME = datetime(1, 1, 2, tzinfo=UTC)
MAX_TIME = datetime(9999, 12, 30, tzinfo=UTC)
_US = timedelta(microseconds=1)

MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
MONTHS: dict[str, int] = {m.lower(): i + 1 for i, m in enumerate(MONTH_NAMES)}
MONTHS.update(
    {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10}
)
MONTHS.update({"nov": 11, "dec": 12})
MONTH_NAMES_LOWER = frozenset(m.lower() for m in MONTH_NAMES)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SEASONS = {"spring": 3, "summer": 6, "fall": 9, "autumn": 9, "winter": 12}
NUMBER_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
}
# fuzzy quantities: how many units back the expression may mean (inclusive bounds)
FUZZY = {"couple": (1, 3), "few": (2, 5), "several": (3, 7)}

# "May" is also a verb ("this may be"): only the capitalised spelling counts as the month, and
# abbreviations only when capitalised; `_month_ok` checks what the case-blind pattern matched.
_MONTH = (
    r"(?P<month>january|february|march|april|may|june|july|august|september|october|november|december"
    r"|(?:jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)\.?)"
)
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
_NUM = (
    r"(?P<num>\d{1,3}|a\s+couple(?:\s+of)?|couple\s+of|a\s+few|few|several|an?|one|two|three|four|five|six"
    r"|seven|eight|nine|ten|eleven|twelve)"
)
_WEEKDAY = r"(?P<weekday>monday|tuesday|wednesday|thursday|friday|saturday|sunday)"


@dataclass(frozen=True, slots=True)
class TimeRange:
    """A resolved time expression: where in the text it was, and the period it names."""

    start: datetime
    end: datetime  # inclusive
    granularity: Granularity
    text: str = ""
    span: tuple[int, int] = (0, 0)

    def contains(self, ts: datetime) -> bool:
        return self.start <= ts <= self.end

    def label(self) -> str:
        """Human-readable period, as it is written into statements: "7 May 2023", "May 2023"."""
        if self.granularity == "before":
            return "before " + format_date(self.end + _US)
        if self.granularity == "after":
            return "after " + format_date(self.start - _US)
        s, e = self.start.date(), self.end.date()
        if self.granularity == "season":
            name = {3: "spring", 6: "summer", 9: "fall", 12: "winter"}.get(s.month, "season")
            return f"{name} {s.year}" if s.year == e.year else f"{name} {s.year}–{str(e.year)[2:]}"
        if s == e:
            return format_date(s)
        if s.day == 1 and e == _month_end(e.year, e.month):
            if s.month == 1 and e.month == 12 and s.year == e.year:
                return str(s.year)
            if s.month == 1 and e.month == 12 and s.year % 10 == 0 and e.year == s.year + 9:
                return f"the {s.year}s"
            if (s.year, s.month) == (e.year, e.month):
                return f"{MONTH_NAMES[s.month - 1]} {s.year}"
        if s.year == e.year and s.month == e.month:
            return f"{s.day}–{e.day} {MONTH_NAMES[s.month - 1]} {s.year}"
        if s.year == e.year:
            return f"{s.day} {MONTH_NAMES[s.month - 1]} – {format_date(e)}"
        return f"{format_date(s)} – {format_date(e)}"


def format_date(d: date | datetime) -> str:
    """`8 May 2023`: the unambiguous form statements carry."""
    return f"{d.day} {MONTH_NAMES[d.month - 1]} {d.year}"


def as_utc(ts: datetime) -> datetime:
    """Naive datetimes are taken as UTC, aware ones converted."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


# -- absolute timestamps ------------------------------------------------------------------
_LOCOMO = re.compile(
    r"^\s*(?P<h>\d{1,2})[:.](?P<mi>\d{2})\s*(?P<ampm>[ap]\.?m\.?)\s+on\s+"
    + _DAY
    + r"\s+"
    + _MONTH
    + r",?\s+"
    + _YEAR,
    re.I,
)
_LONGMEMEVAL = re.compile(
    r"^\s*(?P<y>\d{4})/(?P<mo>\d{1,2})/(?P<d>\d{1,2})\s*(?:\([A-Za-z]{3}\))?\s*(?:(?P<h>\d{1,2}):(?P<mi>\d{2}))?\s*$"
)


def _month_number(name: str) -> int:
    return MONTHS[name.lower().rstrip(".")]


def _month_ok(m: re.Match[str]) -> bool:
    word = m["month"]
    full = word.lower().rstrip(".") in MONTH_NAMES_LOWER
    if word.lower() == "may" or not full:
        return word[0].isupper()
    return True


def parse_datetime(text: str) -> datetime | None:
    """Parse LoCoMo ("1:56 pm on 8 May, 2023"), LongMemEval ("2023/05/20 (Sat) 05:13"), ISO, or a plain date."""
    m = _LOCOMO.match(text)
    if m:
        hour = int(m["h"]) % 12 + (12 if m["ampm"].lower().startswith("p") else 0)
        try:
            return datetime(
                int(m["year"]), _month_number(m["month"]), int(m["day"]), hour, int(m["mi"]), tzinfo=UTC
            )
        except ValueError:
            return None
    m = _LONGMEMEVAL.match(text)
    if m:
        try:
            return datetime(
                int(m["y"]), int(m["mo"]), int(m["d"]), int(m["h"] or 0), int(m["mi"] or 0), tzinfo=UTC
            )
        except ValueError:
            return None
    stripped = text.strip()
    try:
        return as_utc(datetime.fromisoformat(stripped.replace("Z", "+00:00")))
    except ValueError:
        pass
    for r in find_dates(stripped, datetime(2000, 1, 1, tzinfo=UTC)):
        if r.granularity == "day" and r.span == (0, len(stripped)):
            return r.start
    return None


# -- calendar helpers ---------------------------------------------------------------------
def _month_end(y: int, m: int) -> date:
    return (date(y + (m == 12), m % 12 + 1, 1)) - timedelta(days=1)


def _add_months(y: int, m: int, n: int) -> tuple[int, int]:
    k = y * 12 + (m - 1) + n
    return k // 12, k % 12 + 1


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


Span = tuple[date, date, Granularity]


def _month_span(y: int, m: int) -> Span:
    return date(y, m, 1), _month_end(y, m), "month"


def _season_span(y: int, start_month: int) -> Span:
    ey, em = _add_months(y, start_month, 2)
    return date(y, start_month, 1), _month_end(ey, em), "season"


def _pick(cands: list[Span], a: date, prefer: Direction) -> Span | None:
    """Of the candidate periods, the latest one that had started (past) or the first not yet over (future)."""
    cands = sorted(cands, key=lambda c: c[0])
    if prefer == "nearest" and cands:
        return min(cands, key=lambda c: min(abs((c[0] - a).days), abs((c[1] - a).days)))
    if prefer == "past":
        started = [c for c in cands if c[0] <= a]
        return started[-1] if started else (cands[0] if cands else None)
    pending = [c for c in cands if c[1] >= a]
    return pending[0] if pending else (cands[-1] if cands else None)


def _weekend_before(a: date) -> tuple[date, date]:
    """The most recent Saturday–Sunday that ended before `a`."""
    sunday = a - timedelta(days=(a.weekday() + 1) % 7 or 7)
    return sunday - timedelta(days=1), sunday


def _count(raw: str) -> tuple[int, int, bool]:
    """Number words to (low, high, fuzzy)."""
    w = " ".join(raw.lower().split())
    if w.isdigit():
        return int(w), int(w), False
    for key, (lo, hi) in FUZZY.items():
        if key in w:
            return lo, hi, True
    n = NUMBER_WORDS.get(w, 1)
    return n, n, False


# -- rules --------------------------------------------------------------------------------
Handler = Callable[[re.Match[str], date, Direction], Span | None]
_RULES: list[tuple[re.Pattern[str], Handler]] = []


def _rule(pattern: str, flags: int = re.I) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        _RULES.append((re.compile(pattern, flags), fn))
        return fn

    return deco


def _safe_date(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


@_rule(r"\b" + _DAY + r"\s+(?:of\s+)?" + _MONTH + r",?\s+" + _YEAR + r"\b")
def _day_month_year(m: re.Match[str], a: date, prefer: Direction) -> Span | None:
    d = _safe_date(int(m["year"]), _month_number(m["month"]), int(m["day"]))
    return (d, d, "day") if d else None


@_rule(r"\b" + _MONTH + r"\s+" + _DAY + r",?\s+" + _YEAR + r"\b")
def _month_day_year(m: re.Match[str], a: date, prefer: Direction) -> Span | None:
    d = _safe_date(int(m["year"]), _month_number(m["month"]), int(m["day"]))
    return (d, d, "day") if d else None


@_rule(r"\b(?P<y>(?:19|20)\d\d)[-/](?P<mo>[01]?\d)[-/](?P<d>[0-3]?\d)\b")
def _iso_day(m: re.Match[str], a: date, prefer: Direction) -> Span | None:
    d = _safe_date(int(m["y"]), int(m["mo"]), int(m["d"]))
    return (d, d, "day") if d else None


@_rule(r"\b" + _MONTH + r",?\s+(?:of\s+)?" + _YEAR + r"\b")
def _month_year(m: re.Match[str], a: date, prefer: Direction) -> Span | None:
    return _month_span(int(m["year"]), _month_number(m["month"]))


def _day_in_some_year(month: int, day: int, a: date, prefer: Direction) -> Span | None:
    cands: list[Span] = []
    for y in (a.year - 1, a.year, a.year + 1):
        d = _safe_date(y, month, day)
        if d:
            cands.append((d, d, "day"))
    return _pick(cands, a, prefer)


@_rule(r"\b(?:the\s+)?" + _DAY + r"\s+(?:of\s+)?" + _MONTH + r"\b")
def _day_month(m: re.Match[str], a: date, prefer: Direction) -> Span | None:
    return _day_in_some_year(_month_number(m["month"]), int(m["day"]), a, prefer)


@_rule(r"\b" + _MONTH + r"\s+(?:the\s+)?" + _DAY + r"\b(?!:)")
def _month_day(m: re.Match[str], a: date, prefer: Direction) -> Span | None:
    return _day_in_some_year(_month_number(m["month"]), int(m["day"]), a, prefer)


@_rule(
    r"\b(?P<rel>in|last|next|this|since|during|early|mid|late|by|until|before|after|of|this\s+past)\s+"
    + _MONTH
    + r"\b(?!\.?,?\s+(?:of\s+)?(?:(?:19|20)\d\d|[0-3]?\d)\b)"
)
def _relative_month(m: re.Match[str], a: date, prefer: Direction) -> Span | None:
    month = _month_number(m["month"])
    rel = " ".join(m["rel"].lower().split())
    if rel == "this":
        return _month_span(a.year, month)
    if rel in ("last", "this past"):
        y = a.year if month < a.month else a.year - 1
        return _month_span(y, month)
    if rel == "next":
        y = a.year if month > a.month else a.year + 1
        return _month_span(y, month)
    return _pick([_month_span(y, month) for y in (a.year - 1, a.year, a.year + 1)], a, prefer)


@_rule(
    r"\b(?:(?:back\s+)?in|since|during|from|by|until|before|after|of|around|early|mid|late)\s+"
    + _YEAR
    + r"\b(?!['’]?s)"
)
def _year(m: re.Match[str], a: date, prefer: Direction) -> Span | None:
    y = int(m["year"])
    return date(y, 1, 1), date(y, 12, 31), "year"


@_rule(
    r"\b(?:the\s+)?(?:early\s+|mid\s+|late\s+)?(?P<dec>(?:19|20)\d)0['’]?s\b|\bthe\s+(?:early\s+|mid\s+|late\s+)?['’]?(?P<dec2>[5-9])0['’]?s\b"
)
def _decade(m: re.Match[str], a: date, prefer: Direction) -> Span | None:
    y = int(m["dec"]) * 10 if m["dec"] else 1900 + int(m["dec2"]) * 10
    return date(y, 1, 1), date(y + 9, 12, 31), "decade"


_SINGLE_DAYS = {
    "the day before yesterday": -2,
    "the day after tomorrow": 2,
    "yesterday": -1,
    "last night": -1,
    "today": 0,
    "tonight": 0,
    "this morning": 0,
    "this afternoon": 0,
    "this evening": 0,
    "tomorrow": 1,
}


@_rule(r"\b(?P<w>" + "|".join(sorted(_SINGLE_DAYS, key=len, reverse=True)).replace(" ", r"\s+") + r")\b")
def _single_day(m: re.Match[str], a: date, prefer: Direction) -> Span | None:
    d = a + timedelta(days=_SINGLE_DAYS[" ".join(m["w"].lower().split())])
    return d, d, "day"


@_rule(
    r"\b(?P<rel>this\s+past|the\s+past|the\s+previous|the\s+last|last|next|this|past|coming|previous|the\s+coming)"
    r"\s+(?P<unit>week|month|year|weekend)\b(?!s)"
)
def _period(m: re.Match[str], a: date, prefer: Direction) -> Span | None:
    rel = " ".join(m["rel"].lower().split()).removeprefix("the ")
    unit = m["unit"].lower()
    rolling = rel in ("past", "this past") and unit != "weekend"
    if rolling:  # "the past week": the seven days up to now
        if unit == "week":
            return a - timedelta(days=7), a, "range"
        if unit == "month":
            y, mo = _add_months(a.year, a.month, -1)
            return _safe_date(y, mo, min(a.day, _month_end(y, mo).day)) or a, a, "range"
        return _safe_date(a.year - 1, a.month, min(a.day, 28)) or a, a, "range"
    step = {"last": -1, "previous": -1, "past": -1, "this past": -1, "next": 1, "coming": 1}.get(rel, 0)
    if unit == "week":
        mon = _monday(a) + timedelta(weeks=step)
        return mon, mon + timedelta(days=6), "week"
    if unit == "month":
        y, mo = _add_months(a.year, a.month, step)
        s, e, _ = _month_span(y, mo)
        return s, e, "month"
    if unit == "year":
        return date(a.year + step, 1, 1), date(a.year + step, 12, 31), "year"
    # weekend
    if step < 0:
        sat, sun = _weekend_before(a)
        return sat, sun, "weekend"
    sat = _monday(a) + timedelta(days=5)
    if step > 0 and a.weekday() >= 5:
        sat += timedelta(weeks=1)
    return sat, sat + timedelta(days=1), "weekend"


@_rule(
    r"\b(?:in\s+|over\s+|during\s+)?(?:the\s+)?(?:past|last|previous)\s+"
    + _NUM
    + r"\s+(?P<unit>days|weeks|months|years)\b"
)
def _rolling(m: re.Match[str], a: date, prefer: Direction) -> Span | None:
    _, hi, _ = _count(m["num"])
    unit = m["unit"].lower()
    if unit == "days":
        return a - timedelta(days=hi), a, "range"
    if unit == "weeks":
        return a - timedelta(weeks=hi), a, "range"
    if unit == "months":
        y, mo = _add_months(a.year, a.month, -hi)
        return date(y, mo, min(a.day, _month_end(y, mo).day)), a, "range"
    return date(a.year - hi, a.month, min(a.day, 28)), a, "range"


@_rule(r"\b" + _NUM + r"\s+(?P<unit>days?|weeks?|weekends?|months?|years?)\s+ago\b")
def _ago(m: re.Match[str], a: date, prefer: Direction) -> Span | None:
    lo, hi, fuzzy = _count(m["num"])
    unit = m["unit"].lower().rstrip("s")
    if unit == "day":
        if fuzzy:
            return a - timedelta(days=hi), a - timedelta(days=lo), "approx"
        d = a - timedelta(days=lo)
        return d, d, "day"
    if unit == "week":
        if fuzzy:
            return a - timedelta(weeks=hi), a - timedelta(weeks=lo), "approx"
        mon = _monday(a - timedelta(weeks=lo))
        return mon, mon + timedelta(days=6), "week"
    if unit == "weekend":
        sat, sun = _weekend_before(a)
        back = timedelta(weeks=lo - 1)
        if fuzzy:
            return sat - timedelta(weeks=hi - 1), sun - back, "approx"
        return sat - back, sun - back, "weekend"
    if unit == "month":
        y1, m1 = _add_months(a.year, a.month, -hi)
        y2, m2 = _add_months(a.year, a.month, -lo)
        return date(y1, m1, 1), _month_end(y2, m2), "approx" if fuzzy else "month"
    return date(a.year - hi, 1, 1), date(a.year - lo, 12, 31), "approx" if fuzzy else "year"


@_rule(r"\bthe\s+other\s+day\b")
def _other_day(m: re.Match[str], a: date, prefer: Direction) -> Span | None:
    return a - timedelta(days=5), a - timedelta(days=1), "approx"


_HABIT = re.compile(r"\b(?:every|each|on\s+alternate|most)\s+$", re.I)


@_rule(
    r"\b(?:(?P<rel>last|next|this|on|coming|this\s+past|past|by|until|till|before)\s+)?"
    + _WEEKDAY
    + r"\b(?!s\b|\s+(?:nights|mornings|evenings|afternoons)\b)"
)
def _weekday(m: re.Match[str], a: date, prefer: Direction) -> Span | None:
    """A named weekday. A habit ("every Friday", "Friday nights") names no date; a deadline
    ("by Sunday") is the coming one, even said the day before."""
    if _HABIT.search(m.string[: m.start()]):
        return None
    wd = WEEKDAYS.index(m["weekday"].lower())
    rel = " ".join((m["rel"] or "").lower().split())
    if rel in ("by", "until", "till", "before"):
        rel, prefer = "next", "future"
    if rel in ("", "on") and prefer == "nearest" and wd == a.weekday():
        return a, a, "day"  # "what a fun Sunday", said on a Sunday
    if rel == "this":
        d = _monday(a) + timedelta(days=wd)
        return d, d, "day"
    if rel in ("last", "past", "this past") or (rel in ("", "on") and prefer != "future"):
        back = (a.weekday() - wd) % 7 or 7
        d = a - timedelta(days=back)
        return d, d, "day"
    ahead = (wd - a.weekday()) % 7 or 7
    d = a + timedelta(days=ahead)
    return d, d, "day"


_WEEKDAY_ABBR = {
    "mon": 0,
    "tue": 1,
    "tues": 1,
    "wed": 2,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "fri": 4,
    "sat": 5,
    "sun": 6,
}


@_rule(r"\b(?P<rel>last|next|this|on)\s+(?-i:(?P<abbr>Mon|Tues?|Wed|Thu(?:rs?)?|Fri|Sat|Sun))\b\.?")
def _weekday_abbr(m: re.Match[str], a: date, prefer: Direction) -> Span | None:
    """ "last Fri", "on Sat": abbreviations only with a word that makes them a day ("I sat down")."""
    full = WEEKDAYS[_WEEKDAY_ABBR[m["abbr"].lower()]]
    return _weekday(re.match(r"(?P<rel>\w+) (?P<weekday>\w+)", f"{m['rel']} {full}"), a, prefer)  # type: ignore[arg-type]


@_rule(
    r"\b(?P<rel>last|next|this|this\s+past|in|during|over|in\s+the|during\s+the|over\s+the|early|late)\s+"
    r"(?P<season>spring|summer|fall|autumn|winter)\b"
)
def _season(m: re.Match[str], a: date, prefer: Direction) -> Span | None:
    start = SEASONS[m["season"].lower()]
    rel = " ".join(m["rel"].lower().split())
    cands = [_season_span(y, start) for y in (a.year - 2, a.year - 1, a.year, a.year + 1)]
    current = next((c for c in cands if c[0] <= a <= c[1]), None)
    if rel == "this":
        if current:
            return current
        return _pick(cands, a, prefer)
    if rel in ("last", "this past"):
        ended = [c for c in cands if c[1] < a]
        return ended[-1] if ended else None
    if rel == "next":
        upcoming = [c for c in cands if c[0] > a]
        return upcoming[0] if upcoming else None
    return _pick(cands, a, prefer)


# -- public API ---------------------------------------------------------------------------
def find_dates(text: str, anchor: datetime, *, prefer: Direction = "past") -> list[TimeRange]:
    """Every time expression in `text`, resolved against `anchor`, in text order.

    Overlapping matches keep the longest ("8 May, 2023" over "8 May"). `prefer` settles
    expressions that could point either way ("on Saturday", "in May"): past for things
    that happened, future for plans.
    """
    a = as_utc(anchor).date()
    cands: list[tuple[int, int, int, Span, str]] = []
    for prio, (pat, fn) in enumerate(_RULES):
        for m in pat.finditer(text):
            if "month" in pat.groupindex and m["month"] and not _month_ok(m):
                continue
            res = fn(m, a, prefer)
            if res is not None:
                cands.append((m.start(), m.end(), prio, res, m.group(0)))
    chosen: list[tuple[int, int, int, Span, str]] = []
    for c in sorted(cands, key=lambda c: (-(c[1] - c[0]), c[2], c[0])):
        if all(c[1] <= o[0] or c[0] >= o[1] for o in chosen):
            chosen.append(c)
    chosen.sort(key=lambda c: c[0])
    out: list[TimeRange] = []
    for s, e, _, (d1, d2, gran), txt in chosen:
        start = datetime.combine(d1, time(), tzinfo=UTC)
        end = datetime.combine(d2 + timedelta(days=1), time(), tzinfo=UTC) - _US
        out.append(TimeRange(start, end, gran, txt, (s, e)))
    return out


FUTURE = re.compile(
    r"\b(will|going to|gonna|plan(?:ning)? to|next|tomorrow|upcoming|can['’]t wait|looking forward|this coming)\b|['’]ll\b",
    re.I,
)
REQUEST = re.compile(
    r"^\W*(?:please\s+)?(?:(?:can|could|would|will)\s+you\s+(?:please\s+)?)?(?:find|book|search|get|look"
    r"|send|check|order|schedule|buy|reserve|remind|set\s+up|plan)\b",
    re.I,
)
PAST = re.compile(r"\b(?:was|were|did|had|went|came|got|saw|took|made|met|\w{3,}ed)\b", re.I)
_SENTENCE_EDGE = re.compile(r"[.!?…\n]")


def _sentence_around(text: str, start: int, end: int) -> str:
    left = max((m.end() for m in _SENTENCE_EDGE.finditer(text, 0, start)), default=0)
    right = _SENTENCE_EDGE.search(text, end)
    return text[left : right.start() if right else len(text)]


def direction(sentence: str) -> Direction:
    """How a sentence reads a date that could point either way: plans and requests look ahead,
    narration in the past tense looks back, anything else takes the nearest occurrence."""
    if FUTURE.search(sentence) or REQUEST.search(sentence):
        return "future"
    return "past" if PAST.search(sentence) else "nearest"


def annotate_dates(text: str, anchor: datetime) -> tuple[str, TimeRange | None]:
    """Write the resolved date after each relative expression: "yesterday (7 May 2023)".

    Each expression is read in the direction its own sentence points (`direction`). Returns
    the text and the first range found. Absolute dates are left as they are.
    """
    found: list[TimeRange] = []
    by_way: dict[Direction, dict[tuple[int, int], TimeRange]] = {}
    for r in find_dates(text, anchor, prefer="past"):
        way = direction(_sentence_around(text, *r.span))
        if way == "past":
            found.append(r)
            continue
        if way not in by_way:
            by_way[way] = {x.span: x for x in find_dates(text, anchor, prefer=way)}
        found.append(by_way[way].get(r.span, r))
    out = text
    for r in reversed(found):
        label = r.label()
        if label.lower() in r.text.lower() or _plain(label) == _plain(r.text):
            continue
        out = out[: r.span[1]] + f" ({label})" + out[r.span[1] :]
    return out, (found[0] if found else None)


def _plain(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def resolve(text: str, anchor: datetime, *, prefer: Direction = "past") -> TimeRange | None:
    """The first time expression in `text` resolved against `anchor`, or None."""
    found = find_dates(text, anchor, prefer=prefer)
    return found[0] if found else None


_BEFORE = re.compile(r"\b(before|prior\s+to|until|till|by)\s*$", re.I)
_SINCE = re.compile(r"\bsince\s*$", re.I)
_AFTER = re.compile(r"\bafter\s*$", re.I)


def parse_time_constraints(query: str, now: datetime | None = None) -> list[TimeRange]:
    """Time ranges a recall query restricts itself to ("in June 2023", "last month", "before May").

    "before X" / "after X" / "since X" turn into open ranges, so a filter keeps
    everything on the right side of X.
    """
    ref = as_utc(now) if now is not None else datetime.now(UTC)
    out: list[TimeRange] = []
    for r in find_dates(query, ref, prefer="past"):
        pre = query[: r.span[0]]
        words = r.text.split()
        head = words[0].lower() if words else ""
        if head in ("before", "until", "by") or _BEFORE.search(pre):
            out.append(TimeRange(MIN_TIME, r.start - _US, "before", r.text, r.span))
        elif head == "since" or _SINCE.search(pre):
            out.append(TimeRange(r.start, max(ref, r.end), "range", r.text, r.span))
        elif head == "after" or _AFTER.search(pre):
            out.append(TimeRange(r.end + _US, MAX_TIME, "after", r.text, r.span))
        else:
            out.append(r)
    return out
