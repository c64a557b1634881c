"""Transforms on TTNN modules."""
