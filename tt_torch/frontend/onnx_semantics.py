"""ONNX nodes that torch-mlir imports with other semantics than ONNX's, rewritten before import.

Rules of :data:`onnx_rewrites.RULES` (op type -> function of the node and the graph's known
shapes and types, returning the replacing nodes or None). Each fixes a torch-mlir lowering
that runs but computes something else, found by onnx's node test cases:

- ``Mod`` with ``fmod=0`` (Python's modulo, the divisor's sign) on signed integers and
  floats: torch-mlir converts it to ``aten.remainder`` and lowers that to
  ``stablehlo.remainder``, which is C's fmod (the dividend's sign). The node is kept and
  its result ``r`` corrected to ``r + b`` where ``r != 0`` and the signs of ``r`` and ``b``
  differ: exact, inf and NaN included, and a no-op should torch-mlir compute the modulo
  itself one day (its result then already has the divisor's sign).
- ``ReduceMax`` / ``ReduceMin`` on booleans: torch-mlir starts the reduction at the signed
  extreme of i1, ``true`` for a max (which makes every max true) and ``false`` for a min.
  They reduce int32 values instead, cast back to bool.
- ``LpNormalization``: torch-mlir divides by the norm, 0 / 0 = NaN where the norm is 0;
  ONNX's reference gives 0 there. The norm is computed here and a zero norm divides by 1.
- ``SpaceToDepth`` with ``mode="CRD"`` (opset 28): torch-mlir ignores the mode and orders
  the output channels as DCR; CRD is spelled out as a reshape, transpose, reshape.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import helper

_SIGNED_AND_FLOATS = {
    onnx.TensorProto.INT8,
    onnx.TensorProto.INT16,
    onnx.TensorProto.INT32,
    onnx.TensorProto.INT64,
    onnx.TensorProto.FLOAT,
    onnx.TensorProto.FLOAT16,
    onnx.TensorProto.DOUBLE,
    onnx.TensorProto.BFLOAT16,
}
_FLOATS = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE}
# the C-fmod Mod a corrected Mod keeps: not corrected again
_FMOD_SUFFIX = "/c_fmod"


def _attr(node: onnx.NodeProto, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            value = helper.get_attribute_value(a)
            return value.decode() if isinstance(value, bytes) else value
    return default


def _zero(g, base: str, elem: int, value: float = 0.0) -> str:
    return g.constant(f"{base}_{value:g}", np.array(value, dtype=helper.tensor_dtype_to_np_dtype(elem)))


def python_mod(node: onnx.NodeProto, g) -> list[onnx.NodeProto] | None:
    """Mod(a, b) with fmod=0: r = torch-mlir's C fmod, then r + b where r != 0 and sign(r) != sign(b)."""
    a, b = node.input
    y = node.output[0]
    elem = g.types.get(a)
    if int(_attr(node, "fmod", 0)) != 0 or elem not in _SIGNED_AND_FLOATS or node.name.endswith(_FMOD_SUFFIX):
        return None
    base = f"{y}__pymod"
    zero = _zero(g, base, elem)
    r = f"{base}_r"

    def op(kind: str, inputs: list[str], tag: str) -> onnx.NodeProto:
        return helper.make_node(kind, inputs, [f"{base}_{tag}"], name=f"{node.name}/{tag}")

    return [
        helper.make_node("Mod", [a, b], [r], fmod=0, name=f"{node.name}{_FMOD_SUFFIX}"),
        op("Equal", [r, zero], "is_zero"),
        op("Not", [f"{base}_is_zero"], "nonzero"),
        op("Less", [r, zero], "r_negative"),
        op("Less", [b, zero], "b_negative"),
        op("Xor", [f"{base}_r_negative", f"{base}_b_negative"], "signs_differ"),
        op("And", [f"{base}_nonzero", f"{base}_signs_differ"], "fix"),
        op("Add", [r, b], "shifted"),
        helper.make_node("Where", [f"{base}_fix", f"{base}_shifted", r], [y], name=f"{node.name}/where"),
    ]


