"""Op-by-op on an ONNX model: one record per unique ONNX node, compiled and run alone.

``CompileDepth.COMPILE_OP_BY_OP`` / ``EXECUTE_OP_BY_OP`` with ``OpByOpBackend.STABLEHLO``
(what tt-torch's ONNX tests use) split the model into its nodes. A unique node is its op
type, domain, opset, attributes and the type of each input (the value of a constant one);
its one-node ONNX model (:class:`.nodes.Graph`) goes through compile_onnx's import and the
whole compiler in the op-by-op worker process (a crash or hang costs that node only, as for
StableHLO ops) and, for EXECUTE_OP_BY_OP, runs on the device against ONNX Runtime running
the same one-node model. Inputs are the values the model really computes there: ONNX
Runtime runs the whole model once with every value as an output. Records, reports, xlsx
and database are those of :mod:`tt_torch.op_by_op`; a record's ``op_name`` is the op type
(``onnx.Relu``), its ``torch_name`` the first node's ``"<OpType>:<name>"`` and ``fx_nodes``
every node it stands for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper

from tt_torch import op_by_op as obo
from tt_torch.frontend import onnx_importer

from . import nodes as onnx_nodes
from . import reference

_LOG = logging.getLogger(__name__)


def op_name(node: onnx.NodeProto) -> str:
    """``onnx.Relu``; a node of another domain as ``<domain>.<OpType>``."""
    return f"{node.domain if node.domain not in ('', 'ai.onnx') else 'onnx'}.{node.op_type}"


def _shape_dtype(t: onnx.TypeProto | None) -> tuple[list[int], str]:
    if t is None or t.WhichOneof("value") != "tensor_type":
        return [], onnx_nodes.type_text(t)
    dims = [d.dim_value if d.HasField("dim_value") else -1 for d in t.tensor_type.shape.dim]
    elem = t.tensor_type.elem_type
    try:
        dtype = str(onnx_importer.torch_dtype(elem)).removeprefix("torch.")
    except Exception:  # an element type tt-torch does not take: named as ONNX names it
        dtype = onnx.TensorProto.DataType.Name(elem).lower()
    return dims, dtype


def _args_text(graph: onnx_nodes.Graph, node: onnx.NodeProto) -> str:
    """The node's attributes, and the values of its constant inputs (short ones in full)."""
    parts = []
    for a in node.attribute:
        if a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
            graphs = [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)
            parts.append(f"{a.name}=<graph of {', '.join(str(len(g.node)) for g in graphs)} nodes>")
            continue
        value = helper.get_attribute_value(a)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif isinstance(value, onnx.TensorProto):
            value = numpy_helper.to_array(value).tolist()
        parts.append(f"{a.name}={value!r}"[:200])
    for k, name in enumerate(node.input):
        if name in graph.constants:
            value = numpy_helper.to_array(graph.constants[name])
            text = repr(value.tolist()) if value.size <= 16 else f"<{value.dtype} {list(value.shape)}>"
            parts.append(f"input{k}={text}")
    return ", ".join(parts)


def unique_op(
    graph: onnx_nodes.Graph,
    node: onnx.NodeProto,
    key: Any,
    base: dict[str, Any],
    index: int,
    inputs: Sequence[torch.Tensor] | None = None,
    goldens: list[torch.Tensor] | None = None,
    error: str | None = None,
) -> obo.UniqueOp:
    """A node as op-by-op's unique op: its record, and the worker's request (its one-node model;
    run on ``inputs`` when given)."""
    model, names = graph.one_node(node)
    outputs = [o for o in node.output if o]
    ins = [_shape_dtype(graph.types.get(n)) for n in names]
    outs = [_shape_dtype(graph.types.get(o)) for o in outputs]
    record = obo.OpRecord(
        op_name=op_name(node),
        torch_name=node.name,
        index=index,
        input_shapes=[s for s, _ in ins],
        input_dtypes=[d for _, d in ins],
        output_shapes=[s for s, _ in outs],
        output_dtypes=[d for _, d in outs],
        args=_args_text(graph, node),
        fx_nodes=[node.name],
        error=error,
        **base,
    )
    request = {"kind": "onnx", "model": model.SerializeToString(), "inputs": list(inputs or [])}
    return obo.UniqueOp(key, record, request, goldens)


