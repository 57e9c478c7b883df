"""Turn what callers hand us (LangChain messages, dicts, agent steps) into Steps.

Validation happens here, before anything is written, so a bad message in a batch
rejects the whole batch and leaves the store untouched. It is the write boundary, not a stage of
ingest: it runs in the caller's thread inside `add`, before the log, while ingest/ runs in the worker
over what the log already holds.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from plugmem.errors import ContentTooLargeError, InvalidInputError
from plugmem.fence import LINE_BREAKS
from plugmem.model import Role, Step, ToolCall
from plugmem.namespace import NamespaceKey

ROLE_ALIASES: dict[str, Role] = {
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "ai": "assistant",
    "system": "system",
    "developer": "system",
    "tool": "tool",
    "function": "tool",
}
MAX_ID_CHARS = 512
MAX_NAME_CHARS = 256
MAX_META_DEPTH = 20
# what the worker can do date arithmetic on (segment gaps, weeks) without overflowing
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def parse_timestamp(value: object, *, what: str) -> datetime:
    """Accept datetimes, ISO strings and epoch seconds within 1900–2200; naive times are taken as UTC."""
    try:
        if isinstance(value, datetime):
            dt = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ValueError("not a finite number")
            dt = datetime.fromtimestamp(float(value), tz=UTC)
        elif isinstance(value, str):
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        else:
            raise InvalidInputError(f"{what}: timestamp must be a datetime, ISO string or epoch seconds")
        dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise InvalidInputError(f"{what}: timestamp {value!r} is not a valid time ({exc})") from None
    if not EARLIEST <= dt < LATEST:
        raise InvalidInputError(
            f"{what}: timestamp {dt.isoformat()} is outside {EARLIEST.year}–{LATEST.year}; pass when it was said"
        )
    return dt


def check_text(value: str, *, what: str) -> str:
    """Strings must encode as UTF-8 (no lone surrogates) and hold no NUL, or SQLite and the worker fail later."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(f"{what}: not valid Unicode text ({exc.reason} at {exc.start})") from None
    if "\x00" in value:
        raise InvalidInputError(f"{what}: contains a NUL character")
    return value


