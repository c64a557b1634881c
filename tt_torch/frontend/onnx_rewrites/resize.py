"""Resize and GridSample as constant weight matrices and gathers (see the package docstring)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import onnx
from onnx import helper

from .graph import FLOATS, Graph, node_attrs, text

_LOG = logging.getLogger(__name__)


def _resize_geometry(node, g: Graph, in_shape: list[int]):
    """(scale factors, output sizes, roi) over all dims, as onnx's reference computes them."""
    a = node_attrs(node)
    r = len(in_shape)
    roi, scales, sizes = g.input(node, 1), g.input(node, 2), g.input(node, 3)
    if (len(node.input) > 2 and node.input[2] and scales is None) or (
        len(node.input) > 3 and node.input[3] and sizes is None
    ):
        return None
    scales = None if scales is None or scales.size == 0 else [float(v) for v in scales]
    sizes = None if sizes is None or sizes.size == 0 else [int(v) for v in sizes]
    roi = None if roi is None or roi.size == 0 else [float(v) for v in roi]
    if scales is None and sizes is None:
        return None
    axes = [int(v) % r for v in a["axes"]] if "axes" in a else None
    if axes is not None:
        if scales is not None:
            full = [1.0] * r
            for i, d in enumerate(axes):
                full[d] = scales[i]
            scales = full
        if sizes is not None:
            full = list(in_shape)
            for i, d in enumerate(axes):
                full[d] = sizes[i]
            sizes = full
        if roi is not None:
            full = [0.0] * r + [1.0] * r
            for i, d in enumerate(axes):
                full[d], full[r + d] = roi[i], roi[len(axes) + i]
            roi = full
    else:
        axes = list(range(r))
    if sizes is not None:
        scales = [sizes[i] / in_shape[i] for i in range(r)]
        policy = text(a.get("keep_aspect_ratio_policy", "stretch"))
        if policy != "stretch":
            pick = min if policy == "not_larger" else max
            scale = pick(scales[d] for d in axes)
            scales = [scale if i in axes else 1.0 for i in range(r)]
            sizes = [int(scale * in_shape[i] + 0.5) if i in axes else in_shape[i] for i in range(r)]
    else:
        sizes = [int(s * n) for s, n in zip(scales, in_shape)]
    return scales, sizes, roi


def _resize_coefficients(node) -> Callable | None:
    from onnx.reference.ops import op_resize as ref  # lazy: a large module, needed only for Resize

    a = node_attrs(node)
    mode = text(a.get("mode", "nearest"))
    antialias = bool(a.get("antialias", 0))
    if mode == "nearest":
        if antialias:
            return None
        nearest = text(a.get("nearest_mode", "round_prefer_floor"))
        return lambda x, scale: ref._nearest_coeffs(x, mode=nearest)
    if mode == "cubic":
        cubic = ref._cubic_coeffs_antialias if antialias else ref._cubic_coeffs
        coeff_a = float(a.get("cubic_coeff_a", -0.75))
        return lambda x, scale: cubic(x, scale, A=coeff_a)
    if mode == "linear":
        return ref._linear_coeffs_antialias if antialias else ref._linear_coeffs
    return None


def _resize_matrix(node, fct, n: int, out: int, scale: float, roi: list[float] | None) -> np.ndarray:
    """The [out, n] weights of one axis: row x holds the input weights of output position x."""
    from onnx.reference.ops import op_resize as ref  # lazy: a large module, needed only for Resize

    a = node_attrs(node)
    mode = text(a.get("coordinate_transformation_mode", "half_pixel"))
    outside = bool(a.get("exclude_outside", 0))
    eye = np.eye(n, dtype=np.float64)
    w = np.empty((out, n), dtype=np.float64)
    for x in range(out):
        for j in range(n):
            w[x, j] = ref._interpolate_1d_with_x(
                eye[j],
                scale,
                out,
                x,
                fct,
                roi=roi,
                extrapolation_value=0.0,
                coordinate_transformation_mode=mode,
                exclude_outside=outside,
            )
    return w


