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
  zeros, and the value where a constant mask marks the padding (torch-mlir needs the pad
  value as a constant). ``CastLike`` to a known type: a Cast (a constant one then folds).
- ``Hardmax``: ArgMax compared with the positions along the axis.
- ``AveragePool`` (the forms torch-mlir fails or crashes on: 3-D, dilated, SAME) and
  ``LpPool``: window sums one dim after the other as products with 0/1 matrices (a window
  is a box), then a constant divisor map or the p-th root.
- ``MaxPool``: ceil_mode as explicit end padding (torch-mlir pads both sides); 8/16-bit
  integers through f32 (torch-mlir crashes on an integer max pool).
- ``DFT``: products with constant cosine and sine matrices along the axis.
- ``Einsum`` of scalars only: their product (torch-mlir aborts on it).
- ``Dropout`` that keeps everything, ``CumProd`` (running products), ``OneHot`` (a comparison
  with positions), ``Compress`` by a known condition (a Gather), ``Col2Im`` (a constant
  tap-to-pixel matrix), ``QLinearMatMul`` (dequantize, multiply, requantize).
- ``QuantizeLinear`` per tensor to 8 bits: divide, round half to even, add the zero point,
  saturate (torch-mlir's lowering goes through quantized tensors, which StableHLO lacks).
- ``ConvTranspose`` with auto_pad SAME: explicit pads (uneven ones as a crop); ``Slice`` with
  a negative step: a Gather of the positions it visits.
- ``GridSample`` (nearest, linear or cubic; zeros, border or reflection padding; 2-D or
  3-D), for the forms torch-mlir fails on or rounds otherwise: grid arithmetic and one
  GatherElements of the flattened input per corner, weighted and summed.
- ``ScatterND`` / ``ScatterElements`` with a reduction and known indices: one update after
  the other (gather, combine, scatter without reduction), repeated indices in order.
- ``RNN``, ``GRU``, ``LSTM`` (default activations, time-major, full-length sequences):
  unrolled over time with the spec's gate formulas (torch-mlir's loops do not lower).
