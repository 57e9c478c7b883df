"""Builders shared by the ingest tests (plain Steps, no storage); holds no tests itself."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from plugmem.model import Role, Step, ToolCall

T0 = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)


def chat(
    turns: Sequence[tuple[str, str]],
    *,
    session: str = "s1",
    start: datetime = T0,
    prefix: str = "m",
    namespace: str = "ns",
    minutes: float = 1,
    first_seq: int = 0,
) -> list[Step]:
    """Two-party chat: (speaker, text) pairs; the first speaker is the user."""
    first = turns[0][0] if turns else ""
    return [
        Step(
            id=f"{prefix}{i + 1}",
            namespace=namespace,
            session_id=session,
            seq=first_seq + i,
            role="user" if who == first else "assistant",
            content=text,
            timestamp=start + timedelta(minutes=minutes * i),
            name=who,
        )
        for i, (who, text) in enumerate(turns)
    ]


def step(
    sid: str,
    role: Role,
    content: str,
    *,
    minute: float = 0,
    calls: Sequence[tuple[str, str, dict[str, Any]]] = (),
    tool_call_id: str | None = None,
    session: str = "s1",
    name: str | None = None,
    seq: int = 0,
) -> Step:
    return Step(
        id=sid,
        namespace="ns",
        session_id=session,
        seq=seq,
        role=role,
        content=content,
        timestamp=T0 + timedelta(minutes=minute),
        name=name,
        tool_calls=tuple(ToolCall(cid, n, a) for cid, n, a in calls),
        tool_call_id=tool_call_id,
    )


def agent_trajectory() -> list[Step]:
    """Two user goals, each solved with tools, then a proactive assistant note."""
    steps = [
        step("u1", "user", "Can you book a table for two at Luigi's tomorrow at 7pm?", minute=0),
        step("a1", "assistant", "", minute=0.1, calls=[("c1", "search_restaurants", {"name": "Luigi's"})]),
        step(
            "t1",
            "tool",
            '{"id": "r-42", "name": "Luigi\'s", "city": "Boston"}',
            minute=0.2,
            tool_call_id="c1",
        ),
        step(
            "a2",
            "assistant",
            "",
            minute=0.3,
            calls=[("c2", "book_table", {"restaurant_id": "r-42", "party": 2, "time": "19:00"})],
        ),
        step("t2", "tool", '{"status": "confirmed", "ref": "B-7"}', minute=0.4, tool_call_id="c2"),
        step(
            "a3", "assistant", "Done: your table for two at Luigi's is booked for 7pm (ref B-7).", minute=0.5
        ),
        step("u2", "user", "Thanks! What's the weather in Paris right now?", minute=1),
        step("a4", "assistant", "", minute=1.1, calls=[("c3", "get_weather", {"city": "Paris"})]),
        step("t3", "tool", '{"temp_c": 18, "sky": "clear"}', minute=1.2, tool_call_id="c3"),
        step("a5", "assistant", "It is 18°C and clear in Paris.", minute=1.3),
        step("a6", "assistant", "By the way, I saved Luigi's to your favourites list.", minute=1.4),
    ]
    for i, s in enumerate(steps):
        s.seq = i
    return steps
