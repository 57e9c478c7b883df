"""Which LangGraph messages memory keeps, and in what form: one rule for every path that stores them.

Why one place: the memory node, the middleware and the checkpointer can all see the same
conversation, and memory dedupes by id. They must agree on which messages count (roles the
policy keeps, with text or tool calls, never the memory messages plugmem itself wrote), on the
id a message without one gets (derived from its content, so re-adds stay no-ops), and on how an
over-long one is cut (a marker instead of a refusal), or the same turn would be stored twice.
NUL characters, which memory refuses, are dropped rather than failing the whole batch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, RemoveMessage

from plugmem import ROLE_ALIASES, InvalidInputError, content_text

__all__ = [
    "MEMORY_MESSAGE_PREFIX",
    "Storable",
    "derived_id",
    "is_memory_message",
    "message_key",
    "storable_message",
]

MEMORY_MESSAGE_PREFIX = "plugmem-memory"
TRUNCATED = "\n[truncated by plugmem: message longer than max_message_chars]"
_DERIVED_PREFIX = "pm-msg-"

MessageFilter = Callable[[BaseMessage], bool]


def is_memory_message(message: object) -> bool:
    """True for the recalled-memory messages plugmem writes (never stored back into memory)."""
    mid = getattr(message, "id", None)
    return isinstance(mid, str) and mid.startswith(MEMORY_MESSAGE_PREFIX)


def derived_id(message_type: str, text: str) -> str:
    """The id a message without one is stored under: the same message always gets the same id."""
    return _DERIVED_PREFIX + hashlib.blake2b(f"{message_type}\x00{text}".encode(), digest_size=10).hexdigest()


def message_key(message: object) -> str | None:
    """The id memory stores a message under (its own, else the derived one); None if it has none."""
    if not isinstance(message, BaseMessage):
        return None
    if message.id:
        return str(message.id)
    try:
        text = content_text(message.content, what="message")
    except InvalidInputError:  # content memory cannot read was never stored
        return None
    return derived_id(message.type, text)


@dataclass(frozen=True, slots=True)
class Storable:
    """A message memory keeps: its id, its text (NUL removed, before any cut) and what to add."""

    id: str
    text: str
    message: BaseMessage


def storable_message(
    message: object,
    *,
    store_roles: Collection[str],
    max_chars: int | None,
    keep: MessageFilter | None = None,
) -> Storable | None:
    """The form in which memory keeps `message`, or None when it keeps nothing of it.

    Kept: LangChain messages of a role in `store_roles` with text or tool calls, that `keep`
    (if given) accepts, and that are not memory messages. Raises `InvalidInputError` for content
    memory cannot read (e.g. audio blocks); callers that must not fail skip such messages.
    """
    if not isinstance(message, BaseMessage) or isinstance(message, RemoveMessage):
        return None
    if is_memory_message(message):
        return None
    role = ROLE_ALIASES.get(message.type)
    if role is None or role not in store_roles:
        return None
    if keep is not None and not keep(message):
        return None
    text = content_text(message.content, what=f"message {message.id}")
    has_calls = isinstance(message, AIMessage) and bool(message.tool_calls)
    if not text.strip() and not has_calls:
        return None
    update: dict[str, Any] = {}
    mid = message.id
    if not mid:
        # outside add_messages a message may have no id; every path derives the same one
        mid = derived_id(message.type, text)
        update["id"] = mid
    if "\x00" in text:
        text = text.replace("\x00", "")
        update["content"] = text
    if max_chars is not None and len(text) > max_chars:
        # room is left for the rendered tool calls that core appends to the text
        cut = max(1, max_chars - len(TRUNCATED) - min(1024, max_chars // 4))
        update["content"] = text[:cut] + TRUNCATED
    return Storable(str(mid), text, message.model_copy(update=update) if update else message)
