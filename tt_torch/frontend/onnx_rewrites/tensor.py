"""Shape, indexing and elementwise rules: Pad, CastLike, Hardmax, Einsum, Dropout, CumProd, OneHot, Compress, Slice, scatter reductions."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from .graph import FLOATS, Graph, node_attrs, text


def pad(node: onnx.NodeProto, g: Graph) -> list[onnx.NodeProto] | None:
    """Pad by a value known only at run time: the value where a constant mask marks padding,
    else the input padded with zeros (a Where: an infinite value stays exact)."""
    if g.opset < 11 or text(node_attrs(node).get("mode", "constant")) != "constant":
        return None
    if len(node.input) < 3 or not node.input[2] or node.input[2] in g.known:
        return None
    x, y = node.input[0], node.output[0]
    in_shape, out_shape, elem = g.shapes.get(x), g.shapes.get(y), g.types.get(x)
    pads = g.input(node, 1)
    if in_shape is None or out_shape is None or pads is None or elem not in FLOATS:
        return None
    axes = g.input(node, 3)
    if len(node.input) > 3 and node.input[3] and axes is None:
        return None
    r = len(in_shape)
    axes = list(range(r)) if axes is None else [int(v) % r for v in axes]
    pads = [int(v) for v in pads]
    full = [[0, 0] for _ in range(r)]
    for i, d in enumerate(axes):
        full[d] = [pads[i], pads[len(axes) + i]]
    if any(v < 0 for pair in full for v in pair):
        return None
    dtype = helper.tensor_dtype_to_np_dtype(elem)
    mask = np.pad(np.zeros(in_shape, dtype=np.bool_), full, constant_values=True)
    base = f"{y}__pad"
    zero = g.constant(f"{base}_zero", np.zeros((), dtype=dtype))
    inputs = [x, node.input[1], zero] + ([node.input[3]] if len(node.input) > 3 and node.input[3] else [])
    return [
        helper.make_node("Pad", inputs, [f"{base}_zeros"], mode="constant", name=f"{node.name}/pad"),
        helper.make_node(
            "Where", [g.constant(f"{base}_mask", mask), node.input[2], f"{base}_zeros"], [y], name=f"{node.name}/where"
        ),
    ]


def cast_like(node: onnx.NodeProto, g: Graph) -> list[onnx.NodeProto] | None:
    """CastLike as a Cast to the target's (known) type: a constant cast then folds."""
    target = g.types.get(node.input[1])
    if not target or g.opset < 15:
        return None
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute if a.name == "saturate"}
    return [helper.make_node("Cast", [node.input[0]], [node.output[0]], to=target, name=node.name, **attrs)]


def hardmax(node: onnx.NodeProto, g: Graph) -> list[onnx.NodeProto] | None:
    """1 at the first maximum along the axis, else 0: ArgMax compared with the positions."""
    x, y = node.input[0], node.output[0]
    shape, elem = g.shapes.get(x), g.types.get(x)
    if shape is None or elem not in FLOATS or g.opset < 13 or not shape:
        return None
    axis = int(node_attrs(node).get("axis", -1)) % len(shape)
    positions = np.arange(shape[axis], dtype=np.int64).reshape([-1 if d == axis else 1 for d in range(len(shape))])
    base = f"{y}__hardmax"
    return [
        helper.make_node("ArgMax", [x], [f"{base}_arg"], axis=axis, keepdims=1, name=f"{node.name}/argmax"),
        helper.make_node(
            "Equal", [f"{base}_arg", g.constant(f"{base}_positions", positions)], [f"{base}_eq"], name=f"{node.name}/eq"
        ),
        helper.make_node("Cast", [f"{base}_eq"], [y], to=elem, name=f"{node.name}/cast"),
    ]


