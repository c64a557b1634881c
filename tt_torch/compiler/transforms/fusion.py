"""TTIR simplification and fusion: patterns over ops, each a (name, function) rule.

A rule gets an op and returns the value that replaces its result, or None.
Rules run over each function until none applies. What they match:

- ``multiply(x, 1)`` and ``add(x, 0)`` with a splat constant of x's shape -> x
  (what torch-mlir's addmm decomposition leaves: ``mm * 1 + bias * 1``);
- ``add(matmul(a, b), bias)`` -> ``linear(a, b, bias)``, where a bias that was
  broadcast with ``repeat`` is taken before the repeat (linear broadcasts);
- ``add(permute(conv2d(x, w)), bias)`` with a per-channel bias ->
  ``permute(conv2d(x, w, bias))``;
- ``add(permute(conv2d(x, w, bias)), residual)`` with a residual of the result's shape ->
  ``permute(conv2d(x, w, bias, residual))`` (a residual block's sum inside the convolution,
  before its activation; oneDNN's binary-add post-op), when the conv has no activation yet;
- ``permute(permute(x, p), q)`` whose permutations compose to the identity -> x (conv2d's
  NHWC result goes back to NCHW for the model and forward again for the next conv);
- ``maximum(x, 0)`` -> ``relu(x)`` (torch-mlir's relu, whose zeros are a full-size constant);
- an activation (relu, gelu, gelu_tanh, silu) of a linear's, matmul's or conv2d's result,
  also through reshapes and permutes, when nothing else reads that result -> the linear
  (a matmul becomes a linear without bias) or conv2d with ``activation`` set (TTNN's
  fused activation: one kernel, no intermediate tensor).

Before them, elementwise ops take broadcast operands directly: a ``repeat``
that only expanded size-1 dims is dropped, since TTNN's elementwise ops
broadcast (materializing the repeat costs a full-size copy). Grouped-query attention's key and
value heads, repeated for each query head (``reshape -> repeat -> reshape``, Hugging Face's
``repeat_kv``), go to ``scaled_dot_product_attention`` unrepeated: TTNN's op shares each key/value
head between its group of query heads (a decode step no longer copies the whole cache twice).
"""

from __future__ import annotations

from collections.abc import Callable

from torch_mlir import ir

from ..dialects import ttir
from ..dialects._define import build
from ..ir_helpers import as_operation, element_type, shape_of, splat_value
from ..report import Report

Rule = Callable[[ir.Operation], "ir.Value | None"]


def _producer(value: ir.Value):
    op = as_operation(value.owner)
    return op if isinstance(op, ir.Operation) else None


def _single_use(value: ir.Value) -> bool:
    return len(list(value.uses)) == 1


def _identity(neutral: float) -> Rule:
    def rule(op: ir.Operation):
        lhs, rhs = op.operands
        for x, c in ((lhs, rhs), (rhs, lhs)):
            if x.type == op.result.type and splat_value(c) == neutral:
                return x
        return None

    return rule


def _unbroadcast(value: ir.Value) -> ir.Value:
    """The value before a ``repeat`` that only broadcast size-1 dims."""
    op = _producer(value)
    if op is not None and op.name == "ttir.repeat":
        return op.operands[0]
    return value


def _emit(name: str, operands: list, attrs: dict, result: ir.Type, loc: ir.Location) -> ir.Value:
    return build(ttir.OPS[name], operands, attrs, result, loc).result


def _linear(op: ir.Operation):
    for mm, bias in ((op.operands[0], op.operands[1]), (op.operands[1], op.operands[0])):
        mm_op = _producer(mm)
        if mm_op is None or mm_op.name != "ttir.matmul" or not _single_use(mm):
            continue
        if mm.type != op.result.type:
            continue
        bias = _unbroadcast(bias)
        if element_type(bias) != element_type(mm):
            continue
        attrs = {k: mm_op.attributes[k] for k in ("transpose_a", "transpose_b")}
        with ir.InsertionPoint(op):
            return _emit("linear", [mm_op.operands[0], mm_op.operands[1], bias], attrs, op.result.type, op.location)
    return None


