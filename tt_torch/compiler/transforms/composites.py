"""TTIR: the decompositions of composite ops folded back into one fused op.

torch-mlir lowers ``aten._softmax`` into max / subtract / exp / sum / divide and
``aten.gelu`` into an erf polynomial of about twenty ops, but every op of a decomposition
keeps the location of the FX node it came from (``loc("gelu_3"("model.py":41))``). Ops
are grouped by that node; a group whose node is a composite, holding the whole
decomposition with one output to the rest of the program, becomes the fused TTIR op,
which lowers to one TTNN op and one runtime kernel:

- ``_softmax`` -> ``ttir.softmax(x) {dimension}`` (the dimension of its max reduction);
- ``gelu`` -> ``ttir.gelu(x)`` (erf) or ``ttir.gelu_tanh(x)``; ``silu`` -> ``ttir.silu(x)``;
- ``native_layer_norm`` / ``rms_norm`` -> ``ttir.layer_norm`` / ``ttir.rms_norm`` (last dim);
- scaled-dot-product attention -> ``ttir.scaled_dot_product_attention(q, k, v, mask?)
  {is_causal, scale}``. Its decomposition is tt-torch's own, traced under one group name
  (``tt_torch.composite``, the protocol of all these steps), as torch-mlir does not lower the ATen op.

A group that does not have that shape (an extra input, several outputs used elsewhere)
is left as it is: fusion never changes what is computed.
"""

from __future__ import annotations

from collections.abc import Callable

from torch_mlir import ir

from tt_torch.composite import kind_of, node_of_location

from ..dialects import ttir
from ..dialects._define import build
from ..ir_helpers import as_operation, element_type, shape_of, splat_value
from ..report import Report


def _composite(name: str) -> str | None:
    """`gelu_3` -> `gelu`; None unless the node is a composite this pass folds."""
    kind = kind_of(name)
    return kind if kind in FUSIONS else None


def _single(values: list[ir.Value]) -> ir.Value | None:
    unique = list(dict.fromkeys(values))
    return unique[0] if len(unique) == 1 else None


def _names(group: list[ir.Operation]) -> set[str]:
    return {op.name.removeprefix("ttir.") for op in group}


def _softmax(group: list[ir.Operation], inputs: list[ir.Value], out: ir.Value):
    # the whole decomposition must be there: a part of it (one op compiled alone in
    # op-by-op mode keeps its node's location too) is not a softmax
    maxes = [op for op in group if op.name == "ttir.max"]
    if len(inputs) != 1 or len(maxes) != 1 or not {"subtract", "exp", "sum", "div"} <= _names(group):
        return None
    dims = list(ir.DenseI64ArrayAttr(maxes[0].attributes["dim_arg"]))
    if len(dims) != 1 or inputs[0].type != out.type:
        return None
    return "softmax", inputs, {"dimension": ir.IntegerAttr.get(ir.IntegerType.get_signless(32), dims[0])}


def _gelu(group: list[ir.Operation], inputs: list[ir.Value], out: ir.Value):
    names = _names(group)
    if len(inputs) != 1 or inputs[0].type != out.type or not {"multiply", "add"} <= names:
        return None
    if "tanh" in names:  # 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))
        return "gelu_tanh", inputs, {}
    # x * 0.5 * (1 + erf(x / sqrt(2))), erf as an op or as torch-mlir's clamped polynomial
    if "erf" in names or "clamp_tensor" in names:
        return "gelu", inputs, {}
    return None


def _silu(group: list[ir.Operation], inputs: list[ir.Value], out: ir.Value):
    # x * sigmoid(x)
    if len(inputs) != 1 or inputs[0].type != out.type or not {"sigmoid", "multiply"} <= _names(group):
        return None
    return "silu", inputs, {}


def _reduced_dims(op: ir.Operation) -> list[int]:
    return list(ir.DenseI64ArrayAttr(op.attributes["dim_arg"]))


def _user_past_broadcasts(value: ir.Value, members: set) -> ir.Operation | None:
    """The one op of the group that reads `value`, past reshapes, broadcasts and casts."""
    users = [as_operation(u.owner) for u in value.uses if as_operation(u.owner) in members]
    if len(users) != 1:
        return None
    if users[0].name in ("ttir.reshape", "ttir.repeat", "ttir.typecast"):
        return _user_past_broadcasts(users[0].result, members)
    return users[0]


