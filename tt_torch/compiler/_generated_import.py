"""The flatbuffer code generated from csrc/schema at build time."""

from __future__ import annotations

try:
    from tt_torch._generated import binary_generated as fb
    from tt_torch._generated import schema_info
except ImportError as e:  # pragma: no cover - only without a build
    raise ImportError(
        "tt_torch._generated is missing: the schema code is generated when the package is built. "
        "Run `source env/activate` (or `pip install -e . --no-build-isolation`) first."
    ) from e

__all__ = ["fb", "schema_info"]
