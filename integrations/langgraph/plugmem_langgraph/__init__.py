"""LangGraph integration for plugmem: checkpointer, store, retriever, tools, memory node."""

from plugmem_langgraph.store import PlugMemStore

__all__ = ["PlugMemStore"]
