"""Pipeline parallelism: tt-torch's ``CompilerConfig.device_map`` over ``BackendOptions.devices``.

``device_map`` maps module paths (``"model.layers.3"``, as ``named_modules`` spells them)
to indices into ``BackendOptions.devices``. The dynamo graph is split by owner:

- a node's owner is the longest module path in the map that its ``nn_module_stack`` lies
  in (``"l3"`` owns ``l3.linear``; with both ``"l3"`` and ``"l3.linear"`` mapped, the
  longer one wins);
- a node no mapped module owns follows its inputs (the device of the input computed
  last), or, when it reads only graph inputs and constants, its first user; failing both,
  the node before it;
- the nodes are ordered topologically, staying on one device as long as the graph
  allows, and each run of nodes on one device is a *stage*. A map that interleaves
  devices (l1 -> 0, l2 -> 1, l3 -> 1, l4 -> 0) keeps its placement and gets as many
  stages as the data flow needs (0, 1, 0); tt-torch instead moved l2 and l3 to device 0.

Each stage is a graph of its own, compiled by its own :class:`~.executor.Executor` for
its own device (its own program, its own memory). A tensor that one stage makes and a
later stage on another device reads is a device-to-device copy: on silicon it crosses
the ethernet links between the two chips; in the emulation it passes through the host.
Every copy is in the report (``report["pipeline"]`` of each stage's artifacts): bytes,
chips, hops and the link time the system description gives.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx
from torch.utils import _pytree as pytree

from tt_torch.compiler.target import system_desc
from tt_torch.config import CompilerConfig
from tt_torch.errors import ConfigError
from tt_torch.frontend import passes
from tt_torch.runtime.mesh import MeshDevice, runtime_device

from .artifacts import CompileArtifacts
from .executor import Executor, classify_inputs

_LOG = logging.getLogger(__name__)
_CALLS = ("call_function", "call_method", "call_module")
_PATH_PART = re.compile(r"_modules\['([^']*)'\]|\['([^']*)'\]|\[(\d+)\]|([^.\[\]]+)")


def module_path(stack_entry: str) -> str:
    """``"L['self'].l3.linear"`` / ``"L['self']._modules['layers']._modules['0']"`` -> ``"l3.linear"``
    / ``"layers.0"``: dynamo's source of a module, without the compiled object itself."""
    _, _, rest = stack_entry.partition(".")
    parts = []
    for m in _PATH_PART.finditer(rest):
        parts.append(next(g for g in m.groups() if g is not None))
    return ".".join(parts)


