"""What every lowering rule gets: one small context object.

A rule is ``rule(cx, op) -> list[ir.Value]`` (the replacements of ``op``'s
results); it builds new ops through ``cx.emit`` at ``op``'s location, so the
FX node name and user source line follow every op down to the flatbuffer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from torch_mlir import ir

from tt_torch.errors import LoweringError, TTTorchError

from ..dialects._define import build, operand_fields
from ..ir_helpers import attr, location_text, op_text, update_function_type
from ..report import Report

Rule = Callable[["RewriteContext", ir.Operation], "list[ir.Value] | None"]


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
            try:
                new_values = rule(cx, op)
            except TTTorchError:
                raise
            except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
                # a form of the op the rule did not expect: the op's error, with its location
                raise cx.fail(f"the rule does not cover this form of the op ({type(e).__name__}: {e})") from e
        if new_values is None:
            raise cx.fail("the rule does not cover this form of the op")
        for old, new in zip(op.results, new_values):
            old.replace_all_uses_with(new)
        op.erase()
    update_function_type(func_op, block)