_NHWC_TO_NCHW = [0, 3, 1, 2]


def _permuted_conv(value: ir.Value):
    """(the permute, the conv's value, the conv2d) when ``value`` is the NHWC -> NCHW permute of a
    conv2d's result and both are used once; None otherwise."""
    perm_op = _producer(value)
    if perm_op is None or perm_op.name != "ttir.permute" or not _single_use(value):
        return None
    if list(ir.DenseI64ArrayAttr(perm_op.attributes["permutation"])) != _NHWC_TO_NCHW:
        return None
    conv = perm_op.operands[0]
    conv_op = _producer(conv)
    if conv_op is None or conv_op.name != "ttir.conv2d" or not _single_use(conv):
        return None
    return perm_op, conv, conv_op


def _conv_bias(op: ir.Operation):
    for conv_out, bias in ((op.operands[0], op.operands[1]), (op.operands[1], op.operands[0])):
        found = _permuted_conv(conv_out)
        if found is None:
            continue
        perm_op, conv, conv_op = found
        if len(list(conv_op.operands)) != 2:  # already has a bias
            continue
        channels = shape_of(conv)[3]
        b = _unbroadcast(bias)
        if shape_of(b) != [1, channels, 1, 1] or element_type(b) != element_type(conv):
            continue
        with ir.InsertionPoint(op):
            t = ir.RankedTensorType.get([1, 1, 1, channels], element_type(b))
            flat_bias = _emit("reshape", [b], {"shape": ir.DenseI64ArrayAttr.get([1, 1, 1, channels])}, t, op.location)
            attrs = {k: conv_op.attributes[k] for k in ("stride", "padding", "dilation", "groups")}
            new_conv = _emit(
                "conv2d",
                [conv_op.operands[0], conv_op.operands[1], flat_bias, None],
                attrs,
                conv.type,
                conv_op.location,
            )
            return _emit(
                "permute", [new_conv], {"permutation": perm_op.attributes["permutation"]}, op.result.type, op.location
            )
    return None


_NCHW_TO_NHWC = [0, 2, 3, 1]


def _conv_residual(op: ir.Operation):
    """The sum of a residual block: the conv's value plus a full-size tensor, in the conv."""
    for conv_out, residual in ((op.operands[0], op.operands[1]), (op.operands[1], op.operands[0])):
        found = _permuted_conv(conv_out)
        if found is None:
            continue
        perm_op, conv, conv_op = found
        # the activation would come before the sum; a second residual has no place
        if "activation" in conv_op.attributes or _conv_operand(conv_op, 3) is not None:
            continue
        if residual.type != op.result.type or conv_out.type != op.result.type:
            continue
        # the fused op computes the add's value: it takes the add's location
        with ir.InsertionPoint(op):
            nhwc = _emit(
                "permute", [residual], {"permutation": ir.DenseI64ArrayAttr.get(_NCHW_TO_NHWC)}, conv.type, op.location
            )
            attrs = {k: conv_op.attributes[k] for k in ("stride", "padding", "dilation", "groups")}
            operands = [conv_op.operands[0], conv_op.operands[1], _conv_operand(conv_op, 2), nhwc]
            new_conv = _emit("conv2d", operands, attrs, conv.type, op.location)
            return _emit(
                "permute", [new_conv], {"permutation": perm_op.attributes["permutation"]}, op.result.type, op.location
            )
    return None


def _conv_operand(conv_op: ir.Operation, field: int) -> ir.Value | None:
    """conv2d's operand of ``field`` (0 input, 1 weight, 2 bias, 3 residual), None if absent."""
    sizes = list(ir.DenseI32ArrayAttr(conv_op.attributes["operandSegmentSizes"]))
    if not sizes[field]:
        return None
    return conv_op.operands[sum(sizes[:field])]