def owner_key(node: fx.Node, device_map: dict[str, int]) -> str | None:
    """The longest key of ``device_map`` that the node's innermost module lies in, or None."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return None
    path = module_path(list(stack.values())[-1][0])
    best = None
    for key in device_map:
        if path == key or path.startswith(key + "."):
            if best is None or len(key) > len(best):
                best = key
    return best


def assign_devices(gm: fx.GraphModule, device_map: dict[str, int]) -> dict[fx.Node, int]:
    """The device index of every computing node (see the module's docstring for the rules)."""
    nodes = [n for n in gm.graph.nodes if n.op in _CALLS]
    order = {n: k for k, n in enumerate(gm.graph.nodes)}
    device: dict[fx.Node, int] = {}
    for n in nodes:
        key = owner_key(n, device_map)
        if key is not None:
            device[n] = device_map[key]
    for n in nodes:  # follow the input computed last
        if n not in device:
            fed = [i for i in n.all_input_nodes if i in device]
            if fed:
                device[n] = device[max(fed, key=order.__getitem__)]
    for n in reversed(nodes):  # reads only inputs and constants: go with the first user
        if n not in device:
            users = sorted((u for u in n.users if u in device), key=order.__getitem__)
            if users:
                device[n] = device[users[0]]
    previous = min(device_map.values(), default=0)
    for n in nodes:  # what is left (no placed input or user): the node before it
        previous = device.setdefault(n, previous)
    return device


def order_stages(gm: fx.GraphModule, device: dict[fx.Node, int]) -> list[tuple[int, list[fx.Node]]]:
    """A topological order of the computing nodes that stays on one device as long as it can,
    cut into stages (device, nodes)."""
    nodes = [n for n in gm.graph.nodes if n.op in _CALLS]
    order = {n: k for k, n in enumerate(nodes)}
    waiting = {n: sum(1 for i in set(n.all_input_nodes) if i in order) for n in nodes}
    ready = sorted((n for n in nodes if waiting[n] == 0), key=order.__getitem__)
    stages: list[tuple[int, list[fx.Node]]] = []
    current = device[ready[0]] if ready else None
    while ready:
        here = [n for n in ready if device[n] == current]
        node = here[0] if here else ready[0]
        ready.remove(node)
        if not stages or stages[-1][0] != device[node]:
            stages.append((device[node], []))
        stages[-1][1].append(node)
        current = device[node]
        for user in node.users:
            if user in waiting:
                waiting[user] -= 1
                if waiting[user] == 0:
                    ready.append(user)
        ready.sort(key=order.__getitem__)
    return stages


@dataclass
class Stage:
    index: int
    device_index: int
    gm: fx.GraphModule
    inputs: list[fx.Node]  # nodes of the whole graph whose values the stage reads, in its argument order
    outputs: list[fx.Node]  # nodes of the whole graph the stage computes for others
    executor: Executor | None = None


def split(gm: fx.GraphModule, device: dict[fx.Node, int]) -> list[Stage]:
    """One graph module per stage: its placeholders are the graph inputs and earlier stages'
    values it reads; its outputs are the values later stages or the graph's output read."""
    plan = order_stages(gm, device)
    stage_of = {n: k for k, (_, members) in enumerate(plan) for n in members}
    out_node = next(n for n in gm.graph.nodes if n.op == "output")
    stages = []
    for k, (dev, members) in enumerate(plan):
        graph = fx.Graph()
        env: dict[fx.Node, fx.Node] = {}
        inputs: list[fx.Node] = []
        root = torch.nn.Module()
        member_set = set(members)
        for n in members:
            for i in n.all_input_nodes:
                if i in env or i in member_set:
                    continue
                if i.op == "get_attr":
                    setattr(root, i.target.replace(".", "_"), _fetch_attr(gm, i.target))
                    env[i] = graph.get_attr(i.target.replace(".", "_"))
                    env[i].meta = dict(i.meta)
                else:
                    env[i] = graph.placeholder(i.name)
                    env[i].meta = dict(i.meta)
                    inputs.append(i)
        for n in members:
            env[n] = graph.node_copy(n, env.__getitem__)
        outputs = [n for n in members if any(u is out_node or stage_of.get(u, k) > k for u in n.users)]
        graph.output(tuple(env[n] for n in outputs))
        for mod_name in {n.target for n in members if n.op == "call_module"}:
            _copy_submodule(gm, root, mod_name)
        stages.append(Stage(k, dev, fx.GraphModule(root, graph), inputs, outputs))
    return stages


def _fetch_attr(gm: fx.GraphModule, target: str) -> Any:
    obj = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _copy_submodule(gm: fx.GraphModule, root: torch.nn.Module, target: str) -> None:
    parent = root
    parts = target.split(".")
    for part in parts[:-1]:
        if not hasattr(parent, part):
            parent.add_module(part, torch.nn.Module())
        parent = getattr(parent, part)
    parent.add_module(parts[-1], _fetch_attr(gm, target))


@dataclass
class Placement:
    """Where each entry of ``BackendOptions.devices`` sits: the system and the chip of its first chip."""

    system: system_desc.SystemDesc
    chips: list[int]

    @classmethod
    def of(cls, devices: list) -> Placement:
        meshes = [d for d in devices if isinstance(d, MeshDevice)]
        name = meshes[0].system if meshes else "n300"
        system = system_desc.get(name) if name in system_desc.SYSTEMS else system_desc.get("n300")
        chips = [
            d.chip_ids[0] if isinstance(d, MeshDevice) else min(k, system.num_chips - 1) for k, d in enumerate(devices)
        ]
        return cls(system, chips)


@dataclass
class PipelineExecutor:
    """The callable ``torch.compile`` gets back for a graph with a ``device_map``: its stages run in
    order, each on its device; the tensors that cross stages are handed from one to the next."""

    gm: fx.GraphModule
    config: CompilerConfig
    devices: list
    artifacts: CompileArtifacts | None
    name: str
    stages: list[Stage] = field(init=False)
    report: dict[str, Any] = field(init=False)
    _reported: set = field(default_factory=set, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self._check_map()
        device = assign_devices(self.gm, self.config.device_map)
        self.stages = split(self.gm, device)
        stage_config = CompilerConfig(**{**self.config.as_dict(), "device_map": {}})
        for stage in self.stages:
            target = runtime_device(self.devices[stage.device_index])
            stage.executor = Executor(
                stage.gm, stage_config, self.artifacts, name=f"{self.name}_stage{stage.index}", device=target
            )
        self.inputs = classify_inputs(self.gm)
        self.out_spec = pytree.tree_flatten(passes.output_structure(self.gm))[1]
        self.out_nodes = passes.output_nodes(self.gm)
        self.report = self._plan_report(Placement.of(self.devices))
        _LOG.info(
            "graph %s: %d pipeline stages on devices %s",
            self.name,
            len(self.stages),
            [s.device_index for s in self.stages],
        )

    def _check_map(self) -> None:
        n = len(self.devices)
        for key, index in self.config.device_map.items():
            if index >= n:
                raise ConfigError(
                    f"CompilerConfig.device_map maps {key!r} to device {index}, but BackendOptions.devices has {n} "
                    f"device(s): acquire more with DeviceManager (e.g. sub-meshes of a [1, {index + 1}] parent) "
                    "or map it to an index below that"
                )
        modules = {
            module_path(v[0]) for n in self.gm.graph.nodes for v in (n.meta.get("nn_module_stack") or {}).values()
        }
        unknown = [k for k in self.config.device_map if not any(m == k or m.startswith(k + ".") for m in modules)]
        if unknown:  # a typo, or a module of another graph (a graph break splits the model): not an error
            _LOG.info(
                "graph %s: CompilerConfig.device_map keys %s name no module of this graph (its modules: %s)",
                self.name,
                unknown,
                ", ".join(sorted(m for m in modules if m)[:20]),
            )

    def _plan_report(self, where: Placement) -> dict[str, Any]:
        produced_by = {n: s for s in self.stages for n in s.outputs}
        stages, copies = [], []
        for s in self.stages:
            stages.append(
                {
                    "stage": s.index,
                    "device": s.device_index,
                    "chip": where.chips[s.device_index],
                    "ops": [n.name for n in s.gm.graph.nodes if n.op in _CALLS],
                    "inputs": [i.name for i in s.inputs],
                    "outputs": [o.name for o in s.outputs],
                }
            )
            for i in s.inputs:
                src = produced_by.get(i)
                if src is None or src.device_index == s.device_index:
                    continue
                nbytes = _nbytes(i)
                a, b = where.chips[src.device_index], where.chips[s.device_index]
                copies.append(
                    {
                        "op": "device_to_device_copy",
                        "value": i.name,
                        "from_stage": src.index,
                        "to_stage": s.index,
                        "from_device": src.device_index,
                        "to_device": s.device_index,
                        "from_chip": a,
                        "to_chip": b,
                        "bytes": nbytes,
                        "hops": len(where.system.route(a, b)),
                        "link_us": where.system.transfer_us(nbytes, a, b),
                    }
                )
        return {
            "system": where.system.name,
            "device_map": dict(self.config.device_map),
            "stages": stages,
            "copies": copies,
            "link_us": sum(c["link_us"] for c in copies),
        }

    def __call__(self, *args):
        values: dict[fx.Node, Any] = {}
        placeholders = [n for n in self.gm.graph.nodes if n.op == "placeholder"]
        values.update(zip(placeholders, args))
        for stage in self.stages:
            stage_args = [values[i] for i in stage.inputs]
            # a device of another process (tt_torch.distributed.StageDevice) runs or receives the stage
            run = getattr(self.devices[stage.device_index], "run_stage", None)
            outs = run(self, stage, stage_args) if run else stage.executor(*stage_args)
            values.update(zip(stage.outputs, outs))
        self._attach_report()
        flat = [values[n] if isinstance(n, fx.Node) else n for n in self.out_nodes]
        return pytree.tree_unflatten(flat, self.out_spec)

    def _attach_report(self) -> None:
        """After a compile: each stage's artifacts carry the pipeline's plan and estimate."""
        if self.artifacts is None:
            return
        with self._lock:
            fresh = [
                (s, g)
                for s in self.stages
                for g in self.artifacts.graphs
                if g.name.startswith(f"{self.name}_stage{s.index}_") and id(g) not in self._reported
            ]
            if not fresh:
                return
            device_us = {}
            for s in self.stages:
                graphs = [g for g in self.artifacts.graphs if g.name.startswith(f"{self.name}_stage{s.index}_")]
                est = graphs[-1].report.get("device", {}).get("estimate", {}) if graphs else {}
                device_us[s.index] = est.get("total_us", 0.0)
            report = dict(self.report, stage_us=device_us)
            report["estimate_us"] = sum(device_us.values()) + report["link_us"]
            for s, g in fresh:
                g.report["pipeline"] = dict(report, this_stage=s.index)
                self._reported.add(id(g))


def _nbytes(node: fx.Node) -> int:
    val = node.meta.get("example_value", node.meta.get("val"))
    vals = val if isinstance(val, (tuple, list)) else [val]
    total = 0
    for v in vals:
        if isinstance(v, torch.Tensor):
            try:
                total += int(v.numel()) * v.element_size()
            except (TypeError, RuntimeError):  # symbolic sizes
                pass
    return total
