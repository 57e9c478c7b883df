"""Per-agent policies: loading (dict, YAML, TOML), clear errors, namespaces from config, retention."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from _node_fixtures import NS, REPO, T0, ranked_memory
from plugmem_langgraph.policies import (
    PolicyRegistry,
    aapply_retention,
    apply_retention,
    config_values,
    load_policies,
    namespace_for,
)

from plugmem import MemoryPolicy, PlugMem, PolicyError

EXAMPLES = REPO / "integrations" / "langgraph" / "examples"


@pytest.fixture
def mem(tmp_path: Path) -> Iterator[PlugMem]:
    yield from ranked_memory(tmp_path)


def test_example_files_yaml_and_toml_agree() -> None:
    yaml_p = load_policies(EXAMPLES / "policies.yaml")
    toml_p = load_policies(EXAMPLES / "policies.toml")
    assert yaml_p == toml_p
    r, w = yaml_p["researcher"], yaml_p["writer"]
    assert (r.name, r.namespace, r.mode, r.budget_tokens, r.order) == (
        "researcher",
        ("research", "{user_id}"),
        "fast",
        120,
        "relevance",
    )
    assert (w.name, w.namespace, w.mode, w.budget_tokens) == ("writer", ("writing", "{user_id}"), "auto", 300)
    assert r.retention_days == w.retention_days == 365  # from defaults
    assert r.store_roles == w.store_roles == ("user", "assistant")


def test_defaults_are_merged_and_agents_win() -> None:
    pols = load_policies(
        {
            "defaults": {"budget_tokens": 500, "mode": "fast"},
            "agents": {"a": {}, "b": {"mode": "deep"}, "c": None},
        }
    )
    assert {n: (p.budget_tokens, p.mode) for n, p in pols.items()} == {
        "a": (500, "fast"),
        "b": (500, "deep"),
        "c": (500, "fast"),
    }
    assert MemoryPolicy().namespace == pols["a"].namespace  # untouched fields keep core defaults


def test_errors_name_the_agent_and_the_field() -> None:
    with pytest.raises(PolicyError) as e:
        load_policies({"agents": {"ok": {}, "writer": {"budget_tokens": 5, "mode": "slow"}}})
    msg = str(e.value)
    assert "agent 'writer': field 'budget_tokens'" in msg and "got 5" in msg
    assert "agent 'writer': field 'mode'" in msg and "'slow'" in msg
    assert "'ok'" not in msg


def test_unknown_field_suggests_the_right_one() -> None:
    with pytest.raises(PolicyError, match=r"agent 'r': field 'budjet_tokens'.*did you mean 'budget_tokens'"):
        load_policies({"agents": {"r": {"budjet_tokens": 100}}})
    with pytest.raises(PolicyError, match=r"'defaults': unknown field\(s\) \['retention'\].*retention_days"):
        load_policies({"defaults": {"retention": 3}, "agents": {"r": {}}})


def test_bad_shapes_are_explained(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="unknown top-level key"):
        load_policies({"researcher": {"mode": "fast"}})
    with pytest.raises(PolicyError, match="'agents' must be a non-empty mapping"):
        load_policies({"agents": {}})
    with pytest.raises(PolicyError, match="agent 'x': policy must be a mapping"):
        load_policies({"agents": {"x": ["fast"]}})
    with pytest.raises(PolicyError, match="must match the agent key"):
        load_policies({"agents": {"x": {"name": "y"}}})
    with pytest.raises(PolicyError, match="does not exist"):
        load_policies(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[agents.x\nmode = 1", encoding="utf-8")
    with pytest.raises(PolicyError, match="could not parse"):
        load_policies(bad)


def test_yaml_file_errors_name_the_agent(tmp_path: Path) -> None:
    p = tmp_path / "p.yaml"
    p.write_text("agents:\n  critic:\n    store_roles: [user, robot]\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"agent 'critic': field 'store_roles'.*robot"):
        load_policies(p)


def test_registry_lookup_and_namespaces() -> None:
    reg = PolicyRegistry.load(EXAMPLES / "policies.yaml")
    assert sorted(reg) == ["researcher", "writer"] and len(reg) == 2
    assert reg.namespace("writer", {"configurable": {"user_id": "u9"}}) == ("writing", "u9")
    with pytest.raises(
        PolicyError, match=r"no memory policy for agent 'critic'; known agents: \['researcher', 'writer'\]"
    ):
        reg["critic"]
    assert reg.get("critic") is None and "critic" not in reg and "writer" in reg
    with pytest.raises(KeyError):  # UnknownAgentError is a KeyError too, for Mapping code
        reg["critic"]


def test_namespace_from_config() -> None:
    pol = MemoryPolicy(name="a", namespace=("org", "{org}", "{user_id}"))
    config = {"configurable": {"org": "acme", "user_id": 42, "thread_id": "t", "__pregel_internal": object()}}
    assert namespace_for(pol, config) == ("org", "acme", "42")
    assert namespace_for(pol, None, namespace=("fixed",)) == ("fixed",)
    assert "__pregel_internal" not in config_values(config)
    with pytest.raises(PolicyError, match=r"policy 'a'.*needs 'org'.*got keys \['user_id'\]"):
        namespace_for(pol, {"configurable": {"user_id": "u"}})
    with pytest.raises(PolicyError, match="needs 'org'"):
        namespace_for(pol, None)
    with pytest.raises(PolicyError, match="is invalid"):
        namespace_for(pol, {"configurable": {"org": "a/b", "user_id": "u"}})


def test_apply_retention_forgets_only_old_steps(mem: PlugMem) -> None:
    mem.add(
        [{"role": "user", "content": "old news", "id": "old"}],
        namespace=NS,
        timestamp=T0 - timedelta(days=40),
    )
    mem.add(
        [{"role": "user", "content": "fresh news", "id": "new"}],
        namespace=NS,
        timestamp=T0 - timedelta(days=5),
    )
    keep_all = MemoryPolicy()
    assert apply_retention(mem, keep_all, NS, now=T0) == 0
    month = MemoryPolicy(retention_days=30)
    assert apply_retention(mem, month, NS, now=T0) == 1
    assert [s.id for s in mem.steps(NS)] == ["new"]
    assert apply_retention(mem, month, NS, now=T0.replace(tzinfo=None)) == 0  # naive times are UTC
    assert "old news" not in mem.recall("news", namespace=NS).context


async def test_async_retention_uses_the_memory_clock(tmp_path: Path) -> None:
    m = PlugMem.open(tmp_path / "clocked", clock=lambda: T0, embeddings=None)
    try:
        m.add(
            [{"role": "user", "content": "a", "id": "a", "timestamp": T0 - timedelta(days=2)}], namespace=NS
        )
        m.add([{"role": "user", "content": "b", "id": "b"}], namespace=NS)  # stamped T0 by the clock
        assert await aapply_retention(m, MemoryPolicy(retention_days=1), NS) == 1
        assert [s.id for s in m.steps(NS)] == ["b"]
    finally:
        m.close()
