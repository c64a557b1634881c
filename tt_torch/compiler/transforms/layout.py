"""Removes layout conversions that cancel: ``to_layout(to_layout(x, A), B)`` with x already in B."""

from __future__ import annotations

from torch_mlir import ir

from ..dialects.ttnn_layout import decode


def _layout(t: ir.Type) -> str | None:
    encoding = decode(t)
    return encoding.layout if encoding is not None else None


def cancel_layout_pairs(module: ir.Module) -> int:
    """Returns how many ``ttnn.to_layout`` ops were removed."""
    removed = 0
    with module.context:
        for func_op in module.body.operations:
            block = func_op.regions[0].blocks[0]
            for op in list(block.operations):
                op = op.operation
                if op.name != "ttnn.to_layout":
                    continue
                producer = op.operands[0].owner
                producer = getattr(producer, "operation", producer)
                if getattr(producer, "name", None) != "ttnn.to_layout":
                    continue
                source = producer.operands[0]
                if _layout(source.type) != _layout(op.result.type):
                    continue
                op.result.replace_all_uses_with(source)
                op.erase()
                removed += 1
                if not list(producer.result.uses):
                    producer.erase()
                    removed += 1
    return removed
