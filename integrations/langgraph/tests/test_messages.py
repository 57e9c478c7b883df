"""One rule for which messages memory keeps: the memory node and the checkpointer store the same thing."""

from __future__ import annotations

from pathlib import Path

from _node_fixtures import open_memory
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from plugmem_langgraph import PlugMemSaver
from plugmem_langgraph.messages import MEMORY_MESSAGE_PREFIX, message_key, storable_message
from plugmem_langgraph.node import storable_messages

from plugmem import MemoryPolicy

ROLES = ("user", "assistant")


def test_a_message_without_id_gets_the_same_id_on_every_path(tmp_path: Path) -> None:
    msg = HumanMessage("I moved to Lisbon in May")
    item = storable_message(msg, store_roles=ROLES, max_chars=None)
    assert item is not None and item.id.startswith("pm-msg-")
    assert item.id == message_key(msg)
    assert (
        storable_message(HumanMessage("I moved to Lisbon in May"), store_roles=ROLES, max_chars=None) == item
    )
    with open_memory(tmp_path / "m") as mem, PlugMemSaver(memory=mem, feed=False) as saver:
        (node_msg,) = storable_messages(mem, mem.policy, [msg])
        saver_item = saver._feeder.storable(msg)
        assert saver_item is not None
        assert node_msg.id == saver_item[0] == item.id
        assert node_msg == saver_item[2]


def test_nul_is_dropped_the_same_way_by_node_and_saver(tmp_path: Path) -> None:
    msg = HumanMessage("tea\x00 with milk", id="h1")
    with open_memory(tmp_path / "m") as mem, PlugMemSaver(memory=mem, feed=False) as saver:
        (node_msg,) = storable_messages(mem, mem.policy, [msg])
        saver_item = saver._feeder.storable(msg)
        assert saver_item is not None
        assert node_msg.content == saver_item[2].content == "tea with milk"
        # and memory accepts what both hand it
        assert mem.add([node_msg], namespace=("u",)) == ["h1"]


def test_what_is_not_kept() -> None:
    memory_msg = SystemMessage("recalled", id=f"{MEMORY_MESSAGE_PREFIX}:p:t")
    assert storable_message(memory_msg, store_roles=("system",), max_chars=None) is None
    assert storable_message(SystemMessage("be brief"), store_roles=ROLES, max_chars=None) is None
    assert storable_message(HumanMessage("   "), store_roles=ROLES, max_chars=None) is None
    assert storable_message("not a message", store_roles=ROLES, max_chars=None) is None
    calls = AIMessage("", tool_calls=[{"name": "search", "args": {"q": "x"}, "id": "c1"}], id="a1")
    assert storable_message(calls, store_roles=ROLES, max_chars=None) is not None
    rejected = HumanMessage("skip me", id="h2")
    assert storable_message(rejected, store_roles=ROLES, max_chars=None, keep=lambda m: False) is None


def test_long_messages_are_cut_with_a_marker() -> None:
    policy = MemoryPolicy()
    limit = 2000
    item = storable_message(
        HumanMessage("word " * 1000, id="h3"), store_roles=policy.store_roles, max_chars=limit
    )
    assert item is not None
    content = item.message.content
    assert isinstance(content, str) and len(content) < limit
    assert content.endswith("[truncated by plugmem: message longer than max_message_chars]")
    assert len(item.text) == 5000  # the text the saver's digest is taken over is the whole one
