"""CPU fallback for ONNX graphs (``CompilerConfig.enable_cpu_fallback``, on by default).

When the whole model does not compile, each node is asked alone: its one-node model goes
through compile_onnx's import and the whole compiler to TTNN in the op-by-op worker process
(:func:`probe`; a crash or hang costs that node). A node that reads or makes a value that is
never a device tensor (a sequence, an optional, a string, another element type) is on the
host without asking. The nodes are then partitioned as the torch fallback partitions an FX
graph (:func:`tt_torch.dynamo.fallback.split_graph` on a graph of one FX node per ONNX node):
connected, acyclic groups of nodes that compile become device partitions, each a model of
its nodes compiled through the same path as a whole model (weights as parameters), and the
other nodes run on the host; the values crossing are explicit copies, counted per partition.

A host node runs in ONNX Runtime (pinned, the reference of every ONNX check here): its
one-node model in an ``InferenceSession`` made on the first call. ONNX Runtime rather than
onnx's reference evaluator because it is the golden the compiled model is checked against
(so a host node computes exactly what the check expects), it runs every standard op and
control flow (``If``, ``Loop``, ``Scan``), sequences and optionals, and it runs in C++: the
reference evaluator is pure numpy, orders of magnitude slower on convolutions and loops.

The report, ``model.report["cpu_fallback"]`` (also ``artifacts.last.report``), has the torch
fallback's shape: per host node its name, op type, opset, the stage that refused it and why;
the partitions with the bytes copied to and from the device on each call.
"""

from __future__ import annotations

import logging
import operator
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import onnx
import torch
import torch.fx as fx

from tt_torch import op_by_op as obo
from tt_torch.compiler.options import CompileOptions
from tt_torch.config import CompilerConfig, OpByOpBackend, OpCompilationStatus
from tt_torch.dynamo import fallback as fx_fallback
from tt_torch.errors import CompileError

from . import node_by_node, reference
from .nodes import Graph, nbytes

_LOG = logging.getLogger(__name__)

# (node key, compile options) -> None (the node compiles alone) or (stage reached, reason)
_answers: dict[Any, tuple[str, str] | None] = {}


def probe(graph: Graph, config: CompilerConfig, model_name: str) -> dict[str, tuple[str, str] | None]:
    """Per node (by its ``"<OpType>:<name>"``): None when its one-node model compiles to TTNN,
    else (the stage it reached, why not). Answers are kept per unique node and compile options
    for the process's later models (a hang is asked again: it may be the machine's load)."""
    options = repr(CompileOptions.from_config(config, verify_each_pass=config.verify_passes, cache_dir="off"))
    base = dict(
        backend=OpByOpBackend.STABLEHLO.name,
        model_name=model_name,
        model_group=config.model_group,
        graph_name=model_name,
        run_id="cpu_fallback_probe",
        target_status=OpCompilationStatus.CONVERTED_TO_TTNN.name,
    )
    out: dict[str, tuple[str, str] | None] = {}
    for node in graph.nodes:
        why = graph.not_on_device(node)
        if why is not None:
            out[node.name] = (OpCompilationStatus.NOT_STARTED.name, why)
            continue
        key = (graph.key(node), options)
        if key not in _answers:
            op = node_by_node.unique_op(graph, node, key, base, 0)
            obo.run_one(op, obo.probe_worker(), config, execute=False)
            rec = op.record
            answer = None if rec.reaches_device() else (rec.status_name, (rec.error or "stopped before TTNN").strip())
            if answer is not None and "timed out" in answer[1]:
                out[node.name] = answer
                continue
            _answers[key] = answer
        out[node.name] = _answers[key]
    return out


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_") or "node"


def _feed(value: Any) -> Any:
    """A value as ONNX Runtime takes it: tensors as numpy arrays, sequences as lists of them."""
    if isinstance(value, torch.Tensor):
        return reference.as_numpy(value)
    if isinstance(value, (list, tuple)):
        return [_feed(v) for v in value]
    return value


