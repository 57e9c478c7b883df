"""plugmem: structured long-term memory for LLM agents."""
