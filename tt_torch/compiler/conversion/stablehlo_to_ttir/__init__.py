"""StableHLO -> TTIR: the lowering table of this boundary.

``convert(module, report)`` rewrites every function of ``module`` in place.
Elementwise rules are one line; the rest live in ``rules.py``.
"""

from __future__ import annotations

from torch_mlir import ir

from ...dialects import ttir
from ...report import Report
from ..rewrite import RewriteContext, Rule, run_conversion
from . import ccl, integers, rules
from .types import make_type_converter

STAGE = "StableHLO -> TTIR"


def _same(name: str) -> Rule:
    def rule(cx: RewriteContext, op: ir.Operation):
        return [cx.emit(name, *op.operands, result=cx.result_type())]

    rule.__name__ = f"to_{name}"
    return rule


_ELTWISE = {
    "add": "add",
    "subtract": "subtract",
    "multiply": "multiply",
    "divide": "div",
    "maximum": "maximum",
    "minimum": "minimum",
    "power": "pow",
    "remainder": "remainder",
    "atan2": "atan2",
    "abs": "abs",
    "negate": "neg",
    "exponential": "exp",
    "log": "log",
    "sqrt": "sqrt",
    "rsqrt": "rsqrt",
    "tanh": "tanh",
    "logistic": "sigmoid",
    "sine": "sin",
    "cosine": "cos",
    "floor": "floor",
    "ceil": "ceil",
    "sign": "sign",
    "log_plus_one": "log1p",
    "exponential_minus_one": "expm1",
    "is_finite": "isfinite",
}

RULES: dict[str, Rule] = {f"stablehlo.{k}": _same(v) for k, v in _ELTWISE.items()}
RULES.update(
    {
        "stablehlo.and": integers.bitwise("logical_and", "bitwise_and"),
        "stablehlo.or": integers.bitwise("logical_or", "bitwise_or"),
        "stablehlo.xor": integers.bitwise("logical_xor", "bitwise_xor"),
        "stablehlo.not": integers.not_,
        "stablehlo.shift_left": integers.shift("logical_left_shift"),
        "stablehlo.shift_right_logical": integers.shift("logical_right_shift"),
        "stablehlo.shift_right_arithmetic": integers.shift("right_shift"),
        "stablehlo.compare": rules.compare,
        "stablehlo.clamp": rules.clamp,
        "stablehlo.select": rules.select,
        "stablehlo.convert": rules.convert,
        "stablehlo.constant": rules.constant,
        "arith.constant": rules.constant,
        "stablehlo.broadcast_in_dim": rules.broadcast_in_dim,
        "stablehlo.reshape": rules.reshape,
        "stablehlo.transpose": rules.transpose,
        "stablehlo.dot_general": rules.dot_general,
        "stablehlo.convolution": rules.convolution,
        "stablehlo.reduce": rules.reduce,
        "stablehlo.reduce_window": rules.reduce_window,
        "stablehlo.slice": rules.slice_,
        "stablehlo.concatenate": rules.concatenate,
        "stablehlo.iota": rules.iota,
        "tensor.empty": rules.empty,
        "stablehlo.dynamic_iota": rules.iota,
        "stablehlo.pad": rules.pad,
        "stablehlo.gather": rules.gather,
        "stablehlo.scatter": rules.scatter,
        "stablehlo.sort": rules.sort,
        "stablehlo.reverse": rules.reverse,
        "stablehlo.tan": rules.tan,
        "stablehlo.round_nearest_even": rules.round_nearest_even,
        "stablehlo.round_nearest_afz": rules.round_nearest_afz,
        **ccl.RULES,
    }
)
# i8 and i16 results wrapped to their width after the ops that can leave it (integers.py)
RULES = {name: integers.keep_width(name, rule) for name, rule in RULES.items()}


def convert(module: ir.Module, report: Report | None = None) -> Report:
    report = report or Report()
    cx = RewriteContext(STAGE, ttir.OPS, report, make_type_converter(report))
    run_conversion(module, STAGE, RULES, cx)
    return report