def all_values(prepared: onnx_importer.PreparedModel, program_inputs: Sequence[torch.Tensor]) -> dict[str, Any]:
    """Every value the model computes on ``program_inputs`` (user inputs, then weights), from one
    ONNX Runtime run of the prepared model with each node output made a graph output."""
    model = onnx.ModelProto()
    model.CopyFrom(prepared.model)
    types = onnx_nodes.value_types(model)
    declared = {o.name for o in model.graph.output}
    for node in model.graph.node:
        for o in node.output:
            if o and o not in declared and o in types:
                model.graph.output.append(helper.make_value_info(o, types[o]))
                declared.add(o)
    sess = reference.session(model)
    names = [i.name for i in sess.get_inputs()]
    feed = dict(zip(prepared.arg_names, program_inputs))
    outs = sess.run(None, {n: reference.as_numpy(feed[n]) for n in names})
    values: dict[str, Any] = dict(feed)
    values.update(zip([o.name for o in sess.get_outputs()], outs))
    return values


def as_tensor(value: Any) -> Any:
    """An ONNX Runtime value as op-by-op and the device take it: numpy arrays as tensors."""
    if isinstance(value, np.ndarray) and value.dtype != object:
        return torch.from_numpy(np.array(value, copy=True))
    return value


def collect(
    prepared: onnx_importer.PreparedModel,
    program_inputs: Sequence[torch.Tensor],
    base: dict[str, Any],
    execute: bool,
    worker: obo.OpWorker,
    progress: Callable,
) -> list[obo.UniqueOp]:
    """The unique nodes of ``prepared`` as op-by-op's unique ops (``run_graph``'s ``collect``)."""
    graph = onnx_nodes.Graph.of(prepared)
    values: dict[str, Any] = {}
    values_error = None
    if execute:
        try:
            values = all_values(prepared, program_inputs)
        except Exception as e:  # ONNX Runtime's own exception classes: the nodes compile, none runs
            values_error = f"no input values: ONNX Runtime could not run the whole model ({str(e).strip()[:300]})"
    unique: dict[Any, obo.UniqueOp] = {}
    for node in progress(graph.nodes, desc="ONNX Runtime goldens", unit="node"):
        key = graph.key(node)
        if key in unique:
            unique[key].record.num_ops += 1
            unique[key].record.fx_nodes.append(node.name)
            continue
        _, names = graph.one_node(node)
        inputs, goldens, error = None, None, None
        if execute:
            inputs, goldens, error = _golden(graph, node, names, values, values_error)
        unique[key] = unique_op(graph, node, key, base, len(unique), inputs, goldens, error)
    return list(unique.values())


def _golden(graph: onnx_nodes.Graph, node: onnx.NodeProto, names: list[str], values: dict, values_error):
    """(device inputs, ONNX Runtime's outputs, error): the node's one-node model run in ONNX Runtime
    on the values the model computes; no inputs when the node cannot run on the device."""
    if values_error:
        return None, None, values_error
    why = graph.not_on_device(node)
    if why is not None:
        return None, None, f"not run: {why}"
    missing = [n for n in names if n not in values]
    if missing:
        return None, None, f"not run: ONNX Runtime gave no value for its input '{missing[0]}'"
    model, _ = graph.one_node(node)
    try:
        sess = reference.session(model)
        outs = sess.run(None, {n: reference.as_numpy(values[n]) for n in names})
    except Exception as e:  # ONNX Runtime's own exception classes
        return None, None, f"CPU golden (ONNX Runtime on the one-node model) failed: {str(e).strip()[:400]}"
    inputs = [as_tensor(values[n]).contiguous() for n in names]
    return inputs, [as_tensor(o) for o in outs], None


__all__ = ["all_values", "as_tensor", "collect", "op_name", "unique_op"]
