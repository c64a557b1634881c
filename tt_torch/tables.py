"""Plain-text tables for terminals and logs, laid out by rich: columns as wide as their widest
cell (a long op name or location widens its column instead of shifting the others), no colour and
no rules (a log file or CI console shows them as is; the columns split on whitespace)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def text_table(header: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[str] = ()) -> str:
    """``header`` names the columns; those named in ``right`` are right-aligned (numbers)."""
    import io

    from rich.console import Console  # lazy: rich loads only where a table is printed
    from rich.table import Table

    table = Table(box=None, pad_edge=False, show_lines=False)
    for name in header:
        table.add_column(name, justify="right" if name in right else "left", no_wrap=True)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    out = io.StringIO()
    Console(file=out, width=10_000, color_system=None, force_terminal=False, legacy_windows=False).print(table)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines() if line.strip())


__all__ = ["text_table"]
