"""FX passes run on the traced aten graph before torch-mlir import.

Each pass takes and returns a ``torch.fx.GraphModule`` and can be called on
its own. Placeholders keep the order of the traced function's arguments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.fx as fx
from torch.utils import _pytree as pytree

aten = torch.ops.aten

# Reductions that torch-mlir's StableHLO lowering crashes on (segfault) for a
# 0-d input reduced over dim 0 with keepdim=True; they are all the identity there.
_ZERO_D_IDENTITY_REDUCTIONS = {
    aten.sum.dim_IntList,
    aten.mean.dim,
    aten.amax.default,
    aten.amin.default,
    aten.logsumexp.default,
}


def output_structure(gm: fx.GraphModule):
    """The structure of a graph's output, with fx nodes as its leaves."""
    return next(n for n in reversed(gm.graph.nodes) if n.op == "output").args[0]


def output_nodes(gm: fx.GraphModule) -> list[fx.Node]:
    """A graph's outputs, flattened."""
    return list(pytree.tree_flatten(output_structure(gm))[0])


def _val(node: fx.Node):
    return node.meta.get("val")


def rewrite_torch_functions(gm: fx.GraphModule, replacements: dict) -> fx.GraphModule:
    """Points call_function nodes (keyed by function) and call_method nodes (keyed by name) at replacements."""
    changed = False
    for node in gm.graph.nodes:
        if node.op == "call_function" and node.target in replacements:
            node.target = replacements[node.target]
            changed = True
        elif node.op == "call_method" and node.target in replacements:  # x.isfinite() -> fn(x)
            node.op, node.target = "call_function", replacements[node.target]
            changed = True
    if changed:
        gm.recompile()
    return gm


def _conv_bn(x, w, b, stride, padding, dilation, groups, mean, var, bn_weight, bn_bias, eps):
    """conv2d followed by eval-mode batch-norm, as one conv2d with folded weights and bias.

    The folded weight and bias depend only on parameters, so consteval computes
    them once; the device runs a single convolution.
    """
    scale = torch.rsqrt(var + eps)
    if bn_weight is not None:
        scale = scale * bn_weight
    weight = w * scale.reshape(-1, *([1] * (w.dim() - 1)))
    bias = ((b if b is not None else torch.zeros_like(mean)) - mean) * scale
    if bn_bias is not None:
        bias = bias + bn_bias
    return torch.conv2d(x, weight, bias, stride, padding, dilation, groups)


def fold_batch_norm_into_conv(gm: fx.GraphModule) -> fx.GraphModule:
    """Rewrites ``batch_norm(conv2d(...), training=False)`` in dynamo's graph as one folded conv2d."""
    changed = False
    for bn in list(gm.graph.nodes):
        if bn.op != "call_function" or bn.target is not torch.nn.functional.batch_norm or bn.kwargs:
            continue
        if len(bn.args) != 8 or bn.args[5] is not False:
            continue
        conv = bn.args[0]
        if not (isinstance(conv, fx.Node) and conv.op == "call_function" and conv.target is torch.conv2d):
            continue
        if len(conv.args) != 7 or conv.kwargs or len(conv.users) != 1:
            continue
        mean, var, weight, bias, _, _, eps = bn.args[1:]
        with gm.graph.inserting_before(bn):
            fused = gm.graph.call_function(_conv_bn, (*conv.args, mean, var, weight, bias, eps))
        fused.meta = dict(bn.meta)
        bn.replace_all_uses_with(fused)
        gm.graph.erase_node(bn)
        gm.graph.erase_node(conv)
        changed = True
    if changed:
        gm.recompile()
    return gm


def _replace(gm: fx.GraphModule, node: fx.Node, target, args: tuple, kwargs: dict | None = None) -> fx.Node:
    """``node`` replaced by a call of ``target`` that takes over its meta and its users."""
    with gm.graph.inserting_before(node):
        new = gm.graph.call_function(target, args, kwargs or {})
    new.meta = dict(node.meta)
    node.replace_all_uses_with(new)
    gm.graph.erase_node(node)
    return new


# Reductions of a 0-d tensor that are a pointwise function of it: any (x != 0), all (x != 0),
# argmax/argmin (0). torch-mlir does not lower them on 0-d inputs.
_ZERO_D_POINTWISE_REDUCTIONS = {
    *(aten.any.dim, aten.any.dims, aten.any.default, aten.all.dim, aten.all.dims, aten.all.default),
    *(aten.argmax.default, aten.argmin.default),
}


