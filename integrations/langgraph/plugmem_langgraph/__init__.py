"""LangGraph integration for plugmem."""
