"""StableHLO -> TTIR rules of the integer ops, and the width of widened i8 / i16 values.

``and``, ``or``, ``xor`` and ``not`` are logical on booleans (i1, held as bf16) and bitwise
on integers; the shifts follow StableHLO: ``shift_left`` and ``shift_right_logical`` give 0
and ``shift_right_arithmetic`` the sign fill once the amount reaches the type's width, and
a negative amount counts as that large (amounts are unsigned). The device ops work on the
bit pattern of their result's type (32, 16 or 8 bits).

i8 and i16 live in si32 on the device (``types.py``). An 8-bit machine's result is the low
8 bits of the exact one, so :func:`keep_width` follows every op that can leave the declared
range with a wrap to it (shift left, then arithmetic shift right, by 32 - width): ``x + y``
on int8 gives -56 for 100 + 100, as ONNX and NumPy compute it, inside the program as well
as at its outputs. Ops that keep their operands' range (max, select, data movement...)
are not wrapped.
"""

from __future__ import annotations

from torch_mlir import ir

from ...ir_helpers import element_type
from ..rewrite import RewriteContext, Rule
from .types import widened_width

_DEVICE_WIDTH = 32  # widened values live in si32


def _is_bool(value: ir.Value) -> bool:
    return str(element_type(value.type)) == "i1"


def bitwise(logical_name: str, bitwise_name: str) -> Rule:
    """``stablehlo.and`` / ``or`` / ``xor``: logical on booleans, bitwise on integers."""

    def rule(cx: RewriteContext, op: ir.Operation):
        name = logical_name if _is_bool(op.results[0]) else bitwise_name
        return [cx.emit(name, *op.operands, result=cx.result_type())]

    rule.__name__ = f"to_{bitwise_name}"
    return rule


def not_(cx: RewriteContext, op: ir.Operation):
    name = "logical_not" if _is_bool(op.results[0]) else "bitwise_not"
    return [cx.emit(name, op.operands[0], result=cx.result_type())]


def _full(cx: RewriteContext, like: ir.Value, value: int) -> ir.Value:
    return cx.emit("full", result=like.type, fill_value=float(value))


def shift(name: str) -> Rule:
    """A StableHLO shift as the TTIR op ``name``. A widened i8 / i16 value shifted right
    logically is first cut to its own bits (its sign extension would shift in as ones)."""

    def rule(cx: RewriteContext, op: ir.Operation):
        x, amount = op.operands
        width = widened_width(element_type(op.results[0].type))
        if name == "logical_right_shift" and width:
            x = cx.emit("bitwise_and", x, _full(cx, x, (1 << width) - 1), result=x.type)
        return [cx.emit(name, x, amount, result=cx.result_type())]

    rule.__name__ = f"to_{name}"
    return rule


# Ops whose integer results stay within their operands' range (or are not integers of a
# widened type): no wrap after them.
_KEEP_RANGE = frozenset(
    f"stablehlo.{name}"
    for name in (
        "maximum minimum select clamp and or xor not shift_right_arithmetic remainder sign compare constant "
        "reshape transpose broadcast_in_dim slice concatenate pad gather reverse sort"
    ).split()
) | {"arith.constant"}


def wrap(cx: RewriteContext, value: ir.Value, width: int) -> ir.Value:
    """The si32 ``value`` reduced to a ``width``-bit two's complement value (its low bits, sign-extended)."""
    by = _full(cx, value, _DEVICE_WIDTH - width)
    high = cx.emit("logical_left_shift", value, by, result=value.type)
    return cx.emit("right_shift", high, by, result=value.type)


def keep_width(name: str, rule: Rule) -> Rule:
    """``rule``, with each i8 / i16 result it makes wrapped to its declared width, unless op
    ``name`` keeps its operands' range."""
    if name in _KEEP_RANGE:
        return rule

    def wrapped(cx: RewriteContext, op: ir.Operation):
        values = rule(cx, op)
        if values is None:
            return None
        out = []
        for result, value in zip(op.results, values):
            width = widened_width(element_type(result.type)) if isinstance(result.type, ir.RankedTensorType) else None
            out.append(wrap(cx, value, width) if width and value is not None else value)
        return out

    wrapped.__name__ = getattr(rule, "__name__", name)
    return wrapped