- ``Scan`` over a static length: unrolled, one renamed copy of the body per step (torch-mlir
  converts no Scan; LinearAttention's body is one).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper, numpy_helper

from . import onnx_semantics

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
    """Pad by a value known only at run time: the value where a constant mask marks padding,
    else the input padded with zeros (a Where: an infinite value stays exact)."""
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


# --- Hardmax, LpPool, DFT ------------------------------------------------------------------------


def hardmax(node: onnx.NodeProto, g: Graph) -> list[onnx.NodeProto] | None:
    """1 at the first maximum along the axis, else 0: ArgMax compared with the positions."""
    x, y = node.input[0], node.output[0]
    shape, elem = g.shapes.get(x), g.types.get(x)
    if shape is None or elem not in _FLOATS or g.opset < 13 or not shape:
        return None
    axis = int(_attrs(node).get("axis", -1)) % len(shape)
    positions = np.arange(shape[axis], dtype=np.int64).reshape([-1 if d == axis else 1 for d in range(len(shape))])
    base = f"{y}__hardmax"
    return [
        helper.make_node("ArgMax", [x], [f"{base}_arg"], axis=axis, keepdims=1, name=f"{node.name}/argmax"),
        helper.make_node(
            "Equal", [f"{base}_arg", g.constant(f"{base}_positions", positions)], [f"{base}_eq"], name=f"{node.name}/eq"
        ),
        helper.make_node("Cast", [f"{base}_eq"], [y], to=elem, name=f"{node.name}/cast"),
    ]


def _pool_geometry(node: onnx.NodeProto, in_shape: list[int], out_shape: list[int]):
    """Per spatial dim: (n, out, kernel, stride, dilation, pad before, pad after); None when
    the attributes are not static."""
    a = _attrs(node)
    if "kernel_shape" not in a:
        return None
    kernel = [int(k) for k in a["kernel_shape"]]
    r = len(kernel)
    strides = [int(v) for v in a.get("strides", [1] * r)]
    dilations = [int(v) for v in a.get("dilations", [1] * r)]
    pads = [int(v) for v in a.get("pads", [0] * (2 * r))]
    auto = _text(a.get("auto_pad", "NOTSET"))
    dims = []
    for d in range(r):
        n, out = in_shape[2 + d], out_shape[2 + d]
        k, st, dil = kernel[d], strides[d], dilations[d]
        before, after = pads[d], pads[r + d]
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            total = max(0, (out - 1) * st + (k - 1) * dil + 1 - n)
            before = total // 2 if auto == "SAME_UPPER" else total - total // 2
            after = total - before
        elif auto == "VALID":
            before = after = 0
        dims.append((n, out, k, st, dil, before, after))
    return dims


def _box_sums(node, g: Graph, x: str, out: str, dims, dtype) -> tuple[list[onnx.NodeProto], list[np.ndarray]]:
    """Sums over each pooling window, one spatial dim after the other (a window is a box), as
    products with constant [n, out] 0/1 matrices; also each dim's count of taps inside the
    input and inside the padded input."""
    rank = 2 + len(dims)
    nodes, current, inside, padded = [], x, [], []
    for d, (n, o, k, st, dil, before, after) in enumerate(dims):
        taps = np.arange(o)[:, None] * st + np.arange(k)[None, :] * dil - before  # input index of each tap
        w = np.zeros((n, o))
        for col in range(o):
            for i in taps[col]:
                if 0 <= i < n:
                    w[i, col] += 1
        inside.append(w.sum(axis=0))
        padded.append(((taps >= -before) & (taps < n + after)).sum(axis=1).astype(np.float64))
        if k == 1 and st == 1 and n == o and before == 0:
            continue
        matrix = g.constant(f"{out}__box_{d}_w", w.astype(dtype))
        step = f"{out}__box_{d}"
        nodes += _along(node.name, current, matrix, step, 2 + d, rank, f"box_{d}")
        current = step
    nodes.append(helper.make_node("Identity", [current], [out], name=f"{node.name}/box"))
    return nodes, inside, padded


def _outer(parts: list[np.ndarray]) -> np.ndarray:
    total = np.ones(())
    for p in parts:
        total = np.multiply.outer(total, p)
    return total


def average_pool(node: onnx.NodeProto, g: Graph) -> list[onnx.NodeProto] | None:
    """Window sums (:func:`_box_sums`) times a constant map of 1 / the window's divisor (its taps
    inside the input, or inside the padded input with count_include_pad). Only for the forms
    torch-mlir fails on (not 2-D, dilated, or auto_pad SAME): it crashes on 3-D ones."""
    x, y = node.input[0], node.output[0]
    in_shape, out_shape, elem = g.shapes.get(x), g.shapes.get(y), g.types.get(x)
    a = _attrs(node)
    if in_shape is None or out_shape is None or elem not in _FLOATS or len(node.output) != 1:
        return None
    plain = (
        len(in_shape) == 4
        and all(int(v) == 1 for v in a.get("dilations", [1, 1]))
        and _text(a.get("auto_pad", "NOTSET")) in ("NOTSET", "VALID")
    )
    dims = None if plain else _pool_geometry(node, in_shape, out_shape)
    if dims is None:
        return None
    dtype = helper.tensor_dtype_to_np_dtype(elem)
    base = f"{y}__avgpool"
    nodes, inside, padded = _box_sums(node, g, x, f"{base}_sum", dims, dtype)
    counts = _outer(padded if a.get("count_include_pad", 0) else inside)
    scale = np.where(counts > 0, 1.0 / np.maximum(counts, 1), 0.0).astype(dtype)[None, None]
    nodes.append(
        helper.make_node("Mul", [f"{base}_sum", g.constant(f"{base}_scale", scale)], [y], name=f"{node.name}/mean")
    )
    return nodes


def max_pool(node: onnx.NodeProto, g: Graph) -> list[onnx.NodeProto] | None:
    """ceil_mode as explicit end padding (padding never wins a max): torch-mlir pads a ceil_mode
    max pool on both sides, which moves every window. A pool of 8- or 16-bit integers goes
    through f32 (exact), as torch-mlir crashes on it."""
    x, y = node.input[0], node.output[0]
    in_shape, out_shape, elem = g.shapes.get(x), g.shapes.get(y), g.types.get(x)
    a = _attrs(node)
    if len(node.output) != 1 or in_shape is None or out_shape is None:
        return None
    if elem in _SMALL_INTS:  # torch-mlir crashes on an integer max pool; f32 holds these exactly
        base = f"{y}__maxpool"
        return [
            helper.make_node("Cast", [x], [f"{base}_f"], to=onnx.TensorProto.FLOAT, name=f"{node.name}/to_float"),
            helper.make_node("MaxPool", [f"{base}_f"], [f"{base}_max"], name=node.name, **a),
            helper.make_node("Cast", [f"{base}_max"], [y], to=elem, name=f"{node.name}/back"),
        ]
    if not a.get("ceil_mode", 0):
        return None
    dims = _pool_geometry(node, in_shape, out_shape)
    if dims is None:
        return None
    before = [d[5] for d in dims]
    after = [max(d[6], (o - 1) * st + (k - 1) * dil + 1 - n - b) for d, (n, o, k, st, dil, b, _) in zip(dims, dims)]
    attrs = {k: v for k, v in a.items() if k not in ("ceil_mode", "auto_pad", "pads")}
    return [helper.make_node("MaxPool", [x], [y], name=node.name, pads=before + after, **attrs)]


_SMALL_INTS = {onnx.TensorProto.UINT8, onnx.TensorProto.INT8, onnx.TensorProto.INT16, onnx.TensorProto.UINT16}


def lp_pool(node: onnx.NodeProto, g: Graph) -> list[onnx.NodeProto] | None:
    """(sum of |x|^p over each window)^(1/p), the sums as in :func:`average_pool`."""
    x, y = node.input[0], node.output[0]
    in_shape, out_shape, elem = g.shapes.get(x), g.shapes.get(y), g.types.get(x)
    if in_shape is None or out_shape is None or elem not in _FLOATS or g.opset < 11:
        return None
    dims = _pool_geometry(node, in_shape, out_shape)
    if dims is None:
        return None
    p = float(_attrs(node).get("p", 2))
    dtype = helper.tensor_dtype_to_np_dtype(elem)
    base = f"{y}__lppool"
    nodes = [helper.make_node("Abs", [x], [f"{base}_abs"], name=f"{node.name}/abs")]
    powered = f"{base}_abs"
    if p != 1.0:
        exponent = g.constant(f"{base}_p", np.array(p, dtype=dtype))
        nodes.append(helper.make_node("Pow", [f"{base}_abs", exponent], [f"{base}_pow"], name=f"{node.name}/pow"))
        powered = f"{base}_pow"
    summed = f"{base}_sum" if p != 1.0 else y
    box, _, _ = _box_sums(node, g, powered, summed, dims, dtype)
    nodes += box
    if p != 1.0:
        root = g.constant(f"{base}_root", np.array(1.0 / p, dtype=dtype))
        nodes.append(helper.make_node("Pow", [summed, root], [y], name=f"{node.name}/root"))
    return nodes


def _along(node_name: str, x: str, matrix: str, out: str, axis: int, rank: int, tag: str) -> list[onnx.NodeProto]:
    """``x`` times ``matrix`` along ``axis``: transposed so the axis is last, multiplied, transposed back."""
    if axis == rank - 1:
        return [helper.make_node("MatMul", [x, matrix], [out], name=f"{node_name}/{tag}")]
    perm = [d for d in range(rank) if d != axis] + [axis]
    inverse = [perm.index(d) for d in range(rank)]
    return [
        helper.make_node("Transpose", [x], [f"{out}_t"], perm=perm, name=f"{node_name}/{tag}_t"),
        helper.make_node("MatMul", [f"{out}_t", matrix], [f"{out}_m"], name=f"{node_name}/{tag}"),
        helper.make_node("Transpose", [f"{out}_m"], [out], perm=inverse, name=f"{node_name}/{tag}_back"),
    ]


def dft(node: onnx.NodeProto, g: Graph) -> list[onnx.NodeProto] | None:
    """The discrete Fourier transform along one axis as products with constant cosine and sine
    matrices: real and imaginary parts (the input's last dim) apart, then concatenated."""
    x, y = node.input[0], node.output[0]
    shape, elem = g.shapes.get(x), g.types.get(x)
    if shape is None or elem not in _FLOATS or shape[-1] not in (1, 2):
        return None
    a = _attrs(node)
    rank = len(shape)
    if g.opset >= 20:
        axis_value = g.input(node, 2)
        if len(node.input) > 2 and node.input[2] and axis_value is None:
            return None
        axis = -2 if axis_value is None else int(axis_value.reshape(-1)[0])
    else:
        axis = int(a.get("axis", 1))
    axis %= rank
    if axis == rank - 1:
        return None
    length = g.input(node, 1)
    if len(node.input) > 1 and node.input[1] and length is None:
        return None
    n_in = shape[axis]
    n = n_in if length is None else int(length.reshape(-1)[0])
    inverse, onesided = bool(a.get("inverse", 0)), bool(a.get("onesided", 0))
    if inverse and onesided:  # a half spectrum to a real signal: not a product of one matrix per part
        return None
    m = n // 2 + 1 if onesided else n
    k = np.arange(m)[None, :]
    j = np.arange(n)[:, None]
    theta = 2 * np.pi * ((j * k) % n) / n
    scale = 1.0 / n if inverse else 1.0
    dtype = helper.tensor_dtype_to_np_dtype(elem)
    # rows beyond the input's length are zero padding; rows it has beyond dft_length are cut
    rows = min(n, n_in)
    cos = np.zeros((n_in, m)), np.zeros((n_in, m))
    cos, sin = cos[0], cos[1]
    cos[:rows] = (np.cos(theta) * scale)[:rows]
    sin[:rows] = (np.sin(theta) * scale)[:rows]
    base = f"{y}__dft"
    c = g.constant(f"{base}_cos", cos.astype(dtype))
    s = g.constant(f"{base}_sin", sin.astype(dtype))
    axes = g.constant(f"{base}_axes", np.array([rank - 1], dtype=np.int64))
    nodes = []
    parts = {}
    for part, start in (("re", 0), ("im", 1)):
        if start >= shape[-1]:
            continue
        begin = g.constant(f"{base}_{part}_begin", np.array([start], dtype=np.int64))
        end = g.constant(f"{base}_{part}_end", np.array([start + 1], dtype=np.int64))
        nodes.append(helper.make_node("Slice", [x, begin, end, axes], [f"{base}_{part}"], name=f"{node.name}/{part}"))
        nodes += _along(node.name, f"{base}_{part}", c, f"{base}_{part}_cos", axis, rank, f"{part}_cos")
        nodes += _along(node.name, f"{base}_{part}", s, f"{base}_{part}_sin", axis, rank, f"{part}_sin")
        parts[part] = (f"{base}_{part}_cos", f"{base}_{part}_sin")
    sign = 1 if inverse else -1  # forward: e^{-i theta}; inverse: e^{+i theta}
    # real = re cos - sign * im sin; imag = im cos + sign * re sin
    if "im" in parts:
        op = "Sub" if sign == 1 else "Add"
        nodes.append(helper.make_node(op, [parts["re"][0], parts["im"][1]], [f"{base}_real"], name=f"{node.name}/real"))
        nodes.append(
            helper.make_node(
                "Neg" if sign == -1 else "Identity", [parts["re"][1]], [f"{base}_rs"], name=f"{node.name}/rs"
            )
        )
        nodes.append(
            helper.make_node("Add", [parts["im"][0], f"{base}_rs"], [f"{base}_imag"], name=f"{node.name}/imag")
        )
    else:
        nodes.append(helper.make_node("Identity", [parts["re"][0]], [f"{base}_real"], name=f"{node.name}/real"))
        nodes.append(
            helper.make_node(
                "Neg" if sign == -1 else "Identity", [parts["re"][1]], [f"{base}_imag"], name=f"{node.name}/imag"
            )
        )
    nodes.append(helper.make_node("Concat", [f"{base}_real", f"{base}_imag"], [y], axis=-1, name=f"{node.name}/concat"))
    return nodes


def einsum(node: onnx.NodeProto, g: Graph) -> list[onnx.NodeProto] | None:
    """An einsum of scalars only ("->", ",->"): their product (torch-mlir aborts on it)."""
    equation = _text(_attrs(node).get("equation", "")).replace(" ", "")
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


# --- Dropout, CumProd, OneHot, Compress, Col2Im, QLinearMatMul -----------------------------------


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
    a = _attrs(node)
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
    axis = int(_attrs(node).get("axis", -1)) % rank
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
    a = _attrs(node)
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


def col2im(node: onnx.NodeProto, g: Graph) -> list[onnx.NodeProto] | None:
    """Col2Im is linear: the columns [N, C*K, L] as [N, C, K*L] times a constant 0/1 matrix
    [K*L, pixels] that sends each kernel tap of each block to its image pixel (summing overlaps)."""
    x, y = node.input[0], node.output[0]
    shape, elem = g.shapes.get(x), g.types.get(x)
    image, block = g.input(node, 1), g.input(node, 2)
    if shape is None or image is None or block is None or elem not in _FLOATS:
        return None
    image, block = [int(v) for v in image], [int(v) for v in block]
    r = len(image)
    a = _attrs(node)
    strides = [int(v) for v in a.get("strides", [1] * r)]
    dilations = [int(v) for v in a.get("dilations", [1] * r)]
    pads = [int(v) for v in a.get("pads", [0] * (2 * r))]
    blocks = [
        (image[d] + pads[d] + pads[r + d] - dilations[d] * (block[d] - 1) - 1) // strides[d] + 1 for d in range(r)
    ]
    k_total, l_total, pixels = int(np.prod(block)), int(np.prod(blocks)), int(np.prod(image))
    n, ck, length = shape
    if length != l_total or ck % k_total or l_total * k_total * pixels > 1 << 24:
        return None
    matrix = np.zeros((k_total * l_total, pixels))
    for k, tap in enumerate(np.ndindex(*block)):
        for li, pos in enumerate(np.ndindex(*blocks)):
            at = [pos[d] * strides[d] + tap[d] * dilations[d] - pads[d] for d in range(r)]
            if all(0 <= at[d] < image[d] for d in range(r)):
                matrix[k * l_total + li, np.ravel_multi_index(at, image)] += 1
    channels = ck // k_total
    dtype = helper.tensor_dtype_to_np_dtype(elem)
    base = f"{y}__col2im"
    flat = g.constant(f"{base}_cols", np.array([n, channels, k_total * l_total], dtype=np.int64))
    out = g.constant(f"{base}_shape", np.array([n, channels, *image], dtype=np.int64))
    return [
        helper.make_node("Reshape", [x, flat], [f"{base}_x"], name=f"{node.name}/reshape"),
        helper.make_node(
            "MatMul",
            [f"{base}_x", g.constant(f"{base}_m", matrix.astype(dtype))],
            [f"{base}_img"],
            name=f"{node.name}/matmul",
        ),
        helper.make_node("Reshape", [f"{base}_img", out], [y], name=f"{node.name}/image"),
    ]


def qlinear_matmul(node: onnx.NodeProto, g: Graph) -> list[onnx.NodeProto] | None:
    """Dequantized operands multiplied in f32, then quantized: round half to even, plus the
    zero point, saturated to the output's integer type."""
    a, a_scale, a_zero, b, b_scale, b_zero, y_scale, y_zero = node.input
    y = node.output[0]
    out_elem = g.types.get(y_zero)
    if out_elem not in (onnx.TensorProto.UINT8, onnx.TensorProto.INT8):
        return None
    lo, hi = (0, 255) if out_elem == onnx.TensorProto.UINT8 else (-128, 127)
    f = onnx.TensorProto.FLOAT
    base = f"{y}__qmm"
    nodes = []

    def cast(src: str, tag: str) -> str:
        nodes.append(helper.make_node("Cast", [src], [f"{base}_{tag}"], to=f, name=f"{node.name}/{tag}"))
        return f"{base}_{tag}"

    def dequantized(q: str, scale: str, zero: str, tag: str) -> str:
        diff = f"{base}_{tag}_d"
        nodes.append(
            helper.make_node(
                "Sub", [cast(q, f"{tag}_q"), cast(zero, f"{tag}_z")], [diff], name=f"{node.name}/{tag}_sub"
            )
        )
        nodes.append(
            helper.make_node("Mul", [diff, cast(scale, f"{tag}_s")], [f"{base}_{tag}"], name=f"{node.name}/{tag}_mul")
        )
        return f"{base}_{tag}"

    product = f"{base}_product"
    nodes.append(
        helper.make_node(
            "MatMul",
            [dequantized(a, a_scale, a_zero, "a"), dequantized(b, b_scale, b_zero, "b")],
            [product],
            name=f"{node.name}/matmul",
        )
    )
    nodes += [
        helper.make_node("Div", [product, cast(y_scale, "ys")], [f"{base}_scaled"], name=f"{node.name}/div"),
        helper.make_node("Round", [f"{base}_scaled"], [f"{base}_rounded"], name=f"{node.name}/round"),
        helper.make_node("Add", [f"{base}_rounded", cast(y_zero, "yz")], [f"{base}_shifted"], name=f"{node.name}/add"),
        helper.make_node(
            "Clip",
            [
                f"{base}_shifted",
                g.constant(f"{base}_lo", np.array(lo, np.float32)),
                g.constant(f"{base}_hi", np.array(hi, np.float32)),
            ],
            [f"{base}_clipped"],
            name=f"{node.name}/clip",
        ),
        helper.make_node("Cast", [f"{base}_clipped"], [y], to=out_elem, name=f"{node.name}/to_int"),
    ]
    return nodes


def quantize_linear(node: onnx.NodeProto, g: Graph) -> list[onnx.NodeProto] | None:
    """Per-tensor quantization to 8 bits: x / scale rounded half to even, plus the zero point,
    saturated (torch-mlir lowers it through quantized tensors, which StableHLO lacks)."""
    x, scale, y = node.input[0], node.input[1], node.output[0]
    zero = node.input[2] if len(node.input) > 2 and node.input[2] else None
    out_elem = g.types.get(zero) if zero else int(_attrs(node).get("output_dtype", 0)) or onnx.TensorProto.UINT8
    scale_shape = g.shapes.get(scale)
    if out_elem not in (onnx.TensorProto.UINT8, onnx.TensorProto.INT8) or scale_shape is None:
        return None
    if int(np.prod(scale_shape)) != 1 or g.types.get(x) not in _FLOATS:
        return None
    lo, hi = (0, 255) if out_elem == onnx.TensorProto.UINT8 else (-128, 127)
    f = onnx.TensorProto.FLOAT
    base = f"{y}__quantize"
    nodes = [
        helper.make_node("Cast", [x], [f"{base}_x"], to=f, name=f"{node.name}/x"),
        helper.make_node("Cast", [scale], [f"{base}_s"], to=f, name=f"{node.name}/scale"),
        helper.make_node("Div", [f"{base}_x", f"{base}_s"], [f"{base}_scaled"], name=f"{node.name}/div"),
        helper.make_node("Round", [f"{base}_scaled"], [f"{base}_rounded"], name=f"{node.name}/round"),
    ]
    shifted = f"{base}_rounded"
    if zero:
        nodes.append(helper.make_node("Cast", [zero], [f"{base}_z"], to=f, name=f"{node.name}/zero"))
        nodes.append(
            helper.make_node("Add", [f"{base}_rounded", f"{base}_z"], [f"{base}_shifted"], name=f"{node.name}/add")
        )
        shifted = f"{base}_shifted"
    bounds = [g.constant(f"{base}_lo", np.array(lo, np.float32)), g.constant(f"{base}_hi", np.array(hi, np.float32))]
    nodes.append(helper.make_node("Clip", [shifted, *bounds], [f"{base}_clipped"], name=f"{node.name}/clip"))
    nodes.append(helper.make_node("Cast", [f"{base}_clipped"], [y], to=out_elem, name=f"{node.name}/to_int"))
    return nodes


def conv_transpose(node: onnx.NodeProto, g: Graph) -> list[onnx.NodeProto] | None:
    """auto_pad SAME_* as explicit pads (torch-mlir converts only explicit ones), split as the
    reference implementations do: total = stride * (in - 1) + output_padding + dilated kernel
    - out, the odd one at the end for SAME_UPPER and at the start for SAME_LOWER; uneven
    pads as a crop of the unpadded output."""
    a = _attrs(node)
    auto = _text(a.get("auto_pad", "NOTSET"))
    x, w, y = node.input[0], node.input[1], node.output[0]
    in_shape, w_shape, out_shape = g.shapes.get(x), g.shapes.get(w), g.shapes.get(y)
    if auto not in ("SAME_UPPER", "SAME_LOWER") or None in (in_shape, w_shape, out_shape) or g.opset < 10:
        return None
    r = len(in_shape) - 2
    kernel = [int(v) for v in a.get("kernel_shape", w_shape[2:])]
    strides = [int(v) for v in a.get("strides", [1] * r)]
    dilations = [int(v) for v in a.get("dilations", [1] * r)]
    extra = [int(v) for v in a.get("output_padding", [0] * r)]
    begin, end = [], []
    for d in range(r):
        total = strides[d] * (in_shape[2 + d] - 1) + extra[d] + (kernel[d] - 1) * dilations[d] + 1 - out_shape[2 + d]
        if total < 0:
            return None
        small, large = total // 2, total - total // 2
        begin.append(small if auto == "SAME_UPPER" else large)
        end.append(large if auto == "SAME_UPPER" else small)
    attrs = {k: v for k, v in a.items() if k not in ("auto_pad", "pads", "output_shape")}
    if begin == end:
        return [helper.make_node("ConvTranspose", list(node.input), [y], name=node.name, pads=begin + end, **attrs)]
    # uneven: the whole output (no pads, which torch-mlir wants even), then the pads cut off
    full = [out_shape[2 + d] + begin[d] + end[d] for d in range(r)]
    base = f"{y}__convtranspose"
    starts = g.constant(f"{base}_starts", np.array(begin, np.int64))
    ends = g.constant(f"{base}_ends", np.array([f - e for f, e in zip(full, end)], np.int64))
    axes = g.constant(f"{base}_axes", np.array(list(range(2, 2 + r)), np.int64))
    return [
        helper.make_node(
            "ConvTranspose", list(node.input), [f"{base}_full"], name=node.name, pads=[0] * (2 * r), **attrs
        ),
        helper.make_node("Slice", [f"{base}_full", starts, ends, axes], [y], name=f"{node.name}/crop"),
    ]


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


def grid_sample(node: onnx.NodeProto, g: Graph) -> list[onnx.NodeProto] | None:
    """GridSample (nearest or linear, zeros, border or reflection padding, 2-D or 3-D) as
    arithmetic on the grid and a GatherElements of the flattened input per corner, weighted
    and summed; for the forms torch-mlir fails on or computes otherwise than ONNX (nearest
    rounds half to even here), not bilinear sampling with zeros padding over 2-D."""
    x, grid, y = node.input[0], node.input[1], node.output[0]
    xs, gs, elem = g.shapes.get(x), g.shapes.get(grid), g.types.get(x)
    a = _attrs(node)
    mode = {"bilinear": "linear"}.get(_text(a.get("mode", "linear")), _text(a.get("mode", "linear")))
    padding = _text(a.get("padding_mode", "zeros"))
    align = bool(a.get("align_corners", 0))
    if xs is None or gs is None or elem not in _FLOATS or g.opset < 16 or len(xs) not in (4, 5):
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


_SCATTER_LIMIT = 64  # index vectors: one gather and one scatter each

_COMBINE = {"add": "Add", "mul": "Mul", "max": "Max", "min": "Min"}


def scatter_reduce(node: onnx.NodeProto, g: Graph) -> list[onnx.NodeProto] | None:
    """ScatterND / ScatterElements with a reduction and known indices: one update after the
    other (gather the current slice, combine, scatter it back without reduction), so repeated
    indices combine in order. ScatterElements' indices become ScatterND index vectors."""
    data, y = node.input[0], node.output[0]
    reduction = _text(_attrs(node).get("reduction", "none"))
    indices, shape = g.input(node, 1), g.shapes.get(data)
    ushape = g.shapes.get(node.input[2])
    if reduction not in _COMBINE or indices is None or shape is None or ushape is None or g.opset < 13:
        return None
    updates = node.input[2]
    base = f"{y}__scatter"
    nodes: list[onnx.NodeProto] = []
    if node.op_type == "ScatterElements":
        axis = int(_attrs(node).get("axis", 0)) % len(shape)
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


_RECURRENT_LIMIT = 256  # time steps unrolled
_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def recurrent(node: onnx.NodeProto, g: Graph) -> list[onnx.NodeProto] | None:
    """RNN, GRU and LSTM (default activations, time-major layout, every sequence full length)
    unrolled over time: per direction and step, the input and hidden products and the gate
    formulas of the ONNX spec (GRU's linear_before_reset, LSTM's peepholes included).
    torch-mlir lowers them to loops with dynamic slices StableHLO refuses."""
    a = _attrs(node)
    kind, x = node.op_type, node.input[0]
    shape = g.shapes.get(x)
    if shape is None or a.get("layout", 0) or "activations" in a or "clip" in a or g.opset < 13:
        return None
    if kind == "LSTM" and a.get("input_forget", 0):
        return None
    steps, batch, _ = shape
    hidden = int(a["hidden_size"])
    direction = _text(a.get("direction", "forward"))
    dirs = 2 if direction == "bidirectional" else 1
    if steps > _RECURRENT_LIMIT or steps == 0:
        return None

    def given(k: int) -> str | None:
        return node.input[k] if len(node.input) > k and node.input[k] else None

    lengths = g.input(node, 4)
    if given(4) and (lengths is None or np.any(lengths != steps)):
        return None
    gates = _GATES[kind]
    elem = g.types.get(x)
    dtype = helper.tensor_dtype_to_np_dtype(elem)
    base = f"{node.output[0] or node.output[1] or node.name}__{kind.lower()}"
    nodes: list[onnx.NodeProto] = []
    count = [0]

    def op(kind_: str, inputs: list[str], **attrs) -> str:
        count[0] += 1
        out = f"{base}_{count[0]}"
        nodes.append(helper.make_node(kind_, inputs, [out], name=f"{node.name}/{kind_.lower()}_{count[0]}", **attrs))
        return out

    def ints(values) -> str:
        count[0] += 1
        return g.constant(f"{base}_k{count[0]}", np.array(values, np.int64))

    def pick(tensor: str, index: int, axis: int = 0) -> str:
        return op(
            "Gather", [tensor, g.constant(f"{base}_at{index}_{count[0] + 1}", np.array(index, np.int64))], axis=axis
        )

    def part(tensor: str, j: int, width: int = hidden) -> str:  # the j-th block of the last axis
        return op("Slice", [tensor, ints([j * width]), ints([(j + 1) * width]), ints([-1])])

    zeros = g.constant(f"{base}_zeros", np.zeros((batch, hidden), dtype=dtype))
    one = g.constant(f"{base}_one", np.ones((), dtype=dtype))
    finals_h, finals_c, outputs = [], [], []
    for d in range(dirs):
        w_t = op("Transpose", [pick(node.input[1], d)], perm=[1, 0])
        r_t = op("Transpose", [pick(node.input[2], d)], perm=[1, 0])
        if given(3):
            b = pick(node.input[3], d)
            wb, rb = part(b, 0, gates * hidden), part(b, 1, gates * hidden)
        else:
            wb = rb = g.constant(f"{base}_nobias", np.zeros(gates * hidden, dtype=dtype))
        h = pick(node.input[5], d) if given(5) else zeros
        c = pick(node.input[6], d) if kind == "LSTM" and given(6) else zeros
        peep = pick(node.input[7], d) if kind == "LSTM" and given(7) else None
        reverse = direction == "reverse" or (direction == "bidirectional" and d == 1)
        per_step = {}
        for t in range(steps - 1, -1, -1) if reverse else range(steps):
            gx = op("Add", [op("MatMul", [pick(x, t), w_t]), wb])
            gh = op("Add", [op("MatMul", [h, r_t]), rb])
            if kind == "RNN":
                h = op("Tanh", [op("Add", [gx, gh])])
            elif kind == "GRU":
                z = op("Sigmoid", [op("Add", [part(gx, 0), part(gh, 0)])])
                r = op("Sigmoid", [op("Add", [part(gx, 1), part(gh, 1)])])
                if a.get("linear_before_reset", 0):
                    cand = op("Tanh", [op("Add", [part(gx, 2), op("Mul", [r, part(gh, 2)])])])
                else:
                    rh = op("MatMul", [op("Mul", [r, h]), part(r_t, 2)])
                    cand = op("Tanh", [op("Add", [part(gx, 2), op("Add", [rh, part(rb, 2)])])])
                h = op("Add", [op("Mul", [op("Sub", [one, z]), cand]), op("Mul", [z, h])])
            else:
                pre = [op("Add", [part(gx, j), part(gh, j)]) for j in range(4)]  # i, o, f, c
                if peep is not None:
                    pre[0] = op("Add", [pre[0], op("Mul", [part(peep, 0), c])])
                    pre[2] = op("Add", [pre[2], op("Mul", [part(peep, 2), c])])
                i_g, f_g = op("Sigmoid", [pre[0]]), op("Sigmoid", [pre[2]])
                c = op("Add", [op("Mul", [f_g, c]), op("Mul", [i_g, op("Tanh", [pre[3]])])])
                if peep is not None:
                    pre[1] = op("Add", [pre[1], op("Mul", [part(peep, 1), c])])
                h = op("Mul", [op("Sigmoid", [pre[1]]), op("Tanh", [c])])
            per_step[t] = h
        finals_h.append(op("Unsqueeze", [h, ints([0])]))
        finals_c.append(op("Unsqueeze", [c, ints([0])]))
        if node.output[0]:
            stacked = [op("Unsqueeze", [per_step[t], ints([0, 1])]) for t in range(steps)]
            outputs.append(op("Concat", stacked, axis=0))
    if node.output[0]:
        nodes.append(helper.make_node("Concat", outputs, [node.output[0]], axis=1, name=f"{node.name}/y"))
    if len(node.output) > 1 and node.output[1]:
        nodes.append(helper.make_node("Concat", finals_h, [node.output[1]], axis=0, name=f"{node.name}/y_h"))
    if len(node.output) > 2 and node.output[2]:
        nodes.append(helper.make_node("Concat", finals_c, [node.output[2]], axis=0, name=f"{node.name}/y_c"))
    return nodes


# --- Scan -----------------------------------------------------------------------------------------

_SCAN_LIMIT = 256  # iterations unrolled


def scan(node: onnx.NodeProto, g: Graph) -> list[onnx.NodeProto] | None:
    """A Scan over a static length, unrolled: one renamed copy of the body per step, its state
    carried from step to step, each step's slice of the scan inputs taken with a Gather and the
    per-step scan outputs stacked with Unsqueeze + Concat (directions and axes as given).
    torch-mlir converts no Scan."""
    a = _attrs(node)
    body: onnx.GraphProto = a.get("body")
    m = int(a.get("num_scan_inputs", 0))
    if body is None or g.opset < 9 or any(_subgraph(n) for n in body.node):
        return None
    n_state = len(node.input) - m
    k_out = len(body.output) - n_state
    scan_inputs = list(node.input[n_state:])
    in_axes = [int(v) for v in a.get("scan_input_axes", [0] * m)]
    in_dirs = [int(v) for v in a.get("scan_input_directions", [0] * m)]
    out_axes = [int(v) for v in a.get("scan_output_axes", [0] * k_out)]
    out_dirs = [int(v) for v in a.get("scan_output_directions", [0] * k_out)]
    lengths = set()
    for j, name in enumerate(scan_inputs):
        shape = g.shapes.get(name)
        if shape is None:
            return None
        in_axes[j] %= len(shape)
        lengths.add(shape[in_axes[j]])
    if len(lengths) != 1:
        return None
    steps = lengths.pop()
    if steps > _SCAN_LIMIT or steps == 0:
        return None
    base = f"{node.output[0] or node.name}__scan"
    nodes: list[onnx.NodeProto] = []
    state = list(node.input[:n_state])
    pieces: list[list[str]] = [[] for _ in range(k_out)]
    body_inputs = [i.name for i in body.input]
    for t in range(steps):
        rename = dict(zip(body_inputs[:n_state], state))
        for j, name in enumerate(scan_inputs):
            at = steps - 1 - t if in_dirs[j] else t
            squeezed = f"{base}_t{t}_in{j}"
            nodes += _take(g, name, in_axes[j], at, squeezed, f"{node.name}/t{t}/in{j}")
            rename[body_inputs[n_state + j]] = squeezed
        for init in body.initializer:
            copy = onnx.TensorProto()
            copy.CopyFrom(init)
            copy.name = f"{base}_t{t}_{init.name}"
            g.made.append(copy)
            rename[init.name] = copy.name
        for k, inner in enumerate(body.node):
            for out in inner.output:
                if out:
                    rename[out] = f"{base}_t{t}_{out}"
            step = onnx.NodeProto()
            step.CopyFrom(inner)
            step.name = f"{node.name}/t{t}/{inner.name or inner.op_type.lower()}_{k}"
            del step.input[:]
            step.input.extend(rename.get(i, i) if i else "" for i in inner.input)
            del step.output[:]
            step.output.extend(rename.get(o, o) if o else "" for o in inner.output)
            nodes.append(step)
        outs = [rename.get(o.name, o.name) for o in body.output]
        state = outs[:n_state]
        for k in range(k_out):
            pieces[k].append(outs[n_state + k])
    for final, name in zip(node.output[:n_state], state):
        if final:
            nodes.append(helper.make_node("Identity", [name], [final], name=f"{node.name}/state"))
    for k, out in enumerate(node.output[n_state:]):
        if not out:
            continue
        axis = out_axes[k]
        if axis < 0:  # counted from the end of the stacked output: its rank is needed
            shape = g.shapes.get(out)
            if shape is None:
                return None
            axis %= len(shape)
        ordered = pieces[k][::-1] if out_dirs[k] else pieces[k]
        stacked = []
        for t, piece in enumerate(ordered):
            nodes.append(_unsqueeze(g, piece, axis, f"{base}_out{k}_{t}", f"{node.name}/out{k}_{t}"))
            stacked.append(f"{base}_out{k}_{t}")
        nodes.append(helper.make_node("Concat", stacked, [out], axis=axis, name=f"{node.name}/out{k}"))
    return nodes


def _take(g: Graph, x: str, axis: int, at: int, out: str, name: str) -> list[onnx.NodeProto]:
    """``x[..., at, ...]`` along ``axis`` (that dim dropped): a Gather of a 0-d index, in every opset."""
    index = g.constant(f"{out}_index", np.array(at, np.int64))
    return [helper.make_node("Gather", [x, index], [out], axis=axis, name=name)]


def _unsqueeze(g: Graph, x: str, axis: int, out: str, name: str) -> onnx.NodeProto:
    if g.opset < 13:
        return helper.make_node("Unsqueeze", [x], [out], axes=[axis], name=name)
    return helper.make_node("Unsqueeze", [x, g.constant(f"{out}_axes", np.array([axis], np.int64))], [out], name=name)


def _subgraph(node: onnx.NodeProto) -> bool:
    return any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute)


