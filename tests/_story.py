"""A user's story over two years, with a fixed clock: the data the recall-context tests read.

Sam's residence, employer, diet and favourite band change; a flight search teaches a procedure
by a failed then successful tool call, learned twice; last week has things to look back on.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from plugmem import MemoryPolicy, PlugMem, Recall

NOW = datetime(2025, 6, 30, 9, 0, tzinfo=UTC)  # a Monday; "last week" is 23–29 June 2025
LAST_WEEK = (datetime(2025, 6, 23, tzinfo=UTC), datetime(2025, 6, 30, tzinfo=UTC))
NS = ("users", "sam")
STORY: list[tuple[str, datetime, list[tuple[str, str]]]] = [
    (
        "s1",
        datetime(2023, 6, 2, 18, 0, tzinfo=UTC),
        [
            ("user", "We bought a house in Leeds, finally!"),
            ("assistant", "Congratulations on the new house!"),
        ],
    ),
    (
        "s2",
        datetime(2024, 1, 10, 9, 30, tzinfo=UTC),
        [
            ("user", "I'm a data analyst at Globex, mostly SQL all day."),
            ("assistant", "SQL all day sounds intense."),
        ],
    ),
    (
        "s3",
        datetime(2024, 3, 5, 12, 0, tzinfo=UTC),
        [
            ("user", "I'm vegetarian, so please keep restaurant tips meat-free."),
            ("assistant", "Noted, meat-free suggestions only."),
        ],
    ),
    (
        "s4",
        datetime(2024, 5, 20, 20, 0, tzinfo=UTC),
        [
            ("user", "My favourite band is Radiohead, I've seen them live three times."),
            ("assistant", "Three times is impressive."),
        ],
    ),
    (
        "s5",
        datetime(2025, 2, 11, 8, 15, tzinfo=UTC),
        [
            ("user", "Big news: we sold up and moved to Bristol last month."),
            ("assistant", "How exciting, enjoy the new place!"),
        ],
    ),
    (
        "s6",
        datetime(2025, 3, 1, 17, 0, tzinfo=UTC),
        [
            ("user", "I left Globex, I'm an ML engineer at Northwind now."),
            ("assistant", "Congrats on the new role at Northwind!"),
        ],
    ),
    (
        "s7",
        datetime(2025, 4, 12, 13, 0, tzinfo=UTC),
        [
            ("user", "I started eating fish again, mostly salmon."),
            ("assistant", "Salmon is a good choice."),
        ],
    ),
    (
        "s8",
        datetime(2025, 5, 3, 21, 0, tzinfo=UTC),
        [
            ("user", "These days my favourite band is Wet Leg."),
            ("assistant", "Wet Leg are great live."),
        ],
    ),
    (
        "s10",
        datetime(2025, 6, 25, 19, 0, tzinfo=UTC),
        [
            ("user", "Tonight I tried the new ramen bar on Gloucester Road, the miso broth was superb."),
            ("assistant", "Sounds delicious."),
        ],
    ),
    (
        "s11",
        datetime(2025, 6, 28, 18, 0, tzinfo=UTC),
        [
            ("user", "Today I hiked Pen y Fan with my sister, the views from the summit were amazing."),
            ("assistant", "What a great hike."),
        ],
    ),
    (
        "s12",
        datetime(2025, 6, 29, 23, 0, tzinfo=UTC),
        [
            ("user", "Tonight we went to a jazz gig at The Bebop, the trio played until midnight."),
            ("assistant", "What a fun Sunday."),
        ],
    ),
]


def _flight_search(prefix: str, request: str, bad: str | None, good: str, answer: str) -> list[Any]:
    """A tool trajectory: an optional rejected call, then one that works, then the answer."""
    msgs: list[Any] = [HumanMessage(request, id=f"{prefix}-ask")]
    if bad is not None:
        msgs += [
            AIMessage(
                "",
                id=f"{prefix}-call1",
                tool_calls=[
                    {
                        "name": "search_flights",
                        "args": {"origin": "BRS", "dest": "LIS", "date": bad},
                        "id": f"{prefix}-c1",
                    }
                ],
            ),
            ToolMessage(
                '{"error": "month must be YYYY-MM-DD"}',
                tool_call_id=f"{prefix}-c1",
                status="error",
                id=f"{prefix}-err",
            ),
        ]
    msgs += [
        AIMessage(
            "",
            id=f"{prefix}-call2",
            tool_calls=[
                {
                    "name": "search_flights",
                    "args": {"origin": "BRS", "dest": "LIS", "date": good},
                    "id": f"{prefix}-c2",
                }
            ],
        ),
        ToolMessage('[{"flight": "TP 1234", "price": 89}]', tool_call_id=f"{prefix}-c2", id=f"{prefix}-res"),
        AIMessage(answer, id=f"{prefix}-done"),
    ]
    return msgs


def build(path: Path, policy: MemoryPolicy | None = None, embeddings: bool | None = True) -> PlugMem:
    mem = PlugMem.open(
        path,
        policy=policy or MemoryPolicy(full_history_when_fits=False),
        embeddings=embeddings,
        clock=lambda: NOW,
    )
    for session, when, turns in STORY:
        msgs = [
            {"role": role, "content": text, "id": f"{session}-{i}", "timestamp": when + timedelta(minutes=i)}
            for i, (role, text) in enumerate(turns)
        ]
        mem.add(msgs, namespace=NS, session_id=session)
    mem.add(
        _flight_search(
            "f1",
            "Find me a flight from Bristol to Lisbon in July",
            "2025-07",
            "2025-07-12",
            "I found TP 1234 on 12 July for £89.",
        ),
        namespace=NS,
        session_id="s9",
        timestamp=datetime(2025, 6, 10, 10, 0, tzinfo=UTC),
    )
    mem.add(
        _flight_search(
            "f2",
            "Can you look for a flight to Lisbon on 2 August?",
            None,
            "2025-08-02",
            "TP 1234 flies on 2 August for £95.",
        ),
        namespace=NS,
        session_id="s9b",
        timestamp=datetime(2025, 6, 18, 10, 0, tzinfo=UTC),
    )
    mem.flush()
    return mem


def ask(mem: PlugMem, query: str, **kw: Any) -> Recall:
    return mem.recall(query, namespace=NS, budget_tokens=kw.pop("budget_tokens", 400), **kw)


def lines(r: Recall) -> list[str]:
    """The item lines of the context, as the model reads them (no fence, no header)."""
    return [ln for ln in r.context.splitlines()[2:-1]]


def tag_of(line: str) -> str:
    return line.split("] ", 1)[0]


def text_of(line: str) -> str:
    return line.split("] ", 1)[-1]