def einsum(node: onnx.NodeProto, g: Graph) -> list[onnx.NodeProto] | None:
    """An einsum of scalars only ("->", ",->"): their product (torch-mlir aborts on it)."""
    equation = text(node_attrs(node).get("equation", "")).replace(" ", "")
    if "->" not in equation:
        return None
    operands, result = equation.split("->")
    if result or any(operands.split(",")) or "." in equation:
        return None
    inputs, y = list(node.input), node.output[0]
    if len(inputs) == 1:
        return [helper.make_node("Identity", inputs, [y], name=node.name)]
    nodes, current = [], inputs[0]
    for k, other in enumerate(inputs[1:]):
        out = y if k == len(inputs) - 2 else f"{y}__einsum_{k}"
        nodes.append(helper.make_node("Mul", [current, other], [out], name=f"{node.name}/mul_{k}"))
        current = out
    return nodes


def dropout(node: onnx.NodeProto, g: Graph) -> list[onnx.NodeProto] | None:
    """Dropout that keeps everything (inference, or a ratio of 0): the input, and a mask of ones."""
    x = node.input[0]
    shape = g.shapes.get(x)
    training = g.input(node, 2)
    if len(node.input) > 2 and node.input[2] and training is None:
        return None
    ratio = g.input(node, 1)
    if training is not None and bool(training.reshape(-1)[0]):
        if ratio is None or float(ratio.reshape(-1)[0]) != 0.0:
            return None
    nodes = [helper.make_node("Identity", [x], [node.output[0]], name=f"{node.name}/identity")]
    if len(node.output) > 1 and node.output[1]:
        if shape is None:
            return None
        ones = g.constant(f"{node.output[1]}__dropout_mask", np.ones(shape, dtype=np.bool_))
        nodes.append(helper.make_node("Identity", [ones], [node.output[1]], name=f"{node.name}/mask"))
    return nodes


_CUMPROD_LIMIT = 256  # elements along the axis: one product node each


def cum_prod(node: onnx.NodeProto, g: Graph) -> list[onnx.NodeProto] | None:
    """Running products along the axis, one multiplication per element (exclusive: shifted by
    one, starting at 1; reverse: from the end)."""
    x, y = node.input[0], node.output[0]
    shape, elem, axis = g.shapes.get(x), g.types.get(x), g.input(node, 1)
    if shape is None or axis is None or not shape:
        return None
    axis = int(axis.reshape(-1)[0]) % len(shape)
    n = shape[axis]
    if n > _CUMPROD_LIMIT or n == 0:
        return None
    a = node_attrs(node)
    exclusive, reverse = bool(a.get("exclusive", 0)), bool(a.get("reverse", 0))
    base = f"{y}__cumprod"
    axes = g.constant(f"{base}_axes", np.array([axis], dtype=np.int64))
    nodes = []
    for k in range(n):
        start = g.constant(f"{base}_s{k}", np.array([k], dtype=np.int64))
        end = g.constant(f"{base}_e{k}", np.array([k + 1], dtype=np.int64))
        nodes.append(helper.make_node("Slice", [x, start, end, axes], [f"{base}_x{k}"], name=f"{node.name}/slice_{k}"))
    order = list(range(n - 1, -1, -1)) if reverse else list(range(n))
    running = {}
    previous = None
    for k in order:
        if previous is None:
            running[k] = f"{base}_x{k}"
        else:
            nodes.append(
                helper.make_node(
                    "Mul", [running[previous], f"{base}_x{k}"], [f"{base}_p{k}"], name=f"{node.name}/mul_{k}"
                )
            )
            running[k] = f"{base}_p{k}"
        previous = k
    if exclusive:
        one_shape = list(shape)
        one_shape[axis] = 1
        one = g.constant(f"{base}_one", np.ones(one_shape, dtype=helper.tensor_dtype_to_np_dtype(elem)))
        shifted = {order[0]: one}
        for prev, k in zip(order, order[1:]):
            shifted[k] = running[prev]
        running = shifted
    nodes.append(helper.make_node("Concat", [running[k] for k in range(n)], [y], axis=axis, name=f"{node.name}/concat"))
    return nodes


