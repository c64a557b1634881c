"""Dialect conversions, one lowering table per boundary."""
