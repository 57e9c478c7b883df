"""`PlugMemRetriever`: plugmem recall behind LangChain's `BaseRetriever`.

Why: RAG chains, LCEL pipelines and many agent templates take a retriever. Wrapping
`recall` keeps plugmem's scheduling (full / fast / deep) and token budget, and every
`Document` carries the provenance of the recalled item (source message ids, tier,
why that tier ran) in its metadata.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableConfig, ensure_config
from pydantic import ConfigDict, Field, field_validator

from plugmem import MemoryPolicy, PlugMem, Recall, RecallMode, validate_namespace
from plugmem_langgraph.policies import namespace_for

__all__ = ["PlugMemRetriever", "recall_to_documents"]


def recall_to_documents(recall: Recall, namespace: Sequence[str] | None = None) -> list[Document]:
    """One `Document` per recalled item, in the order recall rendered them."""
    docs = []
    for it in recall.items:
        meta: dict[str, Any] = {
            "id": it.id,
            "kind": it.kind,
            "score": it.score,
            "timestamp": it.timestamp.isoformat() if it.timestamp is not None else None,
            "source_ids": list(it.source_ids),
            "session_id": it.session_id,
            "tier": it.tier,
            "tokens": it.tokens,
            "reason": recall.reason,
        }
        if namespace is not None:
            meta["namespace"] = list(namespace)
        docs.append(Document(page_content=it.text, metadata=meta, id=it.id))
    return docs


class PlugMemRetriever(BaseRetriever):
    """Recall memory as Documents, within a token budget.

    The namespace is fixed (`namespace=("users", "u1")`) or, when left out, filled per
    call from `config["configurable"]` through the policy's namespace template, so one
    retriever serves every user of a graph. `budget_tokens`, `mode` and `k` override the
    policy's values when set.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    memory: PlugMem
    namespace: tuple[str, ...] | None = None
    policy: MemoryPolicy | None = None
    budget_tokens: int | None = Field(default=None, ge=1)
    mode: RecallMode | None = None
    k: int | None = Field(default=None, ge=1)

    @field_validator("namespace", mode="before")
    @classmethod
    def _ns(cls, v: Any) -> tuple[str, ...] | None:
        return None if v is None else validate_namespace(v)

    @property
    def effective_policy(self) -> MemoryPolicy:
        return self.policy or self.memory.policy

    def _recall_kwargs(
        self,
        namespace: tuple[str, ...] | None,
        *,
        k: int | None = None,
        budget_tokens: int | None = None,
        mode: RecallMode | None = None,
    ) -> dict[str, Any]:
        """Recall arguments: per-call values win over the retriever's, which win over the policy's
        (the namespace: the call's, else the retriever's, else the policy's template on the run config)."""
        pol = self.effective_policy
        fixed = namespace if namespace is not None else self.namespace
        return {
            "namespace": namespace_for(pol, ensure_config(None), fixed),
            "budget_tokens": budget_tokens or self.budget_tokens or pol.budget_tokens,
            "mode": mode or self.mode or pol.mode,
            "k": k if k is not None else self.k,
            "policy": pol,
        }

    def invoke(self, input: str, config: RunnableConfig | None = None, **kwargs: Any) -> list[Document]:
        """Recall for `input`; `k`, `budget_tokens` and `mode` may be passed per call."""
        kwargs.setdefault(
            "namespace", namespace_for(self.effective_policy, ensure_config(config), self.namespace)
        )
        return super().invoke(input, config, **kwargs)

    async def ainvoke(
        self, input: str, config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[Document]:
        kwargs.setdefault(
            "namespace", namespace_for(self.effective_policy, ensure_config(config), self.namespace)
        )
        return await super().ainvoke(input, config, **kwargs)

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        namespace: tuple[str, ...] | None = None,
        k: int | None = None,
        budget_tokens: int | None = None,
        mode: RecallMode | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        """Extra keyword arguments other retrievers take (e.g. `filter`) are accepted and ignored."""
        args = self._recall_kwargs(namespace, k=k, budget_tokens=budget_tokens, mode=mode)
        return recall_to_documents(self.memory.recall(query, **args), args["namespace"])

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        namespace: tuple[str, ...] | None = None,
        k: int | None = None,
        budget_tokens: int | None = None,
        mode: RecallMode | None = None,
        **kwargs: Any,
    ) -> list[Document]:
        args = self._recall_kwargs(namespace, k=k, budget_tokens=budget_tokens, mode=mode)
        return recall_to_documents(await self.memory.arecall(query, **args), args["namespace"])
