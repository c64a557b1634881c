"""Inserts ``ttnn.deallocate`` after the last use of every device tensor."""

from __future__ import annotations

from collections.abc import Iterator

from torch_mlir import ir

from ..dialects import ttnn
from ..dialects._define import build
from ..dialects.ttnn_layout import is_device
from ..ir_helpers import as_operation, function_ops


def last_user(value: ir.Value, position: dict) -> ir.Operation | None:
    """The user of `value` that comes last in program order (`position`: op -> index)."""
    return max((as_operation(u.owner) for u in value.uses), key=lambda u: position[u], default=None)


def program_order(module: ir.Module) -> Iterator[tuple[list[ir.Operation], dict]]:
    """Each function's ops in program order, and each op's index in it."""
    for func_op in module.body.operations:
        ops = function_ops(func_op)
        yield ops, {op: i for i, op in enumerate(ops)}


def insert_deallocations(module: ir.Module) -> int:
    """Returns how many deallocations were inserted."""
    count = 0
    with module.context:
        for ops, position in program_order(module):
            for op in ops:
                for value in op.results:
                    if not is_device(value):
                        continue
                    last = last_user(value, position) or op
                    if last.name == "func.return":
                        continue
                    with ir.InsertionPoint.after(last), last.location:
                        build(ttnn.OPS["deallocate"], [value], {"force": ir.BoolAttr.get(False)}, None, last.location)
                    count += 1
    return count
