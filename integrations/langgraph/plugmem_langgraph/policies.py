"""Per-agent memory policies: load several named policies, resolve namespaces, apply retention.

Why here and not in core: a multi-agent graph wants one file that says how *each* agent
remembers (its namespace, recall mode, budget, roles, retention), and a LangGraph run
carries the values that fill the namespace template (`user_id`, ...) in
`config["configurable"]`. Core `MemoryPolicy` validates one policy; this module validates
a set of them, names the agent and the field in every error, and bridges to RunnableConfig.

File format (YAML or TOML; a dict works the same)::

    defaults:                 # optional, merged into every agent (the agent wins)
      budget_tokens: 800
    agents:
      researcher:
        namespace: ["research", "{user_id}"]
        mode: deep
      writer:
        namespace: "writing/{user_id}"   # a "/"-separated string is accepted too
        store_roles: [user, assistant]
"""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from pydantic import ValidationError

from plugmem import MemoryPolicy, PlugMem, PolicyError, load_policy_file, parse_timestamp, validate_namespace
from plugmem_langgraph.errors import UnknownAgentError

__all__ = [
    "PolicyRegistry",
    "UnknownAgentError",
    "aapply_retention",
    "apply_retention",
    "config_values",
    "load_policies",
    "namespace_for",
]

_TOP_KEYS = ("agents", "defaults")
_FIELDS = tuple(MemoryPolicy.model_fields)