def one_hot(node: onnx.NodeProto, g: Graph) -> list[onnx.NodeProto] | None:
    """Indices (negative ones wrapped) compared with the positions along the new axis, then
    the on or off value picked."""
    indices, y = node.input[0], node.output[0]
    shape, depth = g.shapes.get(indices), g.input(node, 1)
    if shape is None or depth is None or g.opset < 13:
        return None
    depth = int(depth.reshape(-1)[0])
    rank = len(shape) + 1
    axis = int(node_attrs(node).get("axis", -1)) % rank
    base = f"{y}__onehot"
    positions = np.arange(depth, dtype=np.int64).reshape([-1 if d == axis else 1 for d in range(rank)])
    zero = g.constant(f"{base}_zero", np.zeros((), dtype=np.int64))
    size = g.constant(f"{base}_depth", np.array(depth, dtype=np.int64))
    unsqueeze_axes = g.constant(f"{base}_axis", np.array([axis], dtype=np.int64))
    on_s, on_e = (
        g.constant(f"{base}_on_s", np.array([1], np.int64)),
        g.constant(f"{base}_on_e", np.array([2], np.int64)),
    )
    off_s = g.constant(f"{base}_off_s", np.array([0], np.int64))
    return [
        helper.make_node("Cast", [indices], [f"{base}_i"], to=onnx.TensorProto.INT64, name=f"{node.name}/cast"),
        helper.make_node("Less", [f"{base}_i", zero], [f"{base}_neg"], name=f"{node.name}/neg"),
        helper.make_node("Add", [f"{base}_i", size], [f"{base}_wrapped"], name=f"{node.name}/wrap"),
        helper.make_node(
            "Where", [f"{base}_neg", f"{base}_wrapped", f"{base}_i"], [f"{base}_idx"], name=f"{node.name}/where_i"
        ),
        helper.make_node("Unsqueeze", [f"{base}_idx", unsqueeze_axes], [f"{base}_u"], name=f"{node.name}/unsqueeze"),
        helper.make_node(
            "Equal", [f"{base}_u", g.constant(f"{base}_positions", positions)], [f"{base}_hot"], name=f"{node.name}/eq"
        ),
        helper.make_node("Slice", [node.input[2], on_s, on_e], [f"{base}_on"], name=f"{node.name}/on"),
        helper.make_node("Slice", [node.input[2], off_s, on_s], [f"{base}_off"], name=f"{node.name}/off"),
        helper.make_node("Where", [f"{base}_hot", f"{base}_on", f"{base}_off"], [y], name=f"{node.name}/where"),
    ]


def compress(node: onnx.NodeProto, g: Graph) -> list[onnx.NodeProto] | None:
    """Compress by a known condition: a Gather of the kept positions (flattened first without an axis)."""
    x, y = node.input[0], node.output[0]
    shape, condition = g.shapes.get(x), g.input(node, 1)
    if shape is None or condition is None:
        return None
    a = node_attrs(node)
    base = f"{y}__compress"
    nodes, source = [], x
    if "axis" in a:
        axis = int(a["axis"]) % len(shape)
        length = shape[axis]
    else:
        axis, length = 0, int(np.prod(shape))
        flat = g.constant(f"{base}_flat", np.array([-1], dtype=np.int64))
        nodes.append(helper.make_node("Reshape", [x, flat], [f"{base}_flat_x"], name=f"{node.name}/flatten"))
        source = f"{base}_flat_x"
    kept = np.nonzero(condition.reshape(-1)[:length])[0].astype(np.int64)
    nodes.append(helper.make_node("Gather", [source, g.constant(f"{base}_kept", kept)], [y], axis=axis, name=node.name))
    return nodes


