"""Ingest: pure functions that turn logged steps into events, knowledge, entities and summaries."""
