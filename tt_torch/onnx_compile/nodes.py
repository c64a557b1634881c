"""An ONNX graph one node at a time: what each node reads, the one-node model of each, and
what makes two nodes the same op.

The CPU fallback asks the compiler about each node alone and runs refused nodes in ONNX
Runtime; op-by-op compiles and runs each unique node alone. Both work on the prepared model
(:func:`tt_torch.frontend.onnx_importer.prepare`: shapes inferred, values known before the
model runs folded into initializers, nodes named ``"<OpType>:<name>"``, weights as graph
inputs), and both make a node's model here, so the node the fallback probes is the node
op-by-op records.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import onnx
from onnx import helper

from tt_torch.errors import FrontendError
from tt_torch.frontend import onnx_importer


def value_types(model: onnx.ModelProto) -> dict[str, onnx.TypeProto]:
    """The type of every value of the main graph that shape inference (or the model) gives."""
    graph = model.graph
    out: dict[str, onnx.TypeProto] = {}
    for v in [*graph.input, *graph.value_info, *graph.output]:
        if v.type.WhichOneof("value") is not None:
            out[v.name] = v.type
    for t in graph.initializer:
        out[t.name] = helper.make_tensor_type_proto(t.data_type, list(t.dims))
    return out


def _graphs(node: onnx.NodeProto) -> Iterable[onnx.GraphProto]:
    for a in node.attribute:
        if a.type == onnx.AttributeProto.GRAPH:
            yield a.g
        elif a.type == onnx.AttributeProto.GRAPHS:
            yield from a.graphs


def _outer_reads(graph: onnx.GraphProto) -> list[str]:
    """The names a subgraph reads from the scopes around it (in order of first use)."""
    defined = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    reads: list[str] = []
    for node in graph.node:
        for name in node_inputs(node):
            if name not in defined and name not in reads:
                reads.append(name)
        defined.update(o for o in node.output if o)
    return reads


def implicit_inputs(node: onnx.NodeProto) -> list[str]:
    """The outer values a node's subgraphs (``If``, ``Loop``, ``Scan`` bodies) read by name."""
    names: list[str] = []
    for g in _graphs(node):
        names += [n for n in _outer_reads(g) if n not in names and n not in node.input]
    return names


def node_inputs(node: onnx.NodeProto) -> list[str]:
    """The values a node reads: its inputs (optional ones left out), then its implicit ones."""
    return list(dict.fromkeys(i for i in node.input if i)) + implicit_inputs(node)


def has_subgraph(node: onnx.NodeProto) -> bool:
    return any(True for _ in _graphs(node))


def type_text(t: onnx.TypeProto | None) -> str:
    """A value type in words: ``tensor(float)[2, 3]``, ``seq(tensor(int64))``, ``optional(...)``."""
    if t is None:
        return "of unknown type"
    kind = t.WhichOneof("value")
    if kind == "tensor_type":
        elem = onnx.TensorProto.DataType.Name(t.tensor_type.elem_type).lower()
        if not t.tensor_type.HasField("shape"):
            return f"tensor({elem})"
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.tensor_type.shape.dim]
        return f"tensor({elem}){dims}"
    if kind == "sequence_type":
        return f"seq({type_text(t.sequence_type.elem_type)})"
    if kind == "optional_type":
        return f"optional({type_text(t.optional_type.elem_type)})"
    if kind == "map_type":
        return "map"
    return str(kind)


def device_type(t: onnx.TypeProto | None) -> bool:
    """Whether a value of type ``t`` can be a device tensor: a tensor of an element type tt-torch
    takes, with a static shape."""
    if t is None or t.WhichOneof("value") != "tensor_type":
        return False
    tensor = t.tensor_type
    try:
        onnx_importer.torch_dtype(tensor.elem_type)
    except FrontendError:
        return False
    return tensor.HasField("shape") and all(d.HasField("dim_value") for d in tensor.shape.dim)


def nbytes(t: onnx.TypeProto | None) -> int:
    """The bytes of a statically shaped tensor of type ``t`` (0 for anything else)."""
    if not device_type(t):
        return 0
    count = 1
    for d in t.tensor_type.shape.dim:
        count *= d.dim_value
    return count * onnx.helper.tensor_dtype_to_np_dtype(t.tensor_type.elem_type).itemsize


