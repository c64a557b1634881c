"""tt-torch's TTNN program against the real tt-mlir's: which compute ops each has that the other lacks.

Layout and memory bookkeeping (to_layout, deallocate, get_device, load_cached, ...) is left out:
the comparison is about compute. A fused activation counts as its own entry, ``op+activation``
(tt-mlir's ``ttnn.add`` with ``activations = [relu]`` is ``ttnn.add+relu``), so that an
activation tt-mlir fused and tt-torch did not shows up as a difference.
"""

from __future__ import annotations

import collections

from .compile import TTMlirResult, fused_activations, ttnn_op_counts

BOOKKEEPING = frozenset(
    {
        "ttnn.to_layout",
        "ttnn.to_device",
        "ttnn.from_device",
        "ttnn.deallocate",
        "ttnn.get_device",
        "ttnn.typecast",
        "ttnn.to_memory_config",
        "ttcore.load_cached",
    }
)


def compute_ops(ttnn_text: str) -> collections.Counter:
    counts = ttnn_op_counts(ttnn_text)
    for op in BOOKKEEPING:
        counts.pop(op, None)
    counts.update(fused_activations(ttnn_text))
    return counts


def compare(ours_ttnn: str | None, theirs: TTMlirResult) -> dict:
    """The cross-check record of one graph or op: tt-mlir's status and error, and the op differences."""
    record = {"status": theirs.status, "error": theirs.error, "seconds": round(theirs.seconds, 4)}
    if not theirs.ok:
        return record
    mine = compute_ops(ours_ttnn or "")
    real = compute_ops(theirs.ttnn or "")
    record.update(
        tt_mlir_ops=dict(sorted(real.items())),
        tt_torch_ops=dict(sorted(mine.items())),
        # ops (or fused activations) only tt-mlir's program has: typically what it fuses and we do not
        only_tt_mlir=dict(sorted((k, v) for k, v in real.items() if not mine[k])),
        # and the reverse
        only_tt_torch=dict(sorted((k, v) for k, v in mine.items() if not real[k])),
        count_differs={k: [mine[k], real[k]] for k in sorted(set(mine) & set(real)) if mine[k] != real[k]},
    )
    return record


def one_line(record: dict) -> str:
    """For spreadsheets: the differences as one short text."""
    if record.get("status") != "ok":
        return ""
    parts = [f"tt-mlir only: {_fmt(record['only_tt_mlir'])}" if record["only_tt_mlir"] else ""]
    parts.append(f"tt-torch only: {_fmt(record['only_tt_torch'])}" if record["only_tt_torch"] else "")
    return "; ".join(p for p in parts if p) or "same ops"


def _fmt(d: dict) -> str:
    return ", ".join(f"{k} x{v}" for k, v in d.items())