def slice_(node: onnx.NodeProto, g: Graph) -> list[onnx.NodeProto] | None:
    """A Slice with a negative step (``x[::-1]``): a Gather of the positions it visits, per axis
    (torch-mlir lowers it to a StableHLO slice with a negative stride, which is invalid)."""
    x, y = node.input[0], node.output[0]
    shape = g.shapes.get(x)
    if shape is None or g.opset < 10 or len(node.input) < 5 or not node.input[4]:
        return None
    starts, ends, axes, steps = (g.input(node, k) for k in (1, 2, 3, 4))
    if starts is None or ends is None or steps is None or (node.input[3] and axes is None):
        return None
    if not np.any(steps < 0):
        return None
    axes = list(range(len(starts))) if axes is None else [int(a) % len(shape) for a in axes]
    base = f"{y}__slice"
    nodes, current = [], x
    for k, (axis, start, end, step) in enumerate(zip(axes, starts, ends, steps)):
        positions = np.arange(shape[axis])[slice(int(start), int(end), int(step))]
        if int(step) > 0 and len(positions) == shape[axis]:
            continue
        out = f"{base}_{k}"
        index = g.constant(f"{base}_{k}_index", positions.astype(np.int64))
        nodes.append(helper.make_node("Gather", [current, index], [out], axis=axis, name=f"{node.name}/gather_{k}"))
        current = out
    nodes.append(helper.make_node("Identity", [current], [y], name=f"{node.name}/identity"))
    return nodes


_SCATTER_LIMIT = 64  # index vectors: one gather and one scatter each


_COMBINE = {"add": "Add", "mul": "Mul", "max": "Max", "min": "Min"}


def scatter_reduce(node: onnx.NodeProto, g: Graph) -> list[onnx.NodeProto] | None:
    """ScatterND / ScatterElements with a reduction and known indices: one update after the
    other (gather the current slice, combine, scatter it back without reduction), so repeated
    indices combine in order. ScatterElements' indices become ScatterND index vectors."""
    data, y = node.input[0], node.output[0]
    reduction = text(node_attrs(node).get("reduction", "none"))
    indices, shape = g.input(node, 1), g.shapes.get(data)
    ushape = g.shapes.get(node.input[2])
    if reduction not in _COMBINE or indices is None or shape is None or ushape is None or g.opset < 13:
        return None
    updates = node.input[2]
    base = f"{y}__scatter"
    nodes: list[onnx.NodeProto] = []
    if node.op_type == "ScatterElements":
        axis = int(node_attrs(node).get("axis", 0)) % len(shape)
        vectors = []
        for pos in np.ndindex(*indices.shape):
            target = list(pos)
            target[axis] = int(indices[pos]) % shape[axis]
            vectors.append(target)
        vectors = np.array(vectors, np.int64).reshape(-1, len(shape))
        flat = g.constant(f"{base}_flat", np.array([-1], np.int64))
        nodes.append(helper.make_node("Reshape", [updates, flat], [f"{base}_u"], name=f"{node.name}/flatten"))
        updates, slice_shape = f"{base}_u", []
    else:
        vectors = indices.reshape(-1, indices.shape[-1]).astype(np.int64)
        depth = indices.shape[-1]
        vectors = np.where(vectors < 0, vectors + np.array(shape[:depth]), vectors)
        slice_shape = list(shape[depth:])
        lead = g.constant(f"{base}_lead", np.array([-1, *slice_shape], np.int64))
        nodes.append(helper.make_node("Reshape", [updates, lead], [f"{base}_u"], name=f"{node.name}/rows"))
        updates = f"{base}_u"
    if len(vectors) > _SCATTER_LIMIT:
        return None
    current = data
    for i, vector in enumerate(vectors):
        index = g.constant(f"{base}_i{i}", vector.reshape(1, -1))
        row = g.constant(f"{base}_r{i}", np.array([i], np.int64))
        tag = f"{base}_{i}"
        nodes += [
            helper.make_node("GatherND", [current, index], [f"{tag}_old"], name=f"{node.name}/old_{i}"),
            helper.make_node("Gather", [updates, row], [f"{tag}_upd"], axis=0, name=f"{node.name}/update_{i}"),
            helper.make_node(
                _COMBINE[reduction], [f"{tag}_old", f"{tag}_upd"], [f"{tag}_new"], name=f"{node.name}/combine_{i}"
            ),
            helper.make_node(
                "ScatterND", [current, index, f"{tag}_new"], [f"{tag}_out"], name=f"{node.name}/scatter_{i}"
            ),
        ]
        current = f"{tag}_out"
    nodes.append(helper.make_node("Identity", [current], [y], name=f"{node.name}/identity"))
    return nodes
