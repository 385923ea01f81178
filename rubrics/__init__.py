"""Rubrics shipped with judge (data, not code)."""
