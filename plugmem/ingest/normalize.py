"""Turn what callers hand us (LangChain messages, dicts, agent steps) into Steps.

Validation happens here, before anything is written, so a bad message in a batch
rejects the whole batch and leaves the store untouched.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from plugmem.errors import ContentTooLargeError, InvalidInputError
from plugmem.model import Role, Step, ToolCall

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


def parse_timestamp(value: object, *, what: str) -> datetime:
    """Accept datetimes, ISO strings and epoch seconds; naive times are taken as UTC."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        dt = datetime.fromtimestamp(float(value), tz=UTC)
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInputError(f"{what}: timestamp {value!r} is not ISO 8601") from None
    else:
        raise InvalidInputError(f"{what}: timestamp must be a datetime, ISO string or epoch seconds")
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


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


def _stable_id(namespace: str, session_id: str, index: int, role: str, content: str, ts: datetime) -> str:
    h = hashlib.blake2b(digest_size=12)
    for part in (namespace, session_id, str(index), role, content, ts.isoformat()):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return "pm-" + h.hexdigest()


def _check_id(value: object, *, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"{what}: id must be a non-empty string, got {value!r}")
    if len(value) > MAX_ID_CHARS:
        raise InvalidInputError(f"{what}: id is longer than {MAX_ID_CHARS} characters")
    return value


def _from_message(m: BaseMessage, what: str) -> dict[str, Any]:
    role = ROLE_ALIASES.get(m.type)
    if role is None:
        raise InvalidInputError(f"{what}: unsupported message type {m.type!r}")
    calls: list[ToolCall] = []
    if isinstance(m, AIMessage):
        calls = [
            ToolCall(id=str(c.get("id") or ""), name=c["name"], args=dict(c.get("args") or {}))
            for c in m.tool_calls
        ]
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
    calls = []
    for c in d.get("tool_calls") or []:
        if not isinstance(c, Mapping) or not isinstance(c.get("name"), str):
            raise InvalidInputError(f"{what}: each tool call needs a 'name'")
        calls.append(ToolCall(id=str(c.get("id") or ""), name=c["name"], args=dict(c.get("args") or {})))
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


def normalize(
    messages: object,
    *,
    namespace: str,
    session_id: str,
    timestamp: datetime,
    max_chars: int,
    roles: Sequence[str] | None = None,
) -> list[Step]:
    """Validate and convert a batch; raise `InvalidInputError` before anything is stored."""
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
        if "\x00" in text:
            raise InvalidInputError(f"{what}: content contains a NUL character")
        if len(text) > max_chars:
            raise ContentTooLargeError(
                f"{what}: content has {len(text)} characters, more than the policy's max_message_chars={max_chars}"
            )
        ts = parse_timestamp(f["timestamp"], what=what) if f["timestamp"] is not None else timestamp
        sid = _check_id(f["id"], what=what) or _stable_id(namespace, session_id, i, f["role"], text, ts)
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
