"""Recall: schedule → retrieve → render."""
