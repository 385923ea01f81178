"""Prompt templates shipped with judge (data, not code)."""