def resize(node: onnx.NodeProto, g: Graph) -> list[onnx.NodeProto] | None:
    x, y = node.input[0], node.output[0]
    in_shape, elem = g.shapes.get(x), g.types.get(x)
    if in_shape is None or elem not in FLOATS or g.opset < 13:
        return None
    geometry = _resize_geometry(node, g, in_shape)
    fct = _resize_coefficients(node)
    if geometry is None or fct is None:
        return None
    scales, sizes, roi = geometry
    if g.shapes.get(y) not in (None, sizes):
        return None
    r = len(in_shape)
    dtype = helper.tensor_dtype_to_np_dtype(elem)
    nodes, current, shape = [], x, list(in_shape)
    base = f"{y}__resize"
    for d in range(r):
        axis_roi = None if roi is None else [roi[d], roi[r + d]]
        w = _resize_matrix(node, fct, in_shape[d], sizes[d], scales[d], axis_roi)
        if w.shape[0] == w.shape[1] and np.array_equal(w, np.eye(w.shape[0])):
            continue
        perm = [k for k in range(r) if k != d] + [d]
        moved = current
        if d != r - 1:
            moved = f"{base}_{d}_t"
            nodes.append(
                helper.make_node("Transpose", [current], [moved], perm=perm, name=f"{node.name}/transpose_{d}")
            )
        weights = g.constant(f"{base}_{d}_w", w.T.astype(dtype))
        product = f"{base}_{d}_mm"
        nodes.append(helper.make_node("MatMul", [moved, weights], [product], name=f"{node.name}/matmul_{d}"))
        current = product
        if d != r - 1:
            current = f"{base}_{d}_back"
            inverse = [perm.index(k) for k in range(r)]
            nodes.append(
                helper.make_node(
                    "Transpose", [product], [current], perm=inverse, name=f"{node.name}/transpose_{d}_back"
                )
            )
        shape[d] = sizes[d]
    a = node_attrs(node)
    if text(a.get("coordinate_transformation_mode")) == "tf_crop_and_resize" and float(
        a.get("extrapolation_value", 0.0)
    ):
        offset = _extrapolated(node, g, in_shape, dtype)
        if offset is None:
            return None
        if np.any(offset):
            nodes.append(
                helper.make_node(
                    "Add", [current, g.constant(f"{base}_extrapolated", offset)], [y], name=f"{node.name}/add"
                )
            )
            return nodes
    nodes.append(helper.make_node("Identity", [current], [y], name=f"{node.name}/identity"))
    return nodes


def _extrapolated(node, g: Graph, in_shape: list[int], dtype) -> np.ndarray | None:
    """What the node makes of zeros: the extrapolation value at the positions outside the crop."""
    from onnx.reference import ReferenceEvaluator  # lazy: a large module, needed only here

    feeds = {node.input[0]: np.zeros(in_shape, dtype=dtype)}
    inputs = [helper.make_tensor_value_info(node.input[0], g.types[node.input[0]], in_shape)]
    for name in node.input[1:]:
        if name:
            feeds[name] = g.known[name]
            inputs.append(helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(feeds[name].dtype), None))
    one = helper.make_graph([node], "extrapolated", inputs, [helper.make_tensor_value_info(node.output[0], 0, None)])
    try:
        model = helper.make_model(one, opset_imports=[helper.make_opsetid("", g.opset)])
        return np.asarray(ReferenceEvaluator(model).run(None, feeds)[0])
    except Exception as e:  # the reference's own refusal: the node is left as it is
        _LOG.info("Resize node '%s' left as it is: %s", node.name, e)
        return None


