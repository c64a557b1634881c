"""Removes conversions that cancel: ``to_layout(to_layout(x, A), B)`` with x already in B, and
chains of reshapes: ``reshape(reshape(x))`` reads x directly, and is x itself where the shapes
agree (conv2d's flattened NHWC output, unflattened for the model and flattened again for the
next conv2d; a bias reshaped step by step)."""

from __future__ import annotations

from torch_mlir import ir

from ..dialects.ttnn_layout import decode
from ..ir_helpers import as_operation


def _layout(t: ir.Type) -> str | None:
    encoding = decode(t)
    return encoding.layout if encoding is not None else None


def _producer(value: ir.Value):
    return as_operation(value.owner)


def cancel_layout_pairs(module: ir.Module) -> int:
    """Returns how many ``ttnn.to_layout`` and ``ttnn.reshape`` ops were removed."""
    removed = _fold_reshapes(module)
    with module.context:
        for func_op in module.body.operations:
            block = func_op.regions[0].blocks[0]
            for op in list(block.operations):
                op = op.operation
                if op.name != "ttnn.to_layout":
                    continue
                producer = _producer(op.operands[0])
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


def _fold_reshapes(module: ir.Module) -> int:
    removed = 0
    with module.context:
        for func_op in module.body.operations:
            block = func_op.regions[0].blocks[0]
            for op in list(block.operations):
                op = op.operation
                if op.name != "ttnn.reshape":
                    continue
                producer = _producer(op.operands[0])
                if getattr(producer, "name", None) != "ttnn.reshape":
                    continue
                source = producer.operands[0]
                if _layout(source.type) != _layout(op.result.type):
                    continue
                if source.type == op.result.type:
                    op.result.replace_all_uses_with(source)
                    op.erase()
                    removed += 1
                else:
                    op.operands[0] = source
                if not list(producer.result.uses):
                    producer.erase()
                    removed += 1
    return removed
