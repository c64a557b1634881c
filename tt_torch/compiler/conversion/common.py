"""What every lowering rule gets: one small context object.

A rule is ``rule(cx, op) -> list[ir.Value]`` (the replacements of ``op``'s
results); it builds new ops through ``cx.emit`` at ``op``'s location, so the
FX node name and user source line follow every op down to the flatbuffer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch_mlir import ir

from tt_torch.errors import CompileError, LoweringError

from ..dialects._define import build, operand_fields

Rule = Callable[["RewriteContext", ir.Operation], "list[ir.Value] | None"]


def attr(value: Any) -> ir.Attribute:
    """Python value -> MLIR attribute (bool, int, float, str, list of ints)."""
    if isinstance(value, ir.Attribute):
        return value
    if isinstance(value, bool):
        return ir.BoolAttr.get(value)
    if isinstance(value, int):
        return ir.IntegerAttr.get(ir.IntegerType.get_signless(64), value)
    if isinstance(value, float):
        return ir.FloatAttr.get(ir.F64Type.get(), value)
    if isinstance(value, str):
        return ir.StringAttr.get(value)
    if isinstance(value, (list, tuple)):
        return ir.DenseI64ArrayAttr.get([int(v) for v in value])
    raise TypeError(f"no attribute for {value!r}")


def shape_of(value: ir.Value) -> list[int]:
    return list(ir.RankedTensorType(value.type).shape)


def element_type(value_or_type) -> ir.Type:
    t = value_or_type.type if isinstance(value_or_type, ir.Value) else value_or_type
    return ir.RankedTensorType(t).element_type


def location_text(loc: ir.Location) -> str:
    return str(loc).removeprefix("loc(").removesuffix(")") if str(loc) != "loc(unknown)" else "unknown location"


def op_text(op: ir.Operation, limit: int = 800) -> str:
    text = op.get_asm(large_elements_limit=8, enable_debug_info=False, use_local_scope=True, assume_verified=True)
    return text if len(text) <= limit else text[:limit] + " ..."


def signature_text(op: ir.Operation, limit: int = 400) -> str:
    """A cheap one-line description (name, attributes, operand and result types) for per-op debug info.

    Printing an op with ``get_asm`` costs about half a millisecond; programs
    have thousands of ops.
    """
    attrs = ", ".join(f"{k} = {str(op.attributes[k])[:60]}" for k in op.attributes if k != "operandSegmentSizes")
    ins = ", ".join(str(v.type) for v in op.operands)
    outs = ", ".join(str(r.type) for r in op.results)
    text = f"{op.name}({ins}) {{{attrs}}} -> ({outs})"
    return text if len(text) <= limit else text[:limit] + " ..."


@dataclass
class Report:
    """What the compiler did that the user should know about."""

    narrowings: dict[str, int] = field(default_factory=dict)
    op_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    fused: dict[str, int] = field(default_factory=dict)
    # The device options' effects, the cost model's estimate and the memory plan.
    device: dict[str, Any] = field(default_factory=dict)

    def narrowed(self, src: ir.Type, dst: ir.Type, what: str) -> None:
        key = f"{src} -> {dst} ({what})"
        self.narrowings[key] = self.narrowings.get(key, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "narrowings": dict(self.narrowings),
            "op_counts": {k: dict(v) for k, v in self.op_counts.items()},
            "fused": dict(self.fused),
            "device": dict(self.device),
        }


class RewriteContext:
    """Builder handed to every rule of one conversion."""

    def __init__(
        self, stage: str, ops: dict[str, type], report: Report, convert_type: Callable[[ir.Type, str], ir.Type]
    ):
        self.stage = stage
        self.ops = ops
        self.report = report
        self._convert_type = convert_type
        self.op: ir.Operation | None = None

    # the op being rewritten
    @property
    def loc(self) -> ir.Location:
        return self.op.location

    def fail(self, reason: str) -> LoweringError:
        return LoweringError(self.stage, self.op.name, op_text(self.op), location_text(self.op.location), reason)

    def type(self, t: ir.Type, what: str = "") -> ir.Type:
        return self._convert_type(t, what or self.op.name)

    def result_type(self, i: int = 0) -> ir.Type:
        return self.type(self.op.results[i].type)

    def tensor_type(self, shape: Iterable[int], element: ir.Type, encoding: ir.Attribute | None = None) -> ir.Type:
        return ir.RankedTensorType.get(list(shape), element, encoding)

    def emit(self, name: str, *operands, result: ir.Type | None = None, **attrs) -> ir.Value | None:
        """Builds op ``name``: positional operands, then optional ones by keyword, then attributes."""
        cls = self.ops[name]
        fields = operand_fields(cls)
        values = list(operands) + [attrs.pop(f, None) for f in fields[len(operands) :]]
        op = build(cls, values, {k: attr(v) for k, v in attrs.items()}, result, self.loc)
        return op.result if result is not None else None


def run_conversion(
    module: ir.Module,
    stage: str,
    rules: dict[str, Rule],
    cx: RewriteContext,
    passthrough: Iterable[str] = (),
) -> None:
    """Rewrites every op of every function with ``rules``; an op without a rule is an error."""
    keep = set(passthrough) | {"func.return"}
    with module.context, ir.Location.unknown(module.context):
        for func_op in module.body.operations:
            _convert_function(func_op, stage, rules, cx, keep)


def _convert_function(func_op, stage: str, rules: dict[str, Rule], cx: RewriteContext, keep: set[str]) -> None:
    block = func_op.regions[0].blocks[0]
    for arg in block.arguments:
        arg.set_type(cx.type(arg.type, "function argument"))
    for op in list(block.operations):
        op = op.operation
        if op.name in keep:
            continue
        rule = rules.get(op.name)
        cx.op = op
        if rule is None:
            raise cx.fail(f"no {stage} rule for this op")
        with ir.InsertionPoint(op), op.location:
            new_values = rule(cx, op)
        if new_values is None:
            raise cx.fail("the rule does not cover this form of the op")
        for old, new in zip(op.results, new_values):
            old.replace_all_uses_with(new)
        op.erase()
    update_function_type(func_op, block)


def update_function_type(func_op, block) -> None:
    ret = block.operations[len(block.operations) - 1]
    inputs = [a.type for a in block.arguments]
    results = [v.type for v in ret.operands]
    func_op.attributes["function_type"] = ir.TypeAttr.get(ir.FunctionType.get(inputs, results))


_VALUE_PRESERVING = (
    "ttir.typecast",
    "ttir.reshape",
    "ttir.repeat",
    "stablehlo.convert",
    "stablehlo.reshape",
    "stablehlo.broadcast_in_dim",
)


def argument_tags(func_op, index: int) -> tuple[str, str | None]:
    """Kind ("input", "parameter", "buffer", "constant") and name of argument `index`, as
    ``pipelines.tag_arguments`` wrote them (``tt.argument_type``, ``tt.name``); untagged:
    ("input", None)."""
    if "arg_attrs" not in func_op.attributes:
        return "input", None
    d = ir.DictAttr(ir.ArrayAttr(func_op.attributes["arg_attrs"])[index])
    kind = ir.StringAttr(d["tt.argument_type"]).value if "tt.argument_type" in d else "input"
    name = ir.StringAttr(d["tt.name"]).value if "tt.name" in d else None
    return kind, name


def as_operation(owner) -> ir.Operation | ir.Block:
    """A value's owner or a use's owner as the generic ``ir.Operation`` (op views unwrapped);
    a block argument's owner stays its ``ir.Block``."""
    return getattr(owner, "operation", owner)