def _field_hint(name: str) -> str:
    close = difflib.get_close_matches(name, _FIELDS, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _describe(agent: str, exc: ValidationError) -> str:
    """One line per problem, naming the agent and the field, with the offending value."""
    lines = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "<policy>"
        top = str(err["loc"][0]) if err["loc"] else ""
        hint = _field_hint(top) if err["type"] == "extra_forbidden" else ""
        lines.append(f"agent {agent!r}: field {field!r}: {err['msg']} (got {err.get('input')!r}){hint}")
    return "invalid memory policies:\n  " + "\n  ".join(lines)


def _normalize_fields(agent: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Accept the spellings a config file naturally uses: "a/b" namespaces, lists for tuples."""
    out = dict(data)
    ns = out.get("namespace")
    if isinstance(ns, str):
        out["namespace"] = tuple(ns.split("/"))
    if "name" in out and out["name"] != agent:
        raise PolicyError(
            f"agent {agent!r}: field 'name' is {out['name']!r}; it must match the agent key (or be left out)"
        )
    out["name"] = agent
    return out


def _build(agent: str, data: Any, defaults: Mapping[str, Any]) -> MemoryPolicy:
    if data is None:
        data = {}
    if isinstance(data, MemoryPolicy):
        data = data.model_dump(exclude_unset=True)
    if not isinstance(data, Mapping):
        raise PolicyError(f"agent {agent!r}: policy must be a mapping of fields, got {type(data).__name__}")
    merged = _normalize_fields(agent, {**defaults, **data})
    try:
        return MemoryPolicy.model_validate(merged)
    except ValidationError as exc:
        raise PolicyError(_describe(agent, exc)) from None


def load_policies(source: str | Path | Mapping[str, Any]) -> dict[str, MemoryPolicy]:
    """Named agent policies from a dict or a YAML/TOML file; every agent is validated up front.

    Errors are `PolicyError`s that name the agent and the field, so a typo in one agent
    fails at startup instead of in the middle of a run.
    """
    if isinstance(source, (str, Path)):
        data: Mapping[str, Any] = load_policy_file(source)
        where = f" in {source}"
    elif isinstance(source, Mapping):
        data, where = source, ""
    else:
        raise PolicyError(f"load_policies takes a path or a mapping, got {type(source).__name__}")
    unknown = sorted(set(data) - set(_TOP_KEYS))
    if unknown:
        raise PolicyError(
            f"unknown top-level key(s) {unknown}{where}; expected 'agents' (and optionally 'defaults'), "
            "e.g. {'agents': {'researcher': {'mode': 'deep'}}}"
        )
    agents = data.get("agents")
    if not isinstance(agents, Mapping) or not agents:
        raise PolicyError(f"'agents'{where} must be a non-empty mapping of agent name to policy fields")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        raise PolicyError(f"'defaults'{where} must be a mapping of policy fields")
    bad_defaults = sorted(set(defaults) - set(_FIELDS))
    if bad_defaults:
        hints = "".join(_field_hint(k) for k in bad_defaults)
        raise PolicyError(f"'defaults'{where}: unknown field(s) {bad_defaults}{hints}")
    if "name" in defaults:
        raise PolicyError(f"'defaults'{where} must not set 'name'; each agent is named by its key")
    policies: dict[str, MemoryPolicy] = {}
    for agent, fields in agents.items():
        if not isinstance(agent, str) or not agent.strip():
            raise PolicyError(f"agent names must be non-empty strings, got {agent!r}")
        policies[agent] = _build(agent, fields, defaults)
    return policies


class PolicyRegistry(Mapping[str, MemoryPolicy]):
    """A read-only mapping of agent name → MemoryPolicy with errors that list the known agents."""

    def __init__(self, policies: Mapping[str, MemoryPolicy]) -> None:
        for name, pol in policies.items():
            if not isinstance(pol, MemoryPolicy):
                raise PolicyError(f"agent {name!r}: expected a MemoryPolicy, got {type(pol).__name__}")
        self._policies = dict(policies)

    @classmethod
    def load(cls, source: str | Path | Mapping[str, Any]) -> PolicyRegistry:
        return cls(load_policies(source))

    def __getitem__(self, agent: str) -> MemoryPolicy:
        try:
            return self._policies[agent]
        except KeyError:
            raise UnknownAgentError(
                f"no memory policy for agent {agent!r}; known agents: {sorted(self._policies)}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._policies)

    def __len__(self) -> int:
        return len(self._policies)

    def __repr__(self) -> str:
        return f"PolicyRegistry({sorted(self._policies)})"

    def namespace(self, agent: str, config: RunnableConfig | Mapping[str, Any] | None) -> tuple[str, ...]:
        """The namespace of `agent` for this run (its template filled from the config)."""
        return namespace_for(self[agent], config)


def config_values(config: RunnableConfig | Mapping[str, Any] | None) -> dict[str, Any]:
    """The user-facing `configurable` values of a run (LangGraph's internal `__...` keys dropped)."""
    if not config:
        return {}
    conf = config.get("configurable") or {}
    if not isinstance(conf, Mapping):
        raise PolicyError(f"config['configurable'] must be a mapping, got {type(conf).__name__}")
    return {k: v for k, v in conf.items() if isinstance(k, str) and not k.startswith("__")}


def namespace_for(
    policy: MemoryPolicy,
    config: RunnableConfig | Mapping[str, Any] | None,
    namespace: Sequence[str] | None = None,
) -> tuple[str, ...]:
    """A fixed `namespace` if given, else the policy's template filled from `config["configurable"]`.

    A missing key raises `PolicyError` naming the policy, the template and the missing key.
    """
    if namespace is not None:
        return validate_namespace(namespace)
    values = config_values(config)
    try:
        ns = policy.resolve_namespace(values)
    except (AttributeError, IndexError, ValueError) as exc:
        if isinstance(exc, PolicyError):
            raise
        raise PolicyError(
            f"policy {policy.name!r}: namespace template {policy.namespace!r} is invalid: {exc}"
        ) from None
    try:
        return validate_namespace(ns)
    except ValueError as exc:
        raise PolicyError(
            f"policy {policy.name!r}: namespace {ns!r} from the config is invalid: {exc}"
        ) from None


def _expired_ids(
    memory: PlugMem, policy: MemoryPolicy, namespace: Sequence[str], now: datetime | None
) -> list[str]:
    if policy.retention_days is None:
        return []
    now = parse_timestamp(now, what="apply_retention(now=...)") if now is not None else memory.clock()
    cutoff = now - timedelta(days=policy.retention_days)
    return [s.id for s in memory.steps(namespace) if s.timestamp < cutoff]


def apply_retention(
    memory: PlugMem, policy: MemoryPolicy, namespace: Sequence[str], now: datetime | None = None
) -> int:
    """Forget the steps of `namespace` older than `policy.retention_days`; returns how many.

    Ages are measured on each step's event timestamp (when it was said), against `now`
    (default: the memory's clock). Knowledge derived from forgotten steps is rebuilt by
    `forget`, so nothing learned only from expired messages survives them.
    """
    ids = _expired_ids(memory, policy, namespace, now)
    if not ids:
        return 0
    return memory.forget(namespace=namespace, ids=ids)


async def aapply_retention(
    memory: PlugMem, policy: MemoryPolicy, namespace: Sequence[str], now: datetime | None = None
) -> int:
    return await asyncio.to_thread(apply_retention, memory, policy, namespace, now)
