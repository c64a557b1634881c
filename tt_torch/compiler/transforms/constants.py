"""Folds shape changes of constants at compile time.

A Python scalar in a model (``x + 0.5``) reaches TTIR as a one-element constant reshaped
to the rank of the tensor it meets (``reshape(reshape(constant))``). Left alone, every call
runs the reshapes and frees what they leave behind; folded, the program holds the constant
in the shape its reader takes, and a call builds it with one op.

- ``reshape(constant)`` with a splat value -> a constant of the reshape's type;
- ``reshape(full)`` -> a full of the reshape's type.

A constant other ops also read stays for them; one that only fed the reshapes goes.
"""

from __future__ import annotations

from torch_mlir import ir

from ..dialects import ttir
from ..dialects._define import build
from ..ir_helpers import as_operation, ops_named
from ..report import Report


def _folded(op: ir.Operation) -> ir.Operation | None:
    """The constant (or full) that replaces reshape ``op`` of one, or None."""
    producer = as_operation(op.operands[0].owner)
    if not isinstance(producer, ir.Operation):
        return None
    out_t = op.result.type
    if producer.name == "ttir.full":
        attrs = {a.name: a.attr for a in producer.attributes}
        return build(ttir.OPS["full"], [], attrs, out_t, op.location)
    if producer.name == "ttir.constant":
        value = ir.DenseElementsAttr(producer.attributes["value"])
        if not value.is_splat:
            return None
        splat = ir.DenseElementsAttr.get_splat(ir.RankedTensorType(out_t), value.get_splat_value())
        return build(ttir.OPS["constant"], [], {"value": splat}, out_t, op.location)
    return None


def fold_constant_reshapes(module: ir.Module, report: Report | None = None) -> int:
    """Returns how many reshapes of constants were folded."""
    folded = 0
    with module.context:
        for _, op in ops_named(module, "ttir.reshape"):
            producer = as_operation(op.operands[0].owner)
            with ir.InsertionPoint(op):
                new = _folded(op)
            if new is None:
                continue
            op.result.replace_all_uses_with(new.result)
            op.erase()
            folded += 1
            if not list(producer.result.uses):
                producer.erase()
    if report is not None and folded:
        report.fused["constant-reshape"] = report.fused.get("constant-reshape", 0) + folded
    return folded
