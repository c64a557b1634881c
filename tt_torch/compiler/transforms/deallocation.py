"""Inserts ``ttnn.deallocate`` after the last use of every device tensor."""

from __future__ import annotations

from torch_mlir import ir

from ..dialects import ttnn
from ..dialects._define import build


def _is_device(value: ir.Value) -> bool:
    t = value.type
    return isinstance(t, ir.RankedTensorType) and t.encoding is not None


def insert_deallocations(module: ir.Module) -> int:
    """Returns how many deallocations were inserted."""
    count = 0
    with module.context:
        for func_op in module.body.operations:
            block = func_op.regions[0].blocks[0]
            ops = [op.operation for op in block.operations]
            position = {op: i for i, op in enumerate(ops)}
            for op in ops:
                for value in op.results:
                    if not _is_device(value):
                        continue
                    users = [u.owner for u in value.uses]
                    last = max(users, key=lambda u: position[u.operation if hasattr(u, "operation") else u], default=op)
                    last = last.operation if hasattr(last, "operation") else last
                    if last.name == "func.return":
                        continue
                    with ir.InsertionPoint.after(last), last.location:
                        build(ttnn.OPS["deallocate"], [value], {"force": ir.BoolAttr.get(False)}, None, last.location)
                    count += 1
    return count