class HostNode:
    """One ONNX node run on the host: its one-node model in ONNX Runtime."""

    def __init__(self, location: str, model: onnx.ModelProto, inputs: list[str]):
        self.location = location
        self.model = model
        self.inputs = inputs
        self.__name__ = _safe(location)
        self._session = None

    def __deepcopy__(self, memo) -> HostNode:  # the partitioner copies graphs; a session is not copied
        return self

    def __call__(self, *values: Any) -> tuple[Any, ...]:
        if self._session is None:
            self._session = reference.session(self.model)
        try:
            outs = self._session.run(None, {n: _feed(v) for n, v in zip(self.inputs, values)})
        except Exception as e:  # ONNX Runtime's own exception classes
            raise reference.ReferenceError(
                f"ONNX Runtime failed to run node {self.location} on the host (CPU fallback): {str(e).strip()[:600]}"
            ) from e
        return tuple(node_by_node.as_tensor(o) for o in outs)

    def __repr__(self) -> str:
        return f"HostNode({self.location})"


class _Constant:
    """A graph output that is an initializer."""

    def __init__(self, value: np.ndarray):
        self.value = torch.from_numpy(np.array(value, copy=True))
        self.__name__ = "constant"

    def __call__(self) -> torch.Tensor:
        return self.value


def mirror(graph: Graph) -> fx.GraphModule:
    """An FX graph with one node per ONNX node (calling it on the host) and one ``getitem`` per
    value it makes; ``meta["onnx_node"]`` and ``meta["onnx_value"]`` name what each stands for.
    It takes the program's inputs (user inputs, then weights) and returns the model's outputs."""
    g = fx.Graph()
    env: dict[str, fx.Node] = {}
    for name in graph.prepared.arg_names:
        env[name] = g.placeholder(_safe(name))
        env[name].meta["onnx_value"] = name
    for node in graph.nodes:
        model, names = graph.one_node(node)
        call = g.call_function(HostNode(node.name, model, names), tuple(env[n] for n in names))
        call.meta["onnx_node"] = node.name
        for k, out in enumerate(o for o in node.output if o):
            env[out] = g.call_function(operator.getitem, (call, k))
            env[out].meta["onnx_value"] = out
    outputs = []
    for o in graph.prepared.model.graph.output:
        if o.name not in env:  # an initializer
            env[o.name] = g.call_function(_Constant(onnx.numpy_helper.to_array(graph.constants[o.name])), ())
        outputs.append(env[o.name])
    g.output(tuple(outputs))
    return fx.GraphModule(torch.nn.Module(), g)


class Fallback:
    """A model split into device partitions and host nodes; call :meth:`run` with the program's inputs."""

    def __init__(self, split: fx_fallback.Split, partitions: list, report: dict[str, Any]):
        self.split = split
        self.partitions = partitions  # the compiled partitions' models, in graph order
        self.report = report

    def run(self, program_inputs: Sequence[torch.Tensor]) -> list[Any]:
        return list(self.split.gm(*program_inputs))


