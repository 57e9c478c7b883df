"""Benchmark harness and results (kept out of the unit tests)."""