def splat_value(value: ir.Value) -> float | int | bool | None:
    """The scalar ``value`` holds everywhere when it is a constant (seen through casts and reshapes), else None."""
    while True:
        op = as_operation(value.owner)
        if not isinstance(op, ir.Operation):
            return None
        if op.name in _VALUE_PRESERVING:
            value = op.operands[0]
            continue
        if op.name == "ttir.full":
            return ir.FloatAttr(op.attributes["fill_value"]).value
        if op.name in ("stablehlo.constant", "arith.constant", "ttir.constant"):
            flat = dense_to_numpy(ir.DenseElementsAttr(op.attributes["value"])).reshape(-1)
            if flat.size and np.all(flat == flat[0]):
                return flat[0].item()
        return None


def dense_to_numpy(value: ir.DenseElementsAttr) -> np.ndarray:
    """The elements of a dense attribute as a NumPy array of its shape."""
    t = ir.RankedTensorType(value.type)
    shape = list(t.shape)
    if value.is_splat:
        scalar = value.get_splat_value()
        v = _scalar_value(scalar)
        return np.full(shape, v, dtype=_np_dtype(t.element_type))
    try:
        arr = np.array(value, copy=True)
    except Exception as e:  # noqa: BLE001 - re-raised with context below
        raise CompileError(f"cannot read constant of type {t}: {e}") from e
    return arr.reshape(shape)


def _scalar_value(a: ir.Attribute):
    if isinstance(a, ir.IntegerAttr):
        return ir.IntegerAttr(a).value
    if isinstance(a, ir.FloatAttr):
        return ir.FloatAttr(a).value
    if isinstance(a, ir.BoolAttr):
        return ir.BoolAttr(a).value
    raise CompileError(f"unsupported constant element {a}")


def _np_dtype(t: ir.Type):
    s = str(t)
    return {
        "f32": np.float32,
        "f64": np.float64,
        "f16": np.float16,
        "bf16": np.float32,
        "i1": np.bool_,
        "i8": np.int8,
        "i16": np.int16,
        "i32": np.int32,
        "i64": np.int64,
        "ui8": np.uint8,
        "ui32": np.uint32,
    }.get(s, np.float32)