def grid_sample(node: onnx.NodeProto, g: Graph) -> list[onnx.NodeProto] | None:
    """GridSample (nearest or linear, zeros, border or reflection padding, 2-D or 3-D) as
    arithmetic on the grid and a GatherElements of the flattened input per corner, weighted
    and summed; for the forms torch-mlir fails on or computes otherwise than ONNX (nearest
    rounds half to even here), not bilinear sampling with zeros padding over 2-D."""
    x, grid, y = node.input[0], node.input[1], node.output[0]
    xs, gs, elem = g.shapes.get(x), g.shapes.get(grid), g.types.get(x)
    a = node_attrs(node)
    mode = {"bilinear": "linear"}.get(text(a.get("mode", "linear")), text(a.get("mode", "linear")))
    padding = text(a.get("padding_mode", "zeros"))
    align = bool(a.get("align_corners", 0))
    if xs is None or gs is None or elem not in FLOATS or g.opset < 16 or len(xs) not in (4, 5):
        return None
    if mode not in ("nearest", "linear", "cubic") or (mode == "linear" and padding == "zeros" and len(xs) == 4):
        return None
    if mode == "cubic" and padding != "zeros":  # the padding then applies to each tap, not the point
        return None
    r = len(xs) - 2
    n, c, space, out_space = xs[0], xs[1], xs[2:], gs[1:-1]
    points = int(np.prod(out_space))
    dtype = helper.tensor_dtype_to_np_dtype(elem)
    base = f"{y}__gridsample"
    nodes: list[onnx.NodeProto] = []
    k = [0]

    def op(kind: str, inputs: list[str], **attrs) -> str:
        k[0] += 1
        out = f"{base}_{k[0]}"
        nodes.append(helper.make_node(kind, inputs, [out], name=f"{node.name}/{kind.lower()}_{k[0]}", **attrs))
        return out

    def const(value) -> str:
        k[0] += 1
        return g.constant(f"{base}_c{k[0]}", np.asarray(value, dtype=dtype))

    # per spatial dim (the grid's last axis lists them innermost first: x -> W, y -> H, z -> D)
    coords = []
    for d in range(r):
        size = space[d]
        gd = op("Gather", [grid, g.constant(f"{base}_axis{d}", np.array(r - 1 - d, np.int64))], axis=-1)
        scale = (size - 1) / 2 if align else size / 2
        p = op("Add", [op("Mul", [gd, const(scale)]), const((size - 1) / 2)])
        if padding == "border":
            p = op("Clip", [p, const(0.0), const(size - 1)])
        elif padding == "reflection":
            low, high = (0.0, size - 1.0) if align else (-0.5, size - 0.5)
            span = high - low
            if span <= 0:
                p = op("Mul", [p, const(0.0)])
            else:
                folded = op("Mod", [op("Abs", [op("Sub", [p, const(low)])]), const(2 * span)], fmod=1)
                p = op("Add", [const(low + span), op("Neg", [op("Abs", [op("Sub", [folded, const(span)])])])])
                p = op("Clip", [p, const(0.0), const(size - 1)])
        coords.append(p)
    # corners: per dim (index, weight) pairs
    choices = []
    for d in range(r):
        if mode == "nearest":
            choices.append([(op("Round", [coords[d]]), None)])
        elif mode == "cubic":  # Keys' cubic convolution, A = -0.75, taps at floor(p) - 1 ... + 2
            low = op("Floor", [coords[d]])
            t = op("Sub", [coords[d], low])
            taps = []
            for offset in (-1, 0, 1, 2):
                dist = op("Abs", [op("Sub", [t, const(float(offset))])])
                taps.append((op("Add", [low, const(float(offset))]), _cubic_weight(op, const, dist)))
            choices.append(taps)
        else:
            low = op("Floor", [coords[d]])
            w1 = op("Sub", [coords[d], low])
            w0 = op("Sub", [const(1.0), w1])
            choices.append([(low, w0), (op("Add", [low, const(1.0)]), w1)])
    strides = [int(np.prod(space[d + 1 :])) for d in range(r)]
    flat_x = op("Reshape", [x, g.constant(f"{base}_xshape", np.array([n, c, -1], np.int64))])
    point_shape = g.constant(f"{base}_pshape", np.array([n, 1, points], np.int64))
    expand_shape = g.constant(f"{base}_eshape", np.array([n, c, points], np.int64))
    total = None
    for corner in np.ndindex(*[len(ch) for ch in choices]):
        linear, weight, valid = None, None, None
        for d, pick in enumerate(corner):
            index, w = choices[d][pick]
            inside = op(
                "And",
                [op("GreaterOrEqual", [index, const(0.0)]), op("LessOrEqual", [index, const(space[d] - 1.0)])],
            )
            valid = inside if valid is None else op("And", [valid, inside])
            clamped = op("Clip", [index, const(0.0), const(space[d] - 1.0)])
            term = op("Mul", [clamped, const(float(strides[d]))])
            linear = term if linear is None else op("Add", [linear, term])
            if w is not None:
                weight = w if weight is None else op("Mul", [weight, w])
        weight_v = op("Cast", [valid], to=elem) if weight is None else op("Mul", [weight, op("Cast", [valid], to=elem)])
        idx = op("Cast", [op("Reshape", [linear, point_shape])], to=onnx.TensorProto.INT64)
        picked = op("GatherElements", [flat_x, op("Expand", [idx, expand_shape])], axis=2)
        term = op("Mul", [picked, op("Reshape", [weight_v, point_shape])])
        total = term if total is None else op("Add", [total, term])
    out_shape = g.constant(f"{base}_yshape", np.array([n, c, *out_space], np.int64))
    nodes.append(helper.make_node("Reshape", [total, out_shape], [y], name=f"{node.name}/out"))
    return nodes


def _cubic_weight(op, const, dist: str) -> str:
    """Keys' cubic kernel (A = -0.75) at distance ``dist`` (0 <= dist < 2), as ONNX arithmetic."""
    a = -0.75
    near = op(
        "Add",
        [op("Mul", [op("Mul", [op("Sub", [op("Mul", [const(a + 2), dist]), const(a + 3)]), dist]), dist]), const(1.0)],
    )
    far = op(
        "Sub",
        [
            op(
                "Mul",
                [
                    op(
                        "Add", [op("Mul", [op("Sub", [op("Mul", [const(a), dist]), const(5 * a)]), dist]), const(8 * a)]
                    ),
                    dist,
                ],
            ),
            const(4 * a),
        ],
    )
    return op("Where", [op("Less", [dist, const(1.0)]), near, far])