def _norm(kind: str, reductions: int) -> Callable:
    """Layer norm ``(x - mean) * rsqrt(var + eps) [* weight] [+ bias]`` (two reductions) or
    RMS norm ``x * rsqrt(mean(x^2) + eps) [* weight]`` (one), over the last dim only (TTNN's
    layer_norm and rms_norm); weight and bias are told apart by the op that reads them."""

    def match(group: list[ir.Operation], inputs: list[ir.Value], out: ir.Value):
        xs = [v for v in inputs if v.type == out.type]
        sums = [op for op in group if op.name in ("ttir.sum", "ttir.mean")]
        rsqrts = [op for op in group if op.name == "ttir.rsqrt"]
        if len(xs) != 1 or len(sums) != reductions or len(rsqrts) != 1 or len(inputs) > 3:
            return None
        (x,) = xs
        shape = shape_of(x)
        if not shape or any(_reduced_dims(op) != [len(shape) - 1] for op in sums):
            return None  # normalized over more than the last dim
        eps_add = as_operation(rsqrts[0].operands[0].owner)
        if not isinstance(eps_add, ir.Operation) or eps_add.name != "ttir.add":
            return None
        eps = [splat_value(v) for v in eps_add.operands if splat_value(v) is not None]
        if len(eps) != 1:
            return None
        members = set(group)
        params: dict[str, ir.Value] = {}
        for v in inputs:
            if v is x:
                continue
            user = _user_past_broadcasts(v, members)
            if shape_of(v) != [shape[-1]] or user is None or user.name not in ("ttir.multiply", "ttir.add"):
                return None
            params["weight" if user.name == "ttir.multiply" else "bias"] = v
        if len(params) != len(inputs) - 1:
            return None
        attrs = {"epsilon": ir.FloatAttr.get_f32(float(eps[0]))}
        return kind, [x, params.get("weight"), params.get("bias")], attrs

    return match


_VIEWS = ("ttir.reshape", "ttir.repeat", "ttir.permute")


def _source(value: ir.Value, members: set) -> tuple[ir.Value, list[ir.Operation]]:
    """The value `value` is a view of (past the group's reshapes, repeats and permutes),
    and those views."""
    views = []
    while True:
        op = as_operation(value.owner)
        if not isinstance(op, ir.Operation) or op not in members or op.name not in _VIEWS:
            return value, views
        views.append(op)
        value = op.operands[0]


def _swaps_last_two(permute: ir.Operation) -> bool:
    perm = list(ir.DenseI64ArrayAttr(permute.attributes["permutation"]))
    rank = len(perm)
    return rank >= 2 and perm == [*range(rank - 2), rank - 1, rank - 2]


def _broadcasts_to(shape: list[int], target: list[int]) -> bool:
    if len(shape) > len(target):
        return False
    return all(d in (1, t) for d, t in zip(reversed(shape), reversed(target)))


def _attention(causal: bool) -> Callable:
    """Scaled-dot-product attention as tt-torch's FX decomposition writes it
    (frontend/decompositions.py): ``softmax(q @ k^T * scale [+ mask]) @ v`` with the causal
    triangle applied when the composite is causal, key/value heads repeated for grouped-query
    attention, and zeros for rows with every score masked. Each role is found by where the
    value enters the two products; 4-D query, key and value only (TTNN's op)."""

    def match(group: list[ir.Operation], inputs: list[ir.Value], out: ir.Value):
        names = _names(group)
        matmuls = [op for op in group if op.name == "ttir.matmul"]
        if len(matmuls) != 2 or not {"max", "subtract", "exp", "sum", "div", "where"} <= names:
            return None
        if any(ir.BoolAttr(mm.attributes[t]).value for mm in matmuls for t in ("transpose_a", "transpose_b")):
            return None
        members = set(group)
        scores, weighted = matmuls  # in program order
        q, q_views = _source(scores.operands[0], members)
        k, k_views = _source(scores.operands[1], members)
        v, v_views = _source(weighted.operands[1], members)
        k_permutes = [op for op in k_views if op.name == "ttir.permute"]
        if len(k_permutes) != 1 or not _swaps_last_two(k_permutes[0]):
            return None
        if any(op.name == "ttir.permute" for op in q_views + v_views):
            return None
        qs, ks, vs = shape_of(q), shape_of(k), shape_of(v)
        if not len(qs) == len(ks) == len(vs) == 4 or shape_of(out) != [*qs[:3], vs[3]]:
            return None
        if ks[0] != qs[0] or vs[:3] != ks[:3] or ks[3] != qs[3] or qs[1] % ks[1]:
            return None
        if len({str(element_type(x)) for x in (q, k, v, out)}) != 1:
            return None
        # every other input is the additive mask, or (causal only) the triangle the scores are
        # selected by, computed from constants (here, or in another group when torch-mlir
        # shares it between layers)
        mask = None
        for x in inputs:
            if x in (q, k, v):
                continue
            user = _user_past_broadcasts(x, members)
            adds = user is not None and user.name == "ttir.add" and element_type(x) == element_type(q)
            if causal and not adds and _is_constant(x):
                continue
            if mask is not None or not adds:
                return None
            if not _broadcasts_to(shape_of(x), [qs[0], qs[1], qs[2], ks[2]]):
                return None
            mask = x
        # the scale multiplies the scores; other multiplies compute the causal triangle
        # from constants only
        multiplies = [op for op in group if op.name == "ttir.multiply" and not _is_constant(op.result)]
        factors = [splat_value(x) for op in multiplies for x in op.operands if splat_value(x) is not None]
        if len(multiplies) > 1 or len(factors) != len(multiplies):
            return None
        if multiplies and _source(multiplies[0].operands[0], members)[0] != scores.result:
            return None
        attrs = {
            "is_causal": ir.BoolAttr.get(causal),
            "scale": ir.FloatAttr.get_f32(float(factors[0]) if factors else 1.0),
        }
        return "scaled_dot_product_attention", [q, k, v, mask], attrs

    return match