def canonicalize_zero_d_reductions(gm: fx.GraphModule) -> fx.GraphModule:
    """Replaces reductions of 0-d tensors (which return their input, or a pointwise function of
    it) by the input or that function."""
    changed = False
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or node.target not in (
            _ZERO_D_IDENTITY_REDUCTIONS | _ZERO_D_POINTWISE_REDUCTIONS
        ):
            continue
        src = node.args[0]
        val = _val(src) if isinstance(src, fx.Node) else None
        out = _val(node)
        if not (isinstance(val, torch.Tensor) and val.dim() == 0 and isinstance(out, torch.Tensor) and out.dim() == 0):
            continue
        if node.target in (aten.argmax.default, aten.argmin.default):
            _replace(gm, node, aten.full.default, ([], 0), {"dtype": out.dtype, "device": out.device})
        elif node.target in _ZERO_D_POINTWISE_REDUCTIONS:
            _replace(gm, node, aten.ne.Scalar, (src, 0))
        elif out.dtype != val.dtype:
            _replace(gm, node, aten._to_copy.default, (src,), {"dtype": out.dtype})
        else:
            node.replace_all_uses_with(src)
            gm.graph.erase_node(node)
        changed = True
    if changed:
        gm.recompile()
    return gm


def _calls(node, *targets) -> bool:
    return isinstance(node, fx.Node) and node.op == "call_function" and node.target in targets


def _scaled(node) -> tuple[fx.Node, float] | None:
    """``x * c`` (either order, c a Python number) -> (x, c)."""
    if not _calls(node, aten.mul.Tensor, aten.mul.Scalar) or len(node.args) != 2 or node.kwargs:
        return None
    a, b = node.args
    if isinstance(a, fx.Node) and isinstance(b, (int, float)):
        return a, float(b)
    if isinstance(b, fx.Node) and isinstance(a, (int, float)):
        return b, float(a)
    return None


def _near(value: float, want: float) -> bool:
    return abs(value - want) <= 1e-6 * abs(want)


def _is_x_times_x(node, x: fx.Node) -> bool:
    return _calls(node, aten.mul.Tensor) and len(node.args) == 2 and node.args[0] is x and node.args[1] is x


def _is_cube_of(node, x: fx.Node) -> bool:
    if _calls(node, aten.pow.Tensor_Scalar) and node.args[0] is x and node.args[1] == 3:
        return True
    if _calls(node, aten.mul.Tensor) and len(node.args) == 2:  # x * x * x, in either grouping
        a, b = node.args
        return (a is x and _is_x_times_x(b, x)) or (b is x and _is_x_times_x(a, x))
    return False


def _single_user(node: fx.Node) -> fx.Node | None:
    users = list(node.users)
    return users[0] if len(users) == 1 else None


def _tanh_gelu_at(tanh: fx.Node) -> tuple[fx.Node, fx.Node] | None:
    """(x, the node computing the GELU) when `tanh` is the middle of
    ``0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x ** 3)))``."""
    scaled = _scaled(tanh.args[0])
    if scaled is None or not _near(scaled[1], math.sqrt(2 / math.pi)):
        return None
    inner = scaled[0]
    if not _calls(inner, aten.add.Tensor) or len(inner.args) != 2 or inner.kwargs:
        return None
    x = None
    for cand, other in (inner.args, reversed(inner.args)):
        cubic = _scaled(other)
        if isinstance(cand, fx.Node) and cubic and _near(cubic[1], 0.044715) and _is_cube_of(cubic[0], cand):
            x = cand
    if x is None:
        return None
    plus_one = _single_user(tanh)
    if not _calls(plus_one, aten.add.Tensor) or plus_one.kwargs or len(plus_one.args) != 2:
        return None
    one = plus_one.args[1] if plus_one.args[0] is tanh else plus_one.args[0]
    if not isinstance(one, (int, float)) or one != 1:
        return None
    out = _single_user(plus_one)
    if not _calls(out, aten.mul.Tensor) or len(out.args) != 2:
        return None
    half = out.args[0] if out.args[1] is plus_one else out.args[1]
    halved = _scaled(half)
    if halved is None or halved[0] is not x or halved[1] != 0.5:
        return None
    return x, out


def _rewrite_matches(gm: fx.GraphModule, anchor, match, name: str) -> fx.GraphModule:
    """Each node calling `anchor` for which ``match(node)`` gives ``(out, target, args,
    kwargs)``: `out` is replaced by one call of `target`, named `name` as dynamo names such
    a node (the compiler's composites group ops by that name)."""
    changed = False
    for node in list(gm.graph.nodes):
        found = match(node) if _calls(node, anchor) else None
        if found is None:
            continue
        out, target, args, kwargs = found
        with gm.graph.inserting_before(out):
            new = gm.graph.create_node("call_function", target, args, kwargs, name=name)
        new.meta = dict(out.meta)
        out.replace_all_uses_with(new)
        changed = True
    return eliminate_dead_code(gm) if changed else gm


