"""What the rules read (the graph's known values, shapes and types) and helpers they share."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper, numpy_helper

FLOATS = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE, onnx.TensorProto.BFLOAT16}


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


def node_attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def text(v) -> str | None:
    return v.decode() if isinstance(v, bytes) else v


SMALL_INTS = {onnx.TensorProto.UINT8, onnx.TensorProto.INT8, onnx.TensorProto.INT16, onnx.TensorProto.UINT16}


def take(g: Graph, x: str, axis: int, at: int, out: str, name: str) -> list[onnx.NodeProto]:
    """``x[..., at, ...]`` along ``axis`` (that dim dropped): a Gather of a 0-d index, in every opset."""
    index = g.constant(f"{out}_index", np.array(at, np.int64))
    return [helper.make_node("Gather", [x, index], [out], axis=axis, name=name)]


def unsqueeze(g: Graph, x: str, axis: int, out: str, name: str) -> onnx.NodeProto:
    if g.opset < 13:
        return helper.make_node("Unsqueeze", [x], [out], axes=[axis], name=name)
    return helper.make_node("Unsqueeze", [x, g.constant(f"{out}_axes", np.array([axis], np.int64))], [out], name=name)


def subgraph(node: onnx.NodeProto) -> bool:
    return any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute)


def along(node_name: str, x: str, matrix: str, out: str, axis: int, rank: int, tag: str) -> list[onnx.NodeProto]:
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
