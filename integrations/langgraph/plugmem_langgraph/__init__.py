"""LangGraph integration for plugmem: create_agent middleware, checkpointer, store, retriever, tools, memory node, policies."""

from plugmem_langgraph.checkpoint import PlugMemSaver
from plugmem_langgraph.errors import StoreNamespaceError, UnknownAgentError
from plugmem_langgraph.middleware import MemoryRecallState, PlugMemMiddleware, PlugMemState
from plugmem_langgraph.node import (
    MEMORY_MESSAGE_PREFIX,
    MemoryNode,
    is_memory_message,
    memory_node,
    memory_pre_model_hook,
    memory_writer,
)
from plugmem_langgraph.policies import (
    PolicyRegistry,
    aapply_retention,
    apply_retention,
    config_values,
    load_policies,
    namespace_for,
)
from plugmem_langgraph.retriever import PlugMemRetriever, recall_to_documents
from plugmem_langgraph.store import PlugMemStore
from plugmem_langgraph.tools import (
    SaveMemoryInput,
    SaveMemoryTool,
    SearchMemoryInput,
    SearchMemoryTool,
    create_memory_tools,
    format_recall,
)

__all__ = [
    "MEMORY_MESSAGE_PREFIX",
    "MemoryNode",
    "MemoryRecallState",
    "PlugMemMiddleware",
    "PlugMemRetriever",
    "PlugMemSaver",
    "PlugMemState",
    "PlugMemStore",
    "PolicyRegistry",
    "SaveMemoryInput",
    "SaveMemoryTool",
    "SearchMemoryInput",
    "SearchMemoryTool",
    "StoreNamespaceError",
    "UnknownAgentError",
    "aapply_retention",
    "apply_retention",
    "config_values",
    "create_memory_tools",
    "format_recall",
    "is_memory_message",
    "load_policies",
    "memory_node",
    "memory_pre_model_hook",
    "memory_writer",
    "namespace_for",
    "recall_to_documents",
]
