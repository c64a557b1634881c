"""ConvTranspose with SAME padding and Col2Im as a constant tap-to-pixel matrix."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from .graph import FLOATS, Graph, node_attrs, text


def col2im(node: onnx.NodeProto, g: Graph) -> list[onnx.NodeProto] | None:
    """Col2Im is linear: the columns [N, C*K, L] as [N, C, K*L] times a constant 0/1 matrix
    [K*L, pixels] that sends each kernel tap of each block to its image pixel (summing overlaps)."""
    x, y = node.input[0], node.output[0]
    shape, elem = g.shapes.get(x), g.types.get(x)
    image, block = g.input(node, 1), g.input(node, 2)
    if shape is None or image is None or block is None or elem not in FLOATS:
        return None
    image, block = [int(v) for v in image], [int(v) for v in block]
    r = len(image)
    a = node_attrs(node)
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


def conv_transpose(node: onnx.NodeProto, g: Graph) -> list[onnx.NodeProto] | None:
    """auto_pad SAME_* as explicit pads (torch-mlir converts only explicit ones), split as the
    reference implementations do: total = stride * (in - 1) + output_padding + dilated kernel
    - out, the odd one at the end for SAME_UPPER and at the start for SAME_LOWER; uneven
    pads as a crop of the unpadded output."""
    a = node_attrs(node)
    auto = text(a.get("auto_pad", "NOTSET"))
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
