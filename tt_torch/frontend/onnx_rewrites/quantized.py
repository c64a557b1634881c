"""QLinearMatMul and QuantizeLinear without quantized tensor types."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from .graph import FLOATS, Graph, node_attrs


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
    out_elem = g.types.get(zero) if zero else int(node_attrs(node).get("output_dtype", 0)) or onnx.TensorProto.UINT8
    scale_shape = g.shapes.get(scale)
    if out_elem not in (onnx.TensorProto.UINT8, onnx.TensorProto.INT8) or scale_shape is None:
        return None
    if int(np.prod(scale_shape)) != 1 or g.types.get(x) not in FLOATS:
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
