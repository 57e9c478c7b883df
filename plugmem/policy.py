"""Per-agent memory policy: one validated object configures ingest and recall."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from plugmem.errors import PolicyError
from plugmem.prompts import check_overrides

RecallMode = Literal["auto", "fast", "deep"]
Order = Literal["time", "relevance"]
StaleMode = Literal["mark", "drop", "keep"]
LLMRole = Literal["extract", "plan", "reason"]


LEXICAL_ON_DISK_FROM = 20_000  # documents; measured in docs/NOTES.md ("Lexical search on disk")


class MemoryPolicy(BaseModel):
    """How one agent remembers and recalls. Every field has a safe default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "default"
    # namespace template, filled from LangGraph config (e.g. ("memories", "{user_id}", "{agent}"))
    namespace: tuple[str, ...] = ("memories", "{user_id}")
    # recall
    mode: RecallMode = "auto"
    budget_tokens: int = Field(1000, ge=16, le=1_000_000)
    latency_budget_ms: float = Field(500.0, gt=0)
    max_deep_share: float = Field(0.3, ge=0.0, le=1.0)
    full_history_when_fits: bool = True
    order: Order = "relevance"  # how the context is ordered; `Recall.items` is always best first
    # superseded knowledge: "mark" it with what replaced it, "drop" it when its replacement is in
    # the context, or "keep" it unmarked (as any other item)
    stale: StaleMode = "mark"
    k: int = Field(12, ge=1, le=1000)  # seeds taken from the fast tier before budget fitting
    deep_max_rounds: int = Field(3, ge=1, le=20)
    deep_max_llm_tokens: int = Field(8000, ge=100)
    read_your_writes: bool = True  # recall waits for this namespace's pending ingest work
    # ... for at most this long; then it answers from what is indexed and says so in `reason`
    read_your_writes_timeout_s: float = Field(5.0, ge=0, le=3600)
    # ingest
    store_roles: tuple[str, ...] = ("user", "assistant", "tool", "system")
    max_message_chars: int = Field(100_000, ge=1)
    extract_knowledge: bool = True
    segment_gap_minutes: float = Field(30.0, gt=0)
    retention_days: float | None = Field(None, gt=0)  # None keeps forever
    # a namespace's lexical index moves from RAM to the database's full-text index (SQLite FTS5, or a
    # tsvector table on PostgreSQL) once it holds this many documents (turns, events, facts, summaries);
    # None keeps it in RAM. Read at open.
    lexical_on_disk_from: int | None = Field(LEXICAL_ON_DISK_FROM, ge=0)
    # durability: FULL fsyncs every commit; NORMAL survives process crashes, not power loss
    synchronous: Literal["FULL", "NORMAL"] = "FULL"
    # OS niceness of the background ingest thread and its model threads (Linux): a tenant's recall keeps
    # the cores while another tenant imports; 0 runs ingest at the caller's priority
    ingest_niceness: int = Field(19, ge=0, le=19)
    # the default ONNX model's weights: "int8" embeds ~2x faster at the same recall (a quantized copy made
    # once); the two never share vectors. "auto" is INT8, except for a memory that already holds FP32
    # vectors and no INT8 ones. Ignored when PlugMem.open is given its own embeddings
    embedding_precision: Literal["auto", "fp32", "int8"] = "auto"
    # LLM mode: `init_chat_model` specs ("openai:gpt-4o-mini"); models passed to PlugMem.open win
    llm: str | None = None  # every role
    llms: dict[LLMRole, str] = Field(default_factory=dict)  # per role: extract, plan, reason
    prompts: dict[str, str] = Field(default_factory=dict)  # overrides of plugmem.prompts by name

    @field_validator("llm")
    @classmethod
    def _spec_nonempty(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("llm must be a model spec such as 'openai:gpt-4o-mini', or unset")
        return v

    @field_validator("llms")
    @classmethod
    def _specs_nonempty(cls, v: dict[LLMRole, str]) -> dict[LLMRole, str]:
        for role, spec in v.items():
            if not spec.strip():
                raise ValueError(f"llms.{role} must be a model spec such as 'openai:gpt-4o-mini'")
        return v

    @field_validator("prompts")
    @classmethod
    def _prompts_known(cls, v: dict[str, str]) -> dict[str, str]:
        check_overrides(v)
        return v

    @field_validator("store_roles")
    @classmethod
    def _roles_known(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        unknown = set(v) - {"user", "assistant", "tool", "system"}
        if unknown:
            raise ValueError(f"unknown roles {sorted(unknown)}; use user, assistant, tool, system")
        return v

    @field_validator("namespace")
    @classmethod
    def _ns_nonempty(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v or any(not p for p in v):
            raise ValueError("namespace template must be a non-empty tuple of non-empty strings")
        for part in v:  # only {name} fields: catch "{0}" or "{a.b}" when the policy is made
            for _, fname, spec, conv in string.Formatter().parse(part):
                if fname is not None and (not fname.isidentifier() or spec or conv):
                    raise ValueError(f"namespace part {part!r}: use plain {{name}} fields only")
        return v

    def resolve_namespace(self, values: dict[str, Any]) -> tuple[str, ...]:
        """Fill the namespace template from config values; missing keys are a clear error."""
        out = []
        shown = sorted(k for k in values if not k.startswith("__"))
        for part in self.namespace:
            try:
                filled = part.format(**values)
            except KeyError as exc:
                raise PolicyError(
                    f"policy {self.name!r}: namespace template {self.namespace!r} needs {exc.args[0]!r} "
                    f"in the config (configurable), got keys {shown}"
                ) from None
            except (IndexError, AttributeError, ValueError) as exc:
                raise PolicyError(
                    f"policy {self.name!r}: namespace part {part!r} is not a valid template: {exc}"
                ) from None
            if not filled.strip():
                raise PolicyError(
                    f"policy {self.name!r}: namespace part {part!r} resolved to an empty string"
                )
            out.append(filled)
        return tuple(out)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MemoryPolicy:
        """A policy from plain data (a parsed YAML or TOML file); `PolicyError` says what is wrong."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise PolicyError(f"invalid memory policy: {exc}") from None

    @classmethod
    def from_file(cls, path: str | Path) -> MemoryPolicy:
        """Load one policy from a YAML or TOML file."""
        return cls.from_dict(load_policy_file(path))


def load_policy_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.exists():
        raise PolicyError(f"policy file {p} does not exist")
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        elif p.suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            raise PolicyError(f"policy file {p} must end in .yaml, .yml or .toml")
    except PolicyError:
        raise
    except Exception as exc:
        raise PolicyError(f"could not parse policy file {p}: {exc}") from None
    if not isinstance(data, dict):
        raise PolicyError(f"policy file {p} must hold a mapping, got {type(data).__name__}")
    return data