RULES: dict[str, Callable[[onnx.NodeProto, Graph], list[onnx.NodeProto] | None]] = {
    "Resize": resize,
    "Pad": pad,
    "CastLike": cast_like,
    "Hardmax": hardmax,
    "LpPool": lp_pool,
    "AveragePool": average_pool,
    "MaxPool": max_pool,
    "Einsum": einsum,
    "Dropout": dropout,
    "CumProd": cum_prod,
    "OneHot": one_hot,
    "Compress": compress,
    "Col2Im": col2im,
    "QLinearMatMul": qlinear_matmul,
    "Scan": scan,
    "QuantizeLinear": quantize_linear,
    "ConvTranspose": conv_transpose,
    "Slice": slice_,
    "GridSample": grid_sample,
    "ScatterND": scatter_reduce,
    "ScatterElements": scatter_reduce,
    "RNN": recurrent,
    "GRU": recurrent,
    "LSTM": recurrent,
    "DFT": dft,
    # ops torch-mlir imports with other semantics than ONNX's (Mod, bool ReduceMax/Min,
    # LpNormalization, SpaceToDepth CRD): see onnx_semantics
    **onnx_semantics.RULES,
}


# operands (by position) a static-shape compile needs as constants: they decide shapes or weights
# Operand positions (per op type) whose value is an attribute in all but name: axes, sizes, pads,
# counts and modes that later opsets moved from attributes to inputs (ONNX's operator spec), and
# values that decide an output's shape (Compress's condition, Range's bounds).
CONTROL_OPERANDS = {
    "Resize": (1, 2, 3),
    "Upsample": (1,),
    "Range": (0, 1, 2),
    "OneHot": (1,),
    "Compress": (1,),
    "Dropout": (1, 2),
    "Reshape": (1,),
    "Expand": (1,),
    "Tile": (1,),
    "Slice": (1, 2, 3, 4),
    "Squeeze": (1,),
    "Unsqueeze": (1,),
    "Split": (1,),
    "Pad": (1, 3),
    "TopK": (1,),
    "Trilu": (1,),
    "CumSum": (1,),
    "CumProd": (1,),
    "ConstantOfShape": (0,),
    "CenterCropPad": (1,),
    "AffineGrid": (1,),
    "Col2Im": (1, 2),
    "BlackmanWindow": (0,),
    "HannWindow": (0,),
    "HammingWindow": (0,),
    "DFT": (1, 2),
    "STFT": (1, 3),
    "MelWeightMatrix": (0, 1, 2, 3, 4),
    "NonMaxSuppression": (2, 3, 4),
    **{
        op: (1,)
        for op in (
            "ReduceSum",
            "ReduceMean",
            "ReduceMax",
            "ReduceMin",
            "ReduceProd",
            "ReduceL1",
            "ReduceL2",
            "ReduceLogSum",
            "ReduceLogSumExp",
            "ReduceSumSquare",
        )
    },
}


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