# composite FX node -> (group, inputs, output) -> (TTIR op, operands, attributes) or None
FUSIONS: dict[str, Callable] = {
    "_softmax": _softmax,
    "gelu": _gelu,
    "silu": _silu,
    "native_layer_norm": _norm("layer_norm", reductions=2),
    "rms_norm": _norm("rms_norm", reductions=1),
    # named by tt_torch.composite.name_groups after the decomposition's kind
    "scaled_dot_product_attention": _attention(causal=False),
    "scaled_dot_product_attention_causal": _attention(causal=True),
}


def fuse_composites(module: ir.Module, report: Report | None = None) -> dict[str, int]:
    counts: dict[str, int] = {}
    with module.context:
        for func_op in module.body.operations:
            block = func_op.regions[0].blocks[0]
            groups: dict[str, list[ir.Operation]] = {}
            for op in block.operations:
                op = op.operation
                name = node_of_location(op.location) if op.name.startswith("ttir.") else None
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
    # values computed from constants only may be shared between two decompositions
    # (torch-mlir's CSE: the rsqrt(2) of two GELUs, the causal triangle of two attentions):
    # they are not outputs, and those holding one value everywhere (which the fused op's
    # attributes or its definition hold) not inputs
    inputs = list(
        dict.fromkeys(v for op in group for v in op.operands if v not in results and not _is_constant(v, splat=True))
    )
    outputs = [
        r
        for op in group
        for r in op.results
        for use in r.uses
        if as_operation(use.owner) not in members and not _is_constant(r)
    ]
    out = _single(outputs)
    if not inputs or out is None:
        return None
    found = FUSIONS[_composite(name)](group, inputs, out)
    if found is None:
        return None
    op_name, operands, attrs = found
    producer = as_operation(out.owner)
    with ir.InsertionPoint(producer), producer.location:
        fused = build(ttir.OPS[op_name], operands, attrs, out.type, producer.location)
    out.replace_all_uses_with(fused.result)
    for op in reversed(group):  # users before producers
        if all(not list(r.uses) for r in op.results):
            op.erase()
    return op_name


def _is_constant(value: ir.Value, limit: int = 64, splat: bool = False) -> bool:
    """A constant, or a value TTIR ops compute from constants only (within `limit` ops);
    with `splat`, from constants that hold one value each, which makes the result one too."""
    seen: set = set()
    stack = [value]
    while stack:
        v = stack.pop()
        op = as_operation(v.owner)
        if not isinstance(op, ir.Operation) or not op.name.startswith("ttir."):
            return False
        if op in seen:
            continue
        seen.add(op)
        if len(seen) > limit:
            return False
        if op.name in ("ttir.constant", "ttir.full", "ttir.arange"):
            if splat and (op.name == "ttir.arange" or splat_value(v) is None):
                return False
        elif not op.operands:
            return False
        else:
            stack.extend(op.operands)
    return True