def bool_reduce(node: onnx.NodeProto, g) -> list[onnx.NodeProto] | None:
    """ReduceMax / ReduceMin of booleans as the reduction of their int32 values."""
    x, y = node.input[0], node.output[0]
    if g.types.get(x) != onnx.TensorProto.BOOL:
        return None
    base = f"{y}__bool_reduce"
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    return [
        helper.make_node("Cast", [x], [f"{base}_int"], to=onnx.TensorProto.INT32, name=f"{node.name}/to_int"),
        helper.make_node(
            node.op_type, [f"{base}_int", *node.input[1:]], [f"{base}_reduced"], name=f"{node.name}/reduce", **attrs
        ),
        helper.make_node("Cast", [f"{base}_reduced"], [y], to=onnx.TensorProto.BOOL, name=f"{node.name}/to_bool"),
    ]


def lp_normalization(node: onnx.NodeProto, g) -> list[onnx.NodeProto] | None:
    """x / ||x||_p along the axis (p = 1 or 2), dividing by 1 where the norm is 0."""
    x, y = node.input[0], node.output[0]
    shape, elem = g.shapes.get(x), g.types.get(x)
    p = int(_attr(node, "p", 2))
    if shape is None or not shape or elem not in _FLOATS or p not in (1, 2) or g.opset < 13:
        return None
    axis = int(_attr(node, "axis", -1)) % len(shape)
    base = f"{y}__lpnorm"

    def op(kind: str, inputs: list[str], tag: str, **attrs) -> onnx.NodeProto:
        return helper.make_node(kind, inputs, [f"{base}_{tag}"], name=f"{node.name}/{tag}", **attrs)

    axes = g.constant(f"{base}_axes", np.array([axis], dtype=np.int64))
    powered = op("Abs", [x], "pow") if p == 1 else op("Mul", [x, x], "pow")
    nodes = [powered, op("ReduceSum", [f"{base}_pow", axes], "sum", keepdims=1)]
    norm = f"{base}_sum"
    if p == 2:
        nodes.append(op("Sqrt", [norm], "norm"))
        norm = f"{base}_norm"
    nodes += [
        op("Equal", [norm, _zero(g, base, elem)], "is_zero"),
        op("Where", [f"{base}_is_zero", _zero(g, base, elem, 1.0), norm], "divisor"),
        helper.make_node("Div", [x, f"{base}_divisor"], [y], name=f"{node.name}/div"),
    ]
    return nodes


def space_to_depth(node: onnx.NodeProto, g) -> list[onnx.NodeProto] | None:
    """SpaceToDepth in CRD order: output channel c * b * b + i * b + j holds x[c, b * h + i, b * w + j]."""
    x, y = node.input[0], node.output[0]
    shape = g.shapes.get(x)
    if _attr(node, "mode", "DCR") != "CRD" or shape is None or len(shape) != 4:
        return None
    b = int(_attr(node, "blocksize"))
    n, c, h, w = shape
    base = f"{y}__s2d"
    name = node.name or node.op_type
    blocks = g.constant(f"{base}_block_shape", np.array([n, c, h // b, b, w // b, b], dtype=np.int64))
    out = g.constant(f"{base}_out_shape", np.array([n, c * b * b, h // b, w // b], dtype=np.int64))
    return [
        helper.make_node("Reshape", [x, blocks], [f"{base}_blocks"], name=f"{name}/blocks"),
        helper.make_node(
            "Transpose", [f"{base}_blocks"], [f"{base}_moved"], perm=[0, 1, 3, 5, 2, 4], name=f"{name}/move"
        ),
        helper.make_node("Reshape", [f"{base}_moved", out], [y], name=f"{name}/channels"),
    ]


RULES: dict[str, Callable] = {
    "Mod": python_mod,
    "ReduceMax": bool_reduce,
    "ReduceMin": bool_reduce,
    "LpNormalization": lp_normalization,
    "SpaceToDepth": space_to_depth,
}

__all__ = ["RULES"]