def check_json(value: object, *, what: str, depth: int = 0) -> None:
    """Metadata and tool arguments are stored as JSON: plain values only, no '$'-prefixed (reserved) keys."""
    if depth > MAX_META_DEPTH:
        raise InvalidInputError(f"{what}: nested deeper than {MAX_META_DEPTH} levels")
    if value is None or isinstance(value, (bool, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(f"{what}: {value!r} is not a finite number (JSON cannot hold it)")
        return
    if isinstance(value, str):
        check_text(value, what=what)
        return
    if isinstance(value, datetime):
        parse_timestamp(value, what=what)
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            check_json(v, what=f"{what}[{i}]", depth=depth + 1)
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidInputError(f"{what}: keys must be strings, got {k!r}")
            check_text(k, what=f"{what} key")
            if k.startswith("$"):
                raise InvalidInputError(f"{what}: key {k!r} is reserved ('$' prefix); rename it")
            check_json(v, what=f"{what}.{k}", depth=depth + 1)
        return
    raise InvalidInputError(
        f"{what}: {type(value).__name__} cannot be stored as JSON; use str, int, float, bool, None, list or dict"
    )


def content_text(content: object, *, what: str) -> str:
    """Flatten LangChain content (str or list of blocks) into plain text."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, Mapping):
                if block.get("type") == "text" and isinstance(block.get("text"), str):
                    parts.append(block["text"])
                elif block.get("type") in ("image_url", "image"):
                    parts.append("[image]")
            else:
                raise InvalidInputError(f"{what}: unsupported content block {type(block).__name__}")
        return "\n".join(parts)
    raise InvalidInputError(
        f"{what}: content must be a string or a list of content blocks, got {type(content).__name__}"
    )


def render_tool_calls(calls: Sequence[ToolCall]) -> str:
    return "; ".join(
        f"called {c.name}({json.dumps(c.args, ensure_ascii=False, sort_keys=True)})" for c in calls
    )


def _stable_id(
    namespace: NamespaceKey, session_id: str, index: int, role: str, content: str, ts: datetime
) -> str:
    h = hashlib.blake2b(digest_size=12)
    for part in (namespace, session_id, str(index), role, content, ts.isoformat()):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return "pm-" + h.hexdigest()


def check_id(value: object, *, what: str) -> str:
    """Ids are printed by tools and matched exactly: one line of valid text, at most MAX_ID_CHARS."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"{what}: id must be a non-empty string, got {value!r}")
    if len(value) > MAX_ID_CHARS:
        raise InvalidInputError(f"{what}: id is longer than {MAX_ID_CHARS} characters")
    check_text(value, what=f"{what} id")
    if any(ch in LINE_BREAKS or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise InvalidInputError(f"{what}: id {value!r} contains a line break or control character")
    return value


def _tool_call(c: Mapping[str, Any], what: str) -> ToolCall:
    name, args = c.get("name"), c.get("args")
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"{what}: each tool call needs a 'name' string")
    if args is None:
        args = {}
    if not isinstance(args, Mapping):
        raise InvalidInputError(f"{what}: tool call {name!r} args must be a dict, got {type(args).__name__}")
    check_text(name, what=f"{what} tool call name")
    check_json(args, what=f"{what} tool call {name!r} args")
    return ToolCall(
        id=check_text(str(c.get("id") or ""), what=f"{what} tool call id"), name=name, args=dict(args)
    )


def _from_message(m: BaseMessage, what: str) -> dict[str, Any]:
    role = ROLE_ALIASES.get(m.type)
    if role is None:
        raise InvalidInputError(f"{what}: unsupported message type {m.type!r}")
    calls: list[ToolCall] = []
    if isinstance(m, AIMessage):
        calls = [_tool_call(c, what) for c in m.tool_calls]
    extra = {**m.response_metadata, **m.additional_kwargs}
    return {
        "role": role,
        "content": content_text(m.content, what=what),
        "id": m.id,
        "name": m.name,
        "timestamp": extra.get("timestamp"),
        "tool_calls": calls,
        "tool_call_id": m.tool_call_id if isinstance(m, ToolMessage) else None,
        "metadata": {"status": m.status} if isinstance(m, ToolMessage) and m.status != "success" else {},
    }


def _from_dict(d: Mapping[str, Any], what: str) -> dict[str, Any]:
    unknown_role = d.get("role", d.get("type"))
    if not isinstance(unknown_role, str) or unknown_role.lower() not in ROLE_ALIASES:
        raise InvalidInputError(
            f"{what}: 'role' must be one of {sorted(set(ROLE_ALIASES))}, got {unknown_role!r}"
        )
    if "content" not in d:
        raise InvalidInputError(f"{what}: a message dict needs 'content'")
    raw_calls = d.get("tool_calls") or []
    if not isinstance(raw_calls, (list, tuple)):
        raise InvalidInputError(f"{what}: 'tool_calls' must be a list of dicts")
    calls = []
    for c in raw_calls:
        if not isinstance(c, Mapping):
            raise InvalidInputError(f"{what}: each tool call must be a dict with a 'name'")
        calls.append(_tool_call(c, what))
    name = d.get("name")
    if name is not None and not isinstance(name, str):
        raise InvalidInputError(f"{what}: 'name' must be a string")
    meta = d.get("metadata") or {}
    if not isinstance(meta, Mapping):
        raise InvalidInputError(f"{what}: 'metadata' must be a mapping")
    return {
        "role": ROLE_ALIASES[unknown_role.lower()],
        "content": content_text(d["content"], what=what),
        "id": d.get("id"),
        "name": name,
        "timestamp": d.get("timestamp"),
        "tool_calls": calls,
        "tool_call_id": d.get("tool_call_id"),
        "metadata": dict(meta),
    }


def _check_fields(f: Mapping[str, Any], what: str) -> None:
    name = f["name"]
    if name is not None:
        check_text(name, what=f"{what}: name")
        if len(name) > MAX_NAME_CHARS:
            raise InvalidInputError(f"{what}: name is longer than {MAX_NAME_CHARS} characters")
    if f["tool_call_id"] is not None:
        if not isinstance(f["tool_call_id"], str):
            raise InvalidInputError(f"{what}: 'tool_call_id' must be a string")
        check_text(f["tool_call_id"], what=f"{what}: tool_call_id")
    check_json(f["metadata"], what=f"{what}: metadata")


def normalize(
    messages: object,
    *,
    namespace: NamespaceKey,
    session_id: str,
    timestamp: datetime,
    max_chars: int,
    roles: Sequence[str] | None = None,
    explicit_times: set[str] | None = None,
) -> list[Step]:
    """Validate and convert a batch; raise `InvalidInputError` before anything is stored.

    `explicit_times`, when given, receives the ids of messages that carried their
    own timestamp (the batch default is not compared when an id is re-added).
    """
    if isinstance(messages, (BaseMessage, Mapping)):
        messages = [messages]
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise InvalidInputError(
            "messages must be a list of LangChain messages or dicts like {'role': 'user', 'content': '...'}"
        )
    steps: list[Step] = []
    seen: dict[str, str] = {}
    for i, m in enumerate(messages):
        what = f"message {i}"
        if isinstance(m, BaseMessage):
            f = _from_message(m, what)
        elif isinstance(m, Mapping):
            f = _from_dict(m, what)
        else:
            raise InvalidInputError(f"{what}: expected a LangChain message or a dict, got {type(m).__name__}")
        if roles is not None and f["role"] not in roles:
            continue
        text: str = f["content"]
        if f["tool_calls"]:
            rendered = render_tool_calls(f["tool_calls"])
            text = f"{text}\n{rendered}" if text.strip() else rendered
        if not text.strip():
            raise InvalidInputError(f"{what}: content is empty")
        check_text(text, what=f"{what}: content")
        _check_fields(f, what)
        if len(text) > max_chars:
            raise ContentTooLargeError(
                f"{what}: content has {len(text)} characters, more than the policy's max_message_chars={max_chars}"
            )
        ts = parse_timestamp(f["timestamp"], what=what) if f["timestamp"] is not None else timestamp
        sid = check_id(f["id"], what=what) if f["id"] is not None else None
        sid = sid or _stable_id(namespace, session_id, i, f["role"], text, ts)
        if f["timestamp"] is not None and explicit_times is not None:
            explicit_times.add(sid)
        if sid in seen and seen[sid] != text:
            raise InvalidInputError(f"{what}: id {sid!r} appears twice in one batch with different content")
        seen[sid] = text
        steps.append(
            Step(
                id=sid,
                namespace=namespace,
                session_id=session_id,
                seq=0,
                role=f["role"],
                content=text,
                timestamp=ts,
                name=f["name"],
                tool_calls=tuple(f["tool_calls"]),
                tool_call_id=f["tool_call_id"],
                metadata=f["metadata"],
            )
        )
    return steps