def fold_tanh_gelu(gm: fx.GraphModule) -> fx.GraphModule:
    """Rewrites the tanh GELU written out in Python ops (transformers' ``gelu_new``, GPT-2's
    activation) as ``aten.gelu(x, approximate="tanh")``: the same function, which the
    compiler folds into one op (compiler/transforms/composites.py)."""

    def match(tanh):
        found = _tanh_gelu_at(tanh)
        return None if found is None else (found[1], aten.gelu.default, (found[0],), {"approximate": "tanh"})

    return _rewrite_matches(gm, aten.tanh.default, match, "gelu")


def _is_square_of(node, x: fx.Node) -> bool:
    if _calls(node, aten.pow.Tensor_Scalar) and node.args[0] is x and node.args[1] == 2:
        return True
    return _is_x_times_x(node, x)


def _other(node: fx.Node, arg) -> object:
    """The operand of a two-operand `node` that is not `arg`."""
    a, b = node.args
    return b if a is arg else a


def _rms_norm_at(rsqrt: fx.Node) -> tuple[fx.Node, fx.Node | None, float, fx.Node] | None:
    """(x, weight or None, eps, the node computing the result) when `rsqrt` is the middle
    of ``x * rsqrt(mean(x ** 2, -1, keepdim=True) + eps) [* weight]``."""
    add = rsqrt.args[0]
    if not _calls(add, aten.add.Tensor, aten.add.Scalar) or add.kwargs or len(add.args) != 2:
        return None
    mean = next((a for a in add.args if isinstance(a, fx.Node)), None)
    eps = _other(add, mean)
    if not _calls(mean, aten.mean.dim) or not isinstance(eps, (int, float)) or len(mean.args) < 3:
        return None
    square, dims, keepdim = mean.args[:3]
    if not isinstance(square, fx.Node) or square.op != "call_function" or keepdim is not True:
        return None
    x = square.args[0] if square.args else None
    shape = getattr(_val(x), "shape", None) if isinstance(x, fx.Node) else None
    if shape is None or len(shape) == 0 or not isinstance(shape[-1], int):
        return None  # (a dynamic last dim stays as written)
    if list(dims) not in ([-1], [len(shape) - 1]) or not _is_square_of(square, x):
        return None
    normed = _single_user(rsqrt)
    if not _calls(normed, aten.mul.Tensor) or len(normed.args) != 2 or _other(normed, rsqrt) is not x:
        return None
    weight, out = None, normed
    scale = _single_user(normed)
    if _calls(scale, aten.mul.Tensor) and len(scale.args) == 2:
        w = _other(scale, normed)
        w_val = _val(w) if isinstance(w, fx.Node) else None
        if isinstance(w_val, torch.Tensor) and list(w_val.shape) == [shape[-1]] and w_val.dtype == _val(x).dtype:
            weight, out = w, scale
    return x, weight, float(eps), out


def fold_rms_norm(gm: fx.GraphModule) -> fx.GraphModule:
    """Rewrites an RMS norm written out in Python ops (transformers' ``LlamaRMSNorm``,
    ``T5LayerNorm``...) as ``aten.rms_norm``: the same function over the last dim, which
    the compiler folds into one op (compiler/transforms/composites.py). A cast between
    the normalization and the weight leaves the weight's multiply as it is."""

    def match(rsqrt):
        found = _rms_norm_at(rsqrt)
        if found is None:
            return None
        x, weight, eps, out = found
        return out, aten.rms_norm.default, (x, [_val(x).shape[-1]], weight, eps), {}

    return _rewrite_matches(gm, aten.rsqrt.default, match, "rms_norm")


# ops that only change strides or memory format: values pass through unchanged
_STRIDE_ONLY = {torch.ops.prims.copy_strided.default}


_SPLAT_SOURCES = {aten.full.default: 1, aten.full_like.default: 1, aten.scalar_tensor.default: 0}
# ops that hand their operand's value on unchanged
_SPLAT_COPIES = {aten.lift_fresh_copy.default, aten.alias.default, aten.clone.default, aten.detach.default}