@dataclass
class Graph:
    """What the one-node and partition models of a prepared model are made from."""

    prepared: onnx_importer.PreparedModel
    types: dict[str, onnx.TypeProto]
    constants: dict[str, onnx.TensorProto]  # the initializers left in the prepared model

    @classmethod
    def of(cls, prepared: onnx_importer.PreparedModel) -> Graph:
        model = prepared.model
        return cls(prepared, value_types(model), {t.name: t for t in model.graph.initializer})

    @property
    def nodes(self) -> list[onnx.NodeProto]:
        return list(self.prepared.model.graph.node)

    def describe(self, node: onnx.NodeProto) -> tuple[str, str, int]:
        """(node name, op type, opset) of a node of the prepared model."""
        return self.prepared.nodes.get(node.name, (node.name, node.op_type, self.prepared.opset))

    def submodel(
        self, nodes: list[onnx.NodeProto], inputs: list[str], outputs: list[str], name: str, weights_inside=False
    ) -> onnx.ModelProto:
        """A model of ``nodes`` (in graph order) taking ``inputs`` and giving ``outputs``. The
        constants they read are its initializers; so are the weights among ``inputs`` when
        ``weights_inside`` (a device partition: the compiler takes them as parameters again)."""
        weights = self.prepared.weights
        graph_inputs, inits = [], []
        for n in inputs:
            if weights_inside and n in weights:
                inits.append(onnx.numpy_helper.from_array(weights[n].numpy(), n))
            else:
                graph_inputs.append(helper.make_value_info(n, self.types[n]) if n in self.types else _untyped(n))
        read = {n for node in nodes for n in node_inputs(node)}
        inits += [self.constants[n] for n in sorted(read) if n in self.constants and n not in inputs]
        outs = [helper.make_value_info(o, self.types[o]) if o in self.types else _untyped(o) for o in outputs]
        copies = []
        for node in nodes:
            copy = onnx.NodeProto()
            copy.CopyFrom(node)
            copy.name = self.describe(node)[0]  # prepare names it "<OpType>:<name>" again
            copies.append(copy)
        source = self.prepared.model
        model = helper.make_model(
            helper.make_graph(copies, name, graph_inputs, outs, initializer=inits),
            opset_imports=list(source.opset_import),
            ir_version=source.ir_version,
        )
        model.functions.extend(source.functions)
        return model

    def one_node(self, node: onnx.NodeProto) -> tuple[onnx.ModelProto, list[str]]:
        """A node's model (its constant inputs as initializers) and the names of its inputs."""
        inputs = [n for n in node_inputs(node) if n not in self.constants]
        outputs = [o for o in node.output if o]
        return self.submodel([node], inputs, outputs, self.describe(node)[0]), inputs

    def key(self, node: onnx.NodeProto) -> tuple:
        """What makes two nodes the same op: op type, domain, opset, attributes, and the type of
        each input (the value of a constant one)."""
        versions = {i.domain: i.version for i in self.prepared.model.opset_import}
        inputs = []
        for name in [*node.input, *implicit_inputs(node)]:
            if not name:
                inputs.append(("absent",))
            elif name in self.constants:
                inputs.append(("constant", self.constants[name].SerializeToString()))
            else:
                t = self.types.get(name)
                inputs.append(("value", t.SerializeToString() if t is not None else name))
        attributes = tuple(sorted((a.name, a.SerializeToString()) for a in node.attribute))
        outputs = sum(1 for o in node.output if o)
        return (node.domain, node.op_type, versions.get(node.domain, 0), attributes, tuple(inputs), outputs)

    def not_on_device(self, node: onnx.NodeProto) -> str | None:
        """Why a node can never be a device op, without compiling it: a value it reads or makes is
        not a tensor tt-torch takes (sequences, optionals, strings, maps, other element types)."""
        for what, names in (("input", node_inputs(node)), ("output", [o for o in node.output if o])):
            for name in names:
                if name in self.constants and what == "input":
                    continue
                t = self.types.get(name)
                if not device_type(t):
                    return f"its {what} '{name}' is {type_text(t)}, never a device tensor"
        return None


def _untyped(name: str) -> onnx.ValueInfoProto:
    value = onnx.ValueInfoProto()
    value.name = name
    return value


__all__ = [
    "Graph",
    "device_type",
    "has_subgraph",
    "implicit_inputs",
    "nbytes",
    "node_inputs",
    "type_text",
    "value_types",
]
