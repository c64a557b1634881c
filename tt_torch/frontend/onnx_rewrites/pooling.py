"""AveragePool, MaxPool and LpPool forms torch-mlir fails or crashes on, as window sums and explicit padding."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from .graph import FLOATS, SMALL_INTS, Graph, along, node_attrs, text


def _pool_geometry(node: onnx.NodeProto, in_shape: list[int], out_shape: list[int]):
    """Per spatial dim: (n, out, kernel, stride, dilation, pad before, pad after); None when
    the attributes are not static."""
    a = node_attrs(node)
    if "kernel_shape" not in a:
        return None
    kernel = [int(k) for k in a["kernel_shape"]]
    r = len(kernel)
    strides = [int(v) for v in a.get("strides", [1] * r)]
    dilations = [int(v) for v in a.get("dilations", [1] * r)]
    pads = [int(v) for v in a.get("pads", [0] * (2 * r))]
    auto = text(a.get("auto_pad", "NOTSET"))
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
        nodes += along(node.name, current, matrix, step, 2 + d, rank, f"box_{d}")
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
    a = node_attrs(node)
    if in_shape is None or out_shape is None or elem not in FLOATS or len(node.output) != 1:
        return None
    plain = (
        len(in_shape) == 4
        and all(int(v) == 1 for v in a.get("dilations", [1, 1]))
        and text(a.get("auto_pad", "NOTSET")) in ("NOTSET", "VALID")
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
    a = node_attrs(node)
    if len(node.output) != 1 or in_shape is None or out_shape is None:
        return None
    if elem in SMALL_INTS:  # torch-mlir crashes on an integer max pool; f32 holds these exactly
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


def lp_pool(node: onnx.NodeProto, g: Graph) -> list[onnx.NodeProto] | None:
    """(sum of |x|^p over each window)^(1/p), the sums as in :func:`average_pool`."""
    x, y = node.input[0], node.output[0]
    in_shape, out_shape, elem = g.shapes.get(x), g.shapes.get(y), g.types.get(x)
    if in_shape is None or out_shape is None or elem not in FLOATS or g.opset < 11:
        return None
    dims = _pool_geometry(node, in_shape, out_shape)
    if dims is None:
        return None
    p = float(node_attrs(node).get("p", 2))
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
