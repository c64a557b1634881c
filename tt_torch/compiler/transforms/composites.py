"""TTIR: the decompositions of composite ops folded back into one fused op.

torch-mlir lowers ``aten._softmax`` into max / subtract / exp / sum / divide and
``aten.gelu`` into an erf polynomial of about twenty ops, but every op of a decomposition
keeps the location of the FX node it came from (``loc("gelu_3"("model.py":41))``). Ops
are grouped by that node; a group whose node is a composite, with one input and one
output from and to the rest of the program, becomes the fused TTIR op, which lowers to
one TTNN op and one runtime kernel:

- ``_softmax`` -> ``ttir.softmax(x) {dimension}`` (the dimension of its max reduction);
- ``gelu`` (exact, erf) -> ``ttir.gelu(x)``; the tanh approximation stays decomposed.

A group that does not have that shape (an extra input, several outputs used elsewhere)
is left as it is: fusion never changes what is computed.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from torch_mlir import ir

from ..conversion.common import Report, as_operation
from ..dialects import ttir
from ..dialects._define import build

_NODE = re.compile(r'^loc\("([A-Za-z_][\w.]*)"')


def node_name(location: ir.Location) -> str | None:
    """The FX node an op came from: the name of its ``loc("node"(...))``."""
    m = _NODE.match(str(location))
    return m.group(1) if m else None


def _composite(name: str) -> str | None:
    """`gelu_3` -> `gelu`; None unless the node is a composite this pass folds."""
    base = re.sub(r"_\d+$", "", name)
    return base if base in FUSIONS else None


def _single(values: list[ir.Value]) -> ir.Value | None:
    unique = list(dict.fromkeys(values))
    return unique[0] if len(unique) == 1 else None


def _names(group: list[ir.Operation]) -> set[str]:
    return {op.name.removeprefix("ttir.") for op in group}


def _softmax(group: list[ir.Operation], x: ir.Value, out: ir.Value):
    # the whole decomposition must be there: a part of it (one op compiled alone in
    # op-by-op mode keeps its node's location too) is not a softmax
    maxes = [op for op in group if op.name == "ttir.max"]
    if len(maxes) != 1 or not {"subtract", "exp", "sum", "div"} <= _names(group):
        return None
    dims = list(ir.DenseI64ArrayAttr(maxes[0].attributes["dim_arg"]))
    if len(dims) != 1 or x.type != out.type:
        return None
    return "softmax", {"dimension": ir.IntegerAttr.get(ir.IntegerType.get_signless(32), dims[0])}


def _gelu(group: list[ir.Operation], x: ir.Value, out: ir.Value):
    names = _names(group)
    if x.type != out.type or "tanh" in names:
        return None  # the tanh approximation is another function
    # x * 0.5 * (1 + erf(x / sqrt(2))), erf as an op or as torch-mlir's clamped polynomial
    if not ({"multiply", "add"} <= names and ("erf" in names or "clamp_tensor" in names)):
        return None
    return "gelu", {}


# composite FX node -> (group, input, output) -> (TTIR op, attributes) or None
FUSIONS: dict[str, Callable] = {"_softmax": _softmax, "gelu": _gelu}


def fuse_composites(module: ir.Module, report: Report | None = None) -> dict[str, int]:
    counts: dict[str, int] = {}
    with module.context:
        for func_op in module.body.operations:
            block = func_op.regions[0].blocks[0]
            groups: dict[str, list[ir.Operation]] = {}
            for op in block.operations:
                op = op.operation
                name = node_name(op.location) if op.name.startswith("ttir.") else None
                if name is not None and _composite(name):
                    groups.setdefault(name, []).append(op)
            for name, group in groups.items():
                kind = _fold(name, group)
                if kind:
                    counts[kind] = counts.get(kind, 0) + 1
    if report is not None:
        for k, v in counts.items():
            report.fused[k] = report.fused.get(k, 0) + v
    return counts


def _fold(name: str, group: list[ir.Operation]) -> str | None:
    members = set(group)
    results = {r for op in group for r in op.results}
    inputs = [v for op in group for v in op.operands if v not in results]
    # constants, and values computed from constants only (which torch-mlir may share between
    # two decompositions, e.g. the rsqrt(2) of two GELUs), are neither inputs nor outputs
    inputs = [v for v in inputs if not _is_constant(v)]
    outputs = [
        r
        for op in group
        for r in op.results
        for use in r.uses
        if as_operation(use.owner) not in members and not _is_constant(r)
    ]
    x, out = _single(inputs), _single(outputs)
    if x is None or out is None:
        return None
    found = FUSIONS[_composite(name)](group, x, out)
    if found is None:
        return None
    op_name, attrs = found
    producer = as_operation(out.owner)
    with ir.InsertionPoint(producer), producer.location:
        fused = build(ttir.OPS[op_name], [x], attrs, out.type, producer.location)
    out.replace_all_uses_with(fused.result)
    for op in reversed(group):  # users before producers
        if all(not list(r.uses) for r in op.results):
            op.erase()
    return op_name


def _is_constant(value: ir.Value, depth: int = 0) -> bool:
    """A constant, or a TTIR op of constants only (a few levels deep)."""
    op = as_operation(value.owner)
    if not isinstance(op, ir.Operation) or not op.name.startswith("ttir."):
        return False
    if op.name in ("ttir.constant", "ttir.full"):
        return True
    return depth < 4 and len(op.operands) > 0 and all(_is_constant(v, depth + 1) for v in op.operands)