def _permute_pair(op: ir.Operation):
    inner = _producer(op.operands[0])
    if inner is None or inner.name != "ttir.permute":
        return None
    outer_perm = list(ir.DenseI64ArrayAttr(op.attributes["permutation"]))
    inner_perm = list(ir.DenseI64ArrayAttr(inner.attributes["permutation"]))
    source = inner.operands[0]
    if any(inner_perm[p] != i for i, p in enumerate(outer_perm)) or source.type != op.result.type:
        return None
    return source


def _relu(op: ir.Operation):
    for x, c in ((op.operands[0], op.operands[1]), (op.operands[1], op.operands[0])):
        if x.type == op.result.type and splat_value(c) == 0:
            with ir.InsertionPoint(op):
                return _emit("relu", [x], {}, op.result.type, op.location)
    return None


def _activation(op: ir.Operation):
    src = op.operands[0]
    if src.type != op.result.type:
        return None
    # an elementwise function commutes with reshapes and permutes (conv2d's NHWC result
    # comes back to NCHW through one, a linear's batch dims through the other)
    views, value = [], src
    while _single_use(value) and _producer(value) is not None and _producer(value).name in _VIEWS:
        views.append(_producer(value))
        value = _producer(value).operands[0]
    target = _producer(value)
    if target is None or not _single_use(value) or target.name not in ("ttir.linear", "ttir.conv2d", "ttir.matmul"):
        return None
    if "activation" in target.attributes:
        return None
    # The op, then the views, again, now computing the activation's value: they take the
    # activation's location, which names the FX node whose value they hold (what
    # intermediate verification compares them with). A matmul becomes a linear without bias.
    attrs = {k: target.attributes[k] for k in target.attributes}
    attrs["activation"] = ir.StringAttr.get(op.name.removeprefix("ttir."))
    with ir.InsertionPoint(op):
        if target.name == "ttir.matmul":
            operands = [target.operands[0], target.operands[1], None]
            fused = _emit("linear", operands, attrs, value.type, op.location)
        else:
            fused = ir.Operation.create(
                target.name, results=[value.type], operands=list(target.operands), attributes=attrs, loc=op.location
            ).result
        for view in reversed(views):
            fused = _emit(
                view.name.removeprefix("ttir."),
                [fused],
                {k: view.attributes[k] for k in view.attributes},
                view.result.type,
                op.location,
            )
    return fused


_VIEWS = ("ttir.reshape", "ttir.permute")


RULES: dict[str, list[tuple[str, Rule]]] = {
    "ttir.multiply": [("multiply-by-one", _identity(1.0))],
    "ttir.add": [
        ("add-zero", _identity(0.0)),
        ("linear", _linear),
        ("conv2d-bias", _conv_bias),
        ("conv2d-residual", _conv_residual),
    ],
    "ttir.permute": [("permute-pair", _permute_pair)],
    "ttir.maximum": [("relu", _relu)],
    **{f"ttir.{name}": [("fused-activation", _activation)] for name in ttir.ACTIVATIONS},
}


_BROADCASTING = {f"ttir.{n}" for n in (*ttir.BINARY, "where", "clamp_tensor")}


def _broadcastable(small: list[int], full: list[int]) -> bool:
    return len(small) == len(full) and all(s in (1, f) for s, f in zip(small, full))


def _covers(shapes: list[list[int]], full: list[int]) -> bool:
    """Whether operands of ``shapes`` broadcast to ``full`` (an elementwise op's result shape)."""
    n = len(full)
    aligned = [[1] * (n - len(s)) + list(s) for s in shapes]  # numpy's rule: aligned at the right
    return all(max(s[d] for s in aligned) == f for d, f in enumerate(full))


