"""The MLIR context the compiler works in: StableHLO plus TTIR and TTNN."""

from __future__ import annotations

import sys
import types

from torch_mlir import ir

from .dialects import _define, ttir, ttnn

# MLIR's Python bindings import ``torch_mlir.dialects.<namespace>`` whenever they look up an
# op's Python class, and remember only imports that succeeded: for a dialect without such a
# module (ours, and StableHLO here) every lookup repeated a failed import (~50 us; ~47,000
# of them in BERT-base's compile, 2.5 s). A module under that name ends the search; the op
# classes stay registered as before (ext registers ours with the bindings directly).
_DIALECT_MODULES = {"ttir": ttir, "ttnn": ttnn}


def _register_dialect_modules() -> None:
    for namespace in ("stablehlo", "ttir", "ttnn"):
        name = f"torch_mlir.dialects.{namespace}"
        if name not in sys.modules:
            sys.modules[name] = _DIALECT_MODULES.get(namespace) or types.ModuleType(name)


_register_dialect_modules()  # before any compile: the frontend walks StableHLO too


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
