"""Which chat model does which job: a cheap one may extract, a strong one plan and reason.

Roles: `extract` (knowledge extraction at ingest), `plan` (the deep tier's plan → walk →
reflect) and `reason` (`PlugMem.reason`'s guidance). Models come from code (`PlugMem.open(llm=…)`
for every role, `llms={"plan": …}` per role) or from a policy, as `init_chat_model` strings
(`"openai:gpt-4o-mini"`, `"ollama:qwen2.5"`) so per-agent policy files can name models.
Code beats configuration: for each role, `llms[role]`, then `llm`, then the policy's
`llms[role]`, then the policy's `llm`. Strings are resolved on first use, not at open, so a
memory opens without the provider package or its credentials until a model is needed.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import get_args

from langchain_core.language_models import BaseChatModel

from plugmem.errors import InvalidInputError, LLMUnavailableError
from plugmem.policy import LLMRole, MemoryPolicy

Role = LLMRole
ROLES: tuple[Role, ...] = get_args(Role)
ModelLike = BaseChatModel | str


def check_roles(llms: Mapping[str, object]) -> None:
    """Reject unknown role names and values that are neither chat models nor spec strings."""
    for role, model in llms.items():
        if role not in ROLES:
            raise InvalidInputError(f"unknown LLM role {role!r}; the roles are {', '.join(ROLES)}")
        if not isinstance(model, BaseChatModel | str) or (isinstance(model, str) and not model.strip()):
            raise InvalidInputError(
                f"llms[{role!r}] must be a LangChain BaseChatModel or a model spec such as "
                f"'openai:gpt-4o-mini', got {type(model).__name__}"
            )


def init_model(spec: str) -> BaseChatModel:
    """`init_chat_model(spec)` with the two usual failures turned into one typed, actionable error."""
    try:
        from langchain.chat_models import init_chat_model
    except ImportError as exc:
        raise LLMUnavailableError(
            f"model spec {spec!r} needs the `langchain` package to resolve it: "
            "pip install langchain and the provider's package (e.g. langchain-openai)"
        ) from exc
    try:
        return init_chat_model(spec)
    except ImportError as exc:
        raise LLMUnavailableError(
            f"model spec {spec!r}: the provider's package is not installed ({exc}); install it, "
            "or pass a chat model object with PlugMem.open(llm=...)"
        ) from exc
    except Exception as exc:  # unknown provider, missing credentials: the provider's own message
        raise LLMUnavailableError(f"model spec {spec!r} could not be loaded: {exc}") from exc


class ChatModels:
    """Resolves each role's chat model, per policy, creating spec strings once each."""

    def __init__(self, llm: ModelLike | None = None, llms: Mapping[str, ModelLike] | None = None) -> None:
        given = dict(llms or {})
        check_roles(given)
        if llm is not None:
            check_roles(dict.fromkeys(ROLES, llm))
        self.llm = llm
        self.llms: dict[str, ModelLike] = given
        self._made: dict[str, BaseChatModel] = {}
        self._lock = threading.Lock()

    def spec(self, role: Role, policy: MemoryPolicy) -> ModelLike | None:
        """What configures `role` under `policy` (a model, a spec string, or None)."""
        for choice in (self.llms.get(role), self.llm, policy.llms.get(role), policy.llm):
            if choice is not None:
                return choice
        return None

    def configured(self, role: Role, policy: MemoryPolicy) -> bool:
        return self.spec(role, policy) is not None

    def get(self, role: Role, policy: MemoryPolicy) -> BaseChatModel | None:
        """The chat model for `role`, or None (the no-LLM path); raises `LLMUnavailableError`."""
        choice = self.spec(role, policy)
        if choice is None or isinstance(choice, BaseChatModel):
            return choice
        with self._lock:
            made = self._made.get(choice)
            if made is None:
                made = init_model(choice)
                self._made[choice] = made
            return made