def fold_splats(gm: fx.GraphModule) -> fx.GraphModule:
    """Evaluates pointwise ops whose every tensor operand holds one value everywhere (``full``,
    ``full_like``, ``scalar_tensor``, one-element literal tensors of the graph, and what is
    computed from them), each becoming a ``full``.

    torch-mlir folds such ops itself and gets comparisons wrong: ``ones_like(x) < 2`` came out
    all false, as if the operands were swapped, and so did ``torch.tensor(-1.5) < 0``. Folded
    here, in PyTorch's own arithmetic on 0-d tensors of the operands' dtypes, torch-mlir sees
    only the constant result.
    """
    known: dict[fx.Node, torch.Tensor] = {}
    changed = False
    for node in list(gm.graph.nodes):
        if node.op == "get_attr":  # a literal (parameters and buffers are graph inputs here)
            literal = getattr(gm, node.target, None)
            if isinstance(literal, torch.Tensor) and literal.numel() == 1 and not literal.is_complex():
                known[node] = literal.detach().reshape(())
            continue
        val = node.meta.get("val")
        if node.op != "call_function" or not isinstance(val, torch.Tensor):
            continue
        if node.target in _SPLAT_COPIES and node.args and node.args[0] in known:
            known[node] = known[node.args[0]].to(val.dtype)
            continue
        if node.target in _SPLAT_SOURCES:
            fill = node.args[_SPLAT_SOURCES[node.target]] if len(node.args) > _SPLAT_SOURCES[node.target] else None
            if isinstance(fill, (bool, int, float)):
                known[node] = torch.tensor(fill, dtype=val.dtype)
            continue
        if not isinstance(node.target, torch._ops.OpOverload) or torch.Tag.pointwise not in node.target.tags:
            continue
        operands = node.all_input_nodes
        if not operands or any(a not in known for a in operands):
            continue
        args, kwargs = fx.node.map_arg((node.args, node.kwargs), lambda a: known[a])
        try:
            with torch.no_grad():
                value = node.target(*args, **kwargs)
        except (RuntimeError, TypeError, ValueError):  # not evaluable on 0-d operands: left as it is
            continue
        if not isinstance(value, torch.Tensor) or value.dim() != 0:
            continue
        value = value.to(val.dtype)
        with gm.graph.inserting_before(node):
            folded = gm.graph.call_function(
                aten.full.default, (list(val.shape), value.item()), {"dtype": val.dtype, "device": val.device}
            )
        folded.meta = dict(node.meta)
        node.replace_all_uses_with(folded)
        gm.graph.erase_node(node)
        known[folded] = value
        changed = True
    if changed:  # the sources left without users go with the frontend's dead-code pass
        gm.recompile()
    return gm


_EMPTY_LIKE = {aten.empty_strided.default, aten.empty_permuted.default}


def plain_empties(gm: fx.GraphModule) -> fx.GraphModule:
    """``empty_strided`` and ``empty_permuted`` (``new_zeros``, ``new_full``, losses' buffers) as
    ``empty``: the device has no strides, and torch-mlir lowers only ``empty``."""
    changed = False
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or node.target not in _EMPTY_LIKE:
            continue
        val = _val(node)
        _replace(gm, node, aten.empty.memory_format, (list(val.shape),), {"dtype": val.dtype, "device": val.device})
        changed = True
    if changed:
        gm.recompile()
    return gm


def _literal_of(gm: fx.GraphModule, node: fx.Node) -> torch.Tensor | None:
    if node.op == "get_attr":
        value = getattr(gm, node.target, None)
        return value if isinstance(value, torch.Tensor) else None
    return None


def wrap_negative_indices(gm: fx.GraphModule) -> fx.GraphModule:
    """Index tensors of ``aten.index.Tensor`` (``x[idx]``, ``torch.take``) and ``aten.index_put``
    (``x[idx] = v``) count from the end where negative, as in PyTorch: each becomes
    ``where(idx < 0, idx + size, idx)``. The device's gather and scatter read a negative index as
    out of range. A literal index with no negative entry stays."""
    changed = False
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or node.target not in (aten.index.Tensor, aten.index_put.default):
            continue
        source, indices = node.args[0], list(node.args[1])
        sizes = _val(source).shape
        for dim, idx in enumerate(indices):
            val = _val(idx) if isinstance(idx, fx.Node) else None
            if val is None or val.dtype in (torch.bool, torch.uint8) or val.dtype.is_floating_point:
                continue
            literal = _literal_of(gm, idx)
            if literal is not None and bool((literal >= 0).all()):
                continue
            with gm.graph.inserting_before(node):
                negative = gm.graph.call_function(aten.lt.Scalar, (idx, 0))
                negative.meta["val"] = val < 0
                shifted = gm.graph.call_function(aten.add.Scalar, (idx, int(sizes[dim])))
                shifted.meta["val"] = val + int(sizes[dim])
                wrapped = gm.graph.call_function(aten.where.self, (negative, shifted, idx))
                wrapped.meta["val"] = torch.where(negative.meta["val"], shifted.meta["val"], val)
            for new in (negative, shifted, wrapped):
                new.meta["stack_trace"] = node.meta.get("stack_trace")
            indices[dim] = wrapped
            changed = True
        node.args = (source, indices, *node.args[2:])
    if changed:
        gm.recompile()
    return gm


