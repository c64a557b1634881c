"""Removes conversions that cancel: ``to_layout(to_layout(x, A), B)`` with x already in B, and
chains of reshapes: ``reshape(reshape(x))`` reads x directly, and is x itself where the shapes
agree (conv2d's flattened NHWC output, unflattened for the model and flattened again for the
next conv2d; a bias reshaped step by step)."""

from __future__ import annotations

from torch_mlir import ir

from ..dialects.ttnn_layout import decode
from ..ir_helpers import as_operation, ops_named


def _layout(t: ir.Type) -> str | None:
    encoding = decode(t)
    return encoding.layout if encoding is not None else None


def _producer(value: ir.Value):
    return as_operation(value.owner)


def cancel_layout_pairs(module: ir.Module) -> int:
    """Returns how many ``ttnn.to_layout`` and ``ttnn.reshape`` ops were removed."""
    return _fold_pairs(module, "ttnn.reshape") + _fold_pairs(module, "ttnn.to_layout")


def _fold_pairs(module: ir.Module, name: str) -> int:
    """``name(name(x))`` with x already in the outer result's layout reads x: a pair of
    to_layouts is x itself, a pair of reshapes is x where the types agree, else one reshape
    of x. The inner op goes when nothing else reads it. Returns how many ops were removed."""
    removed = 0
    with module.context:
        for _, op in ops_named(module, name):
            producer = _producer(op.operands[0])
            if getattr(producer, "name", None) != name:
                continue
            source = producer.operands[0]
            if _layout(source.type) != _layout(op.result.type):
                continue
            if name == "ttnn.to_layout" or source.type == op.result.type:
                op.result.replace_all_uses_with(source)
                op.erase()
                removed += 1
            else:
                op.operands[0] = source
            if not list(producer.result.uses):
                producer.erase()
                removed += 1
    return removed
