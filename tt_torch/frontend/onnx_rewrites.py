"""ONNX nodes rewritten, before import, into ops that torch-mlir lowers and the device runs.

A table of rules, op type -> function; a rule returns the nodes (and initializers) that
replace the node, or None to leave it as it is. Each rule needs the node's shapes and
control operands known (the importer folds what it can first); per op:

- ``Resize`` (any mode, coordinate transformation, antialias, axes, aspect-ratio policy):
  resizing is separable and linear in the input, so each resized axis becomes a product
  with a constant [in, out] weight matrix (read from onnx's reference implementation, row
  by row, so every mode means exactly what the spec says), between two transposes; the
  extrapolated positions of ``tf_crop_and_resize`` add a constant. torch-mlir lowers only
  some ``__interpolate`` forms to StableHLO, a matrix product always.
- ``Pad`` in ``constant`` mode with a value known only at run time: the input padded with
  zeros plus the value times a constant mask of the padded positions (torch-mlir needs the
  pad value as a constant).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper, numpy_helper

_LOG = logging.getLogger(__name__)

_FLOATS = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE, onnx.TensorProto.BFLOAT16}


@dataclass
class Graph:
    """What a rule reads: the known constant values and the static shapes and element types."""

    known: dict[str, np.ndarray]
    shapes: dict[str, list[int]]
    types: dict[str, int]
    opset: int
    made: list[onnx.TensorProto] = field(default_factory=list)  # initializers the rules add

    def constant(self, name: str, value: np.ndarray) -> str:
        self.made.append(numpy_helper.from_array(np.asarray(value), name))
        self.known[name] = np.asarray(value)
        return name

    def input(self, node: onnx.NodeProto, k: int) -> np.ndarray | None:
        """The value of the node's ``k``-th input when it is known (None when absent or unknown)."""
        if k >= len(node.input) or not node.input[k]:
            return None
        return self.known.get(node.input[k])


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _text(v) -> str | None:
    return v.decode() if isinstance(v, bytes) else v


# --- Resize --------------------------------------------------------------------------------------


def _resize_geometry(node, g: Graph, in_shape: list[int]):
    """(scale factors, output sizes, roi) over all dims, as onnx's reference computes them."""
    a = _attrs(node)
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
        policy = _text(a.get("keep_aspect_ratio_policy", "stretch"))
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

    a = _attrs(node)
    mode = _text(a.get("mode", "nearest"))
    antialias = bool(a.get("antialias", 0))
    if mode == "nearest":
        if antialias:
            return None
        nearest = _text(a.get("nearest_mode", "round_prefer_floor"))
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

    a = _attrs(node)
    mode = _text(a.get("coordinate_transformation_mode", "half_pixel"))
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
    if in_shape is None or elem not in _FLOATS or g.opset < 13:
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
    a = _attrs(node)
    if _text(a.get("coordinate_transformation_mode")) == "tf_crop_and_resize" and float(
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


# --- Pad -----------------------------------------------------------------------------------------


def pad(node: onnx.NodeProto, g: Graph) -> list[onnx.NodeProto] | None:
    """Pad by a value known only at run time: zeros padded, plus the value times the pad mask."""
    if g.opset < 11 or _text(_attrs(node).get("mode", "constant")) != "constant":
        return None
    if len(node.input) < 3 or not node.input[2] or node.input[2] in g.known:
        return None
    x, y = node.input[0], node.output[0]
    in_shape, out_shape, elem = g.shapes.get(x), g.shapes.get(y), g.types.get(x)
    pads = g.input(node, 1)
    if in_shape is None or out_shape is None or pads is None or elem not in _FLOATS:
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
    mask = np.pad(np.zeros(in_shape, dtype=dtype), full, constant_values=1)
    base = f"{y}__pad"
    zero = g.constant(f"{base}_zero", np.zeros((), dtype=dtype))
    inputs = [x, node.input[1], zero] + ([node.input[3]] if len(node.input) > 3 and node.input[3] else [])
    return [
        helper.make_node("Pad", inputs, [f"{base}_zeros"], mode="constant", name=f"{node.name}/pad"),
        helper.make_node(
            "Mul", [g.constant(f"{base}_mask", mask), node.input[2]], [f"{base}_fill"], name=f"{node.name}/mul"
        ),
        helper.make_node("Add", [f"{base}_zeros", f"{base}_fill"], [y], name=f"{node.name}/add"),
    ]


RULES: dict[str, Callable[[onnx.NodeProto, Graph], list[onnx.NodeProto] | None]] = {
    "Resize": resize,
    "Pad": pad,
}


# operands (by position) a static-shape compile needs as constants: they decide shapes or weights
CONTROL_OPERANDS = {"Resize": (1, 2, 3), "Upsample": (1,)}


def control_operand_inputs(model: onnx.ModelProto) -> set[str]:
    """The graph inputs that the model reads only as :data:`CONTROL_OPERANDS`."""
    uses: dict[str, bool] = {}
    for node in model.graph.node:
        control = CONTROL_OPERANDS.get(node.op_type, ()) if node.domain in ("", "ai.onnx") else ()
        for k, name in enumerate(node.input):
            uses[name] = uses.get(name, True) and k in control
    return {i.name for i in model.graph.input if uses.get(i.name, False)}


def rewrite(graph: onnx.GraphProto, model: onnx.ModelProto) -> int:
    """Applies :data:`RULES` to the graph's top-level nodes; returns the number rewritten."""
    opset = next((i.version for i in model.opset_import if i.domain in ("", "ai.onnx")), 0)
    g = Graph(known={t.name: numpy_helper.to_array(t) for t in graph.initializer}, shapes={}, types={}, opset=opset)
    for v in [*graph.input, *graph.value_info, *graph.output]:
        t = v.type.tensor_type
        if v.type.HasField("tensor_type"):
            g.types[v.name] = t.elem_type
            if t.HasField("shape"):
                dims = [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim]
                if -1 not in dims:
                    g.shapes[v.name] = dims
    for t in graph.initializer:
        g.types[t.name], g.shapes[t.name] = t.data_type, list(t.dims)
    nodes, count = [], 0
    for node in graph.node:
        rule = RULES.get(node.op_type) if node.domain in ("", "ai.onnx") else None
        try:
            replacement = rule(node, g) if rule is not None else None
        except Exception as e:  # onnx's reference helpers raise plain errors on forms they lack
            _LOG.info("%s node '%s' left as it is: %s", node.op_type, node.name, e)
            replacement = None
        if replacement is None:
            nodes.append(node)
            continue
        _LOG.info("%s node '%s' rewritten into %d nodes", node.op_type, node.name, len(replacement))
        nodes.extend(replacement)
        count += 1
    if count:
        del graph.node[:]
        graph.node.extend(nodes)
        graph.initializer.extend(g.made)
    return count


__all__ = ["CONTROL_OPERANDS", "RULES", "control_operand_inputs", "rewrite"]