def drop_stride_only_ops(gm: fx.GraphModule) -> fx.GraphModule:
    """Replaces ops that only re-stride a tensor (decompositions emit them) by their input."""
    changed = False
    for node in list(gm.graph.nodes):
        if node.op == "call_function" and node.target in _STRIDE_ONLY:
            node.replace_all_uses_with(node.args[0])
            gm.graph.erase_node(node)
            changed = True
    if changed:
        gm.recompile()
    return gm


def has_mutation(gm: fx.GraphModule) -> bool:
    """Whether an op of the graph writes to one of its inputs (a decomposition may leave one)."""
    for node in gm.graph.nodes:
        schema = getattr(node.target, "_schema", None)
        if node.op == "call_function" and schema is not None and schema.is_mutable:
            return True
    return False


def eliminate_dead_code(gm: fx.GraphModule) -> fx.GraphModule:
    gm.graph.eliminate_dead_code()
    gm.recompile()
    return gm


_IMPURE = {aten.rand.default, aten.randn.default, aten.bernoulli.default, aten.native_dropout.default}


@dataclass
class ConstevalResult:
    """Parameter-only subgraph split off the main graph.

    ``graph`` maps the constant placeholders named in ``inputs`` (indices into
    the original placeholders) to the tensors that became new placeholders of
    the main graph, appended after the original ones.
    """

    graph: fx.GraphModule | None
    inputs: list[int] = field(default_factory=list)
    num_outputs: int = 0


def consteval(gm: fx.GraphModule, constant_inputs: set[int]) -> tuple[fx.GraphModule, ConstevalResult]:
    """Moves every subgraph that depends only on constant placeholders out of ``gm``.

    The moved nodes form a separate graph, evaluated once per set of parameter
    values; their results enter ``gm`` as new placeholders.
    """
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    const: set[fx.Node] = {placeholders[i] for i in constant_inputs}
    for node in gm.graph.nodes:
        if node.op != "call_function" or node.target in _IMPURE:
            continue
        inputs = node.all_input_nodes
        if inputs and all(i in const for i in inputs):
            const.add(node)
    # The frontier: computed constants used by the rest of the graph.
    frontier = [
        n
        for n in gm.graph.nodes
        if n in const
        and n.op != "placeholder"
        and any(u not in const for u in n.users)
        and isinstance(_val(n), torch.Tensor)
    ]
    if not frontier:
        return gm, ConstevalResult(None)

    sub = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    used_inputs: list[int] = []
    for i, ph in enumerate(placeholders):
        if ph in const and any(u in const for u in ph.users):
            env[ph] = sub.placeholder(ph.name)
            env[ph].meta = dict(ph.meta)
            used_inputs.append(i)
    needed = _ancestors(frontier)
    for node in gm.graph.nodes:
        if node in needed and node.op == "call_function":
            env[node] = sub.node_copy(node, lambda n: env[n])
    sub.output(tuple(env[n] for n in frontier))
    sub_gm = fx.GraphModule(gm, sub)

    last_ph = placeholders[-1]
    for k, node in enumerate(frontier):
        with gm.graph.inserting_after(last_ph):
            ph = gm.graph.placeholder(f"consteval_{k}")
        ph.meta = dict(node.meta)
        last_ph = ph
        node.replace_all_uses_with(ph, delete_user_cb=lambda u: u not in const)
    gm = eliminate_dead_code(gm)
    return gm, ConstevalResult(sub_gm, used_inputs, len(frontier))


def _ancestors(nodes: list[fx.Node]) -> set[fx.Node]:
    seen: set[fx.Node] = set()
    stack = list(nodes)
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        stack.extend(n.all_input_nodes)
    return seen


def prune_unused_inputs(gm: fx.GraphModule) -> tuple[fx.GraphModule, list[int]]:
    """Removes placeholders nothing uses; returns the indices of those kept."""
    kept: list[int] = []
    for i, node in enumerate([n for n in gm.graph.nodes if n.op == "placeholder"]):
        if node.users:
            kept.append(i)
        else:
            gm.graph.erase_node(node)
    gm.recompile()
    return gm, kept