def drop_broadcast_repeats(block) -> int:
    """Elementwise operands that are ``repeat`` broadcasts use the repeat's input instead, as long
    as the operands still broadcast to the result (``expand(x) * 1``: one operand keeps its repeat)."""
    count = 0
    for op in block.operations:
        op = op.operation
        if op.name not in _BROADCASTING:
            continue
        out_shape = shape_of(op.result)
        shapes = [shape_of(o) for o in op.operands]
        for i, operand in enumerate(list(op.operands)):
            producer = _producer(operand)
            if producer is None or producer.name != "ttir.repeat":
                continue
            source = producer.operands[0]
            small = shape_of(source)
            if _broadcastable(small, out_shape) and _covers(
                [small if k == i else s for k, s in enumerate(shapes)], out_shape
            ):
                op.operands[i] = source
                shapes[i] = small
                count += 1
    return count


def _unrepeated_heads(value: ir.Value) -> tuple[ir.Value, int] | None:
    """``x`` [b, kv, s, d] and the group size n when `value` is ``reshape(repeat(reshape(x)))``
    through [b, kv, 1, s, d] -> [b, kv, n, s, d] -> [b, kv * n, s, d] (each head repeated n
    times in place: repeat_interleave over dim 1)."""
    merged = _producer(value)
    repeat = _producer(merged.operands[0]) if merged is not None and merged.name == "ttir.reshape" else None
    if repeat is None or repeat.name != "ttir.repeat":
        return None
    split = _producer(repeat.operands[0])
    if split is None or split.name != "ttir.reshape":
        return None
    x = split.operands[0]
    xs, ss, out = shape_of(x), shape_of(split.result), shape_of(value)
    dims = list(ir.DenseI64ArrayAttr(repeat.attributes["repeat_dimensions"]))
    if len(xs) != 4 or ss != [xs[0], xs[1], 1, xs[2], xs[3]] or len(dims) != 5:
        return None
    n = dims[2]
    if dims != [1, 1, n, 1, 1] or out != [xs[0], xs[1] * n, xs[2], xs[3]]:
        return None
    return x, n


def unrepeat_attention_heads(block) -> int:
    """Attention whose key and value are grouped-query heads repeated by reshape/repeat/reshape
    takes the heads before the repeat (the op shares them between query heads)."""
    count = 0
    for op in block.operations:
        op = op.operation
        if op.name != "ttir.scaled_dot_product_attention" or len(op.operands) < 3:
            continue
        key, value = _unrepeated_heads(op.operands[1]), _unrepeated_heads(op.operands[2])
        if key is None or value is None or shape_of(key[0])[1] != shape_of(value[0])[1]:
            continue
        if element_type(key[0]) != element_type(op.operands[1]) or element_type(value[0]) != element_type(
            op.operands[2]
        ):
            continue
        op.operands[1], op.operands[2] = key[0], value[0]
        count += 1
    return count


def fuse(module: ir.Module, report: Report | None = None) -> dict[str, int]:
    """Applies RULES until none matches; returns how often each rule fired."""
    counts: dict[str, int] = {}
    with module.context, ir.Location.unknown(module.context):
        for func_op in module.body.operations:
            block = func_op.regions[0].blocks[0]
            dropped = drop_broadcast_repeats(block)
            if dropped:
                counts["broadcast-operand"] = dropped
            unrepeated = unrepeat_attention_heads(block)
            if unrepeated:
                counts["attention-shared-heads"] = unrepeated
            changed = True
            while changed:
                changed = False
                for op in list(block.operations):
                    op = op.operation
                    for name, rule in RULES.get(op.name, ()):
                        new = rule(op)
                        if new is None:
                            continue
                        op.result.replace_all_uses_with(new)
                        op.erase()
                        counts[name] = counts.get(name, 0) + 1
                        changed = True
                        break
            _erase_dead(block)
    if report is not None:
        for k, v in counts.items():
            report.fused[k] = report.fused.get(k, 0) + v
    return counts


def _erase_dead(block) -> None:
    """Removes TTIR ops whose results nothing uses (what fusion left behind)."""
    changed = True
    while changed:
        changed = False
        for op in reversed(list(block.operations)):
            op = op.operation
            if op.name.startswith("ttir.") and op.results and all(not list(r.uses) for r in op.results):
                op.erase()
                changed = True
