"""DFT as products with constant cosine and sine matrices."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from .graph import FLOATS, Graph, along, node_attrs


def dft(node: onnx.NodeProto, g: Graph) -> list[onnx.NodeProto] | None:
    """The discrete Fourier transform along one axis as products with constant cosine and sine
    matrices: real and imaginary parts (the input's last dim) apart, then concatenated."""
    x, y = node.input[0], node.output[0]
    shape, elem = g.shapes.get(x), g.types.get(x)
    if shape is None or elem not in FLOATS or shape[-1] not in (1, 2):
        return None
    a = node_attrs(node)
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
        nodes += along(node.name, f"{base}_{part}", c, f"{base}_{part}_cos", axis, rank, f"{part}_cos")
        nodes += along(node.name, f"{base}_{part}", s, f"{base}_{part}_sin", axis, rank, f"{part}_sin")
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
