"""The MLIR context the compiler works in: StableHLO plus TTIR and TTNN."""

from __future__ import annotations

from torch_mlir import ir

from .dialects import _define, ttir, ttnn


def prepare(context: ir.Context) -> ir.Context:
    """Loads StableHLO, TTIR and TTNN into ``context`` (e.g. torch-mlir's)."""
    from torch_mlir._mlir_libs import _stablehlo

    _stablehlo.register_dialect(context)
    _define.load(ttir.TTIR, context)
    _define.load(ttnn.TTNN, context)
    return context


def new_context() -> ir.Context:
    """A fresh context with StableHLO, TTIR and TTNN, for parsing .mlir files."""
    from torch_mlir.dialects import torch as torch_d

    ctx = ir.Context()
    torch_d.register_dialect(ctx)
    ctx.allow_unregistered_dialects = False
    return prepare(ctx)