def compile_with_fallback(
    graph: Graph,
    config: CompilerConfig,
    error: CompileError,
    compile_partition: Callable[[onnx.ModelProto], Any],
    execute: bool,
) -> Fallback:
    """The model with the nodes the device path refuses on the host, the rest in device
    partitions (``compile_partition`` compiles one partition's model, strictly; an error
    there puts its nodes on the host as well). ``error``: the whole model's compile error."""
    name = graph.prepared.name
    t = time.perf_counter()
    support = probe(graph, config, config.model_name or name)
    probe_seconds = time.perf_counter() - t
    host: dict[str, dict[str, Any]] = {}
    if all(answer is None for answer in support.values()):
        reason = f"each node compiles alone, the model as a whole does not: {error}"
        support = {location: ("graph", reason) for location in support}
    for location, answer in support.items():
        if answer is not None:
            host[location] = _entry(graph, location, *answer)
    gm = mirror(graph)
    supported = {n.name for n in gm.graph.nodes if "onnx_node" in n.meta and support[n.meta["onnx_node"]] is None}
    split = fx_fallback.split_graph(gm, supported)
    partitions, compiled, texts = [], [], {"stablehlo": [], "ttir": [], "ttnn": []}
    weights = graph.prepared.weights
    by_location = {node.name: node for node in graph.nodes}
    order = {location: k for k, location in enumerate(by_location)}
    for part_name in split.partitions:
        sub = split.submodule(part_name)
        members = [n.meta["onnx_node"] for n in sub.graph.nodes if "onnx_node" in n.meta]
        site = split.call_site(part_name)
        ins = [a.meta["onnx_value"] for a in site.args]
        output = next(n for n in sub.graph.nodes if n.op == "output")
        outs = [n.meta["onnx_value"] for n in output.args[0]]
        nodes = [by_location[m] for m in sorted(members, key=order.get)]
        t = time.perf_counter()
        try:
            model = compile_partition(graph.submodel(nodes, ins, outs, f"{name}_{part_name}", weights_inside=True))
        except CompileError as e:  # this partition's nodes run on the host too
            reason = f"its device partition {part_name} did not compile: {e}"
            for m in members:
                host[m] = _entry(graph, m, "partition", reason)
            partitions.append({"name": part_name, "ops": len(members), "device": False, "error": str(e)})
            continue
        seconds = time.perf_counter() - t
        compiled.append(model)
        for key in texts:
            text = getattr(model.graph, key)
            if text:
                texts[key].append(f"// partition {part_name}\n{text}")
        estimate = model.graph.report.get("device", {}).get("estimate", {})
        total, device = estimate.get("total_us", 0.0), estimate.get("device_us", 0.0)
        partitions.append(
            {
                "name": part_name,
                "ops": len(members),
                "device": True,
                "nodes": [n.name for n in nodes],
                "op_counts": model.graph.report.get("op_counts"),
                "to_device_bytes": sum(nbytes(graph.types.get(v)) for v in ins),
                "from_device_bytes": sum(nbytes(graph.types.get(v)) for v in outs),
                "estimate_us": total,
                "transfer_us": total - device,
                "compile_seconds": round(seconds, 3),
            }
        )
        if execute:
            kept = [k for k, v in enumerate(ins) if v not in weights]
            fx_fallback.place(split, part_name, _program(model, kept))
    ops = sorted(host.values(), key=lambda entry: order[entry["source"]])
    report = {
        "ops": ops,
        "device_partitions": sum(p["device"] for p in partitions),
        "host_ops": len(ops),
        "partitions": partitions,
        "transfers": {
            key: sum(p.get(key, 0) for p in partitions)
            for key in ("to_device_bytes", "from_device_bytes", "estimate_us", "transfer_us")
        },
        "error": str(error),
        "probe_seconds": round(probe_seconds, 3),
    }
    for key, parts in texts.items():
        report[key] = "\n".join(parts) or None
    places = ", ".join(f"{e['source']} (opset {e['opset']}, {e['stage']})" for e in ops[:8])
    _LOG.warning(
        "ONNX model %s: %d node(s) run on the CPU: %s%s; see model.report['cpu_fallback']",
        name,
        len(ops),
        places,
        " ..." if len(ops) > 8 else "",
    )
    return Fallback(split, compiled, report)


def _program(model, kept: list[int]) -> Callable[[list[Any]], list[torch.Tensor]]:
    """A compiled partition as the split graph calls it: with every crossing value, weights too
    (the partition's model holds its own)."""

    def run(values: list[Any]) -> list[torch.Tensor]:
        inputs = [node_by_node.as_tensor(values[k]) for k in kept]
        return list(model(*inputs))

    return run


def _entry(graph: Graph, location: str, stage: str, reason: str) -> dict[str, Any]:
    name, op_type, opset = graph.prepared.nodes.get(location, (location, "?", graph.prepared.opset))
    return dict(node=name, op=op_type, opset=opset, stage=stage, reason=reason, source=location)


__all__ = ["Fallback", "HostNode", "compile_with_fallback", "mirror", "probe"]
