"""TTNN: results a program no longer returns because it wrote them into an input's buffer.

``ttnn.update_cache`` writes a KV cache's new row into its cache operand. When that operand
is a program input moved to the device as it is (``to_device`` and ``to_layout``, no change
of data type or format: the runtime holds the caller's tensor itself) and the updated cache
is also returned, the returned copy is the input's own buffer: the result is removed from
the function, and ``report.device["in_place"]`` lists ``[result, argument]`` for each, by
their positions before the removal. The frontend names such an update only for an input
whose new value the call writes back and that nothing else reads
(``tt_torch/dynamo/mutations.py``); the executor skips the write-back of those results and
copies the input back only where it passed the program a converted copy.
"""

from __future__ import annotations

from torch_mlir import ir

from ..dialects.ttnn_layout import decode
from ..ir_helpers import argument_tags, as_operation, element_type, function_ops, update_function_type
from ..report import Report

_MOVES = ("ttnn.to_device", "ttnn.to_layout")


def _moved_argument(value: ir.Value) -> int | None:
    """The argument ``value`` is, moved to the device unchanged; None otherwise."""
    while True:
        owner = as_operation(value.owner)
        if isinstance(owner, ir.Block):
            return value.arg_number
        if owner.name not in _MOVES or element_type(owner.operands[0]) != element_type(value):
            return None
        layout = decode(value.type)
        if layout is not None and layout.data_format:
            return None
        value = owner.operands[0]


def _returned_device_value(value: ir.Value) -> ir.Value | None:
    """The device value a result is ``from_device(to_layout(...))`` of."""
    owner = as_operation(value.owner)
    if not isinstance(owner, ir.Operation) or owner.name != "ttnn.from_device":
        return None
    inner = as_operation(owner.operands[0].owner)
    if not isinstance(inner, ir.Operation) or inner.name != "ttnn.to_layout":
        return None
    return inner.operands[0]


def drop_in_place_results(module: ir.Module, report: Report | None = None) -> int:
    dropped = 0
    with module.context, ir.Location.unknown(module.context):
        for func_op in module.body.operations:
            block = func_op.regions[0].blocks[0]
            updated: dict = {}  # device value -> the argument it is
            for op in function_ops(func_op, "ttnn.update_cache"):
                arg = _moved_argument(op.operands[0])
                if arg is not None and argument_tags(func_op, arg)[0] == "input":
                    updated[op.operands[0]] = arg
            if not updated:
                continue
            ret = block.operations[len(block.operations) - 1]
            keep, pairs = [], []
            for i, value in enumerate(ret.operands):
                device_value = _returned_device_value(value)
                arg = updated.get(device_value) if device_value is not None else None
                if arg is None:
                    keep.append(value)
                else:
                    pairs.append([i, arg])
            if not pairs:
                continue
            removed = [ret.operands[i] for i, _ in pairs]
            with ir.InsertionPoint(ret), ret.location:
                ir.Operation.create("func.return", operands=keep)
            ret.erase()
            for value in removed:  # from_device, then the to_layout it reads
                host = as_operation(value.owner)
                if not list(host.results[0].uses):
                    inner = as_operation(host.operands[0].owner)
                    host.erase()
                    if not list(inner.results[0].uses):
                        inner.erase()
            _drop_result_attrs(func_op, [i for i, _ in pairs])
            update_function_type(func_op, block)
            if report is not None:
                report.device.setdefault("in_place", []).extend(pairs)
            dropped += len(pairs)
    return dropped


def _drop_result_attrs(func_op, indices: list[int]) -> None:
    if "res_attrs" not in func_op.attributes:
        return
    attrs = list(ir.ArrayAttr(func_op.attributes["res_attrs"]))
    func_op.attributes["res_attrs"] = ir.ArrayAttr.get([a for i, a in enumerate(attrs) if i not in set(indices)])
