"""CPU fallback (``CompilerConfig.enable_cpu_fallback``): a graph split into device partitions and host ops.

The executor asks :func:`tt_torch.op_by_op.probe_support` which FX nodes the
device path takes; :func:`split_graph` groups those nodes into partitions with
torch's ``CapabilityBasedPartitioner``. Each partition becomes a submodule of a
copy of the graph, called from it like any other node; everything else stays an
aten node that runs on the CPU. The executor then compiles each partition and
puts a device program in the submodule's place (:func:`place`).
"""

from __future__ import annotations

import copy
import operator
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.fx as fx
from torch.fx.passes.infra.partitioner import CapabilityBasedPartitioner, Partition
from torch.fx.passes.operator_support import OperatorSupportBase
from torch.fx.passes.utils.fuser_utils import fuse_by_partitions

PREFIX = "tt_device_"


class ProbedSupport(OperatorSupportBase):
    """The partitioner's question answered from the probe: a call_function node is supported when
    its name is in ``supported``; a ``getitem`` follows the node it reads from."""

    def __init__(self, supported: set[str]):
        super().__init__()
        self.supported = supported

    def is_node_supported(self, submodules, node: fx.Node) -> bool:
        if node.op != "call_function":
            return False
        if node.target is operator.getitem:
            producer = node.args[0]
            return isinstance(producer, fx.Node) and producer.name in self.supported
        return node.name in self.supported


@dataclass
class Split:
    """A copy of the graph whose device partitions are submodules (``call_module`` nodes)."""

    gm: fx.GraphModule
    partitions: list[str]  # the submodules' names, in graph order

    def submodule(self, name: str) -> fx.GraphModule:
        return getattr(self.gm, name)

    def call_site(self, name: str) -> fx.Node:
        return next(n for n in self.gm.graph.nodes if n.op == "call_module" and n.target == name)


def _computes(partition: Partition) -> bool:
    """Whether a partition does more than unpack tuples and is read outside itself."""
    nodes = set(partition.nodes)
    if all(n.target is operator.getitem for n in nodes):
        return False
    return any(user not in nodes for n in nodes for user in n.users)


def split_graph(fx_gm: fx.GraphModule, supported: set[str]) -> Split:
    """Partitions a copy of ``fx_gm``: the supported nodes in as few connected, acyclic
    partitions as the partitioner finds, each fused into a submodule returning a tuple."""
    gm = fx.GraphModule(fx_gm, copy.deepcopy(fx_gm.graph))
    partitioner = CapabilityBasedPartitioner(gm, ProbedSupport(supported), allows_single_node_partition=True)
    partitions = [p for p in partitioner.propose_partitions() if _computes(p)]
    fuse_by_partitions(gm, [p.nodes for p in partitions], prefix=PREFIX, always_return_tuple=True)
    gm.recompile()
    names = [n.target for n in gm.graph.nodes if n.op == "call_module"]
    return Split(gm, names)


class DevicePartition(torch.nn.Module):
    """Stands in for a partition's submodule: calls its device program."""

    def __init__(self, name: str, program: Callable[[list[torch.Tensor]], list[torch.Tensor]]):
        super().__init__()
        self.name = name
        self.program = program

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.program(list(inputs)))


def place(split: Split, name: str, program: Callable[[list[torch.Tensor]], list[torch.Tensor]]) -> None:
    """Runs partition ``name`` through ``program`` (a device program) instead of on the CPU."""
    setattr(split.gm, name, DevicePartition(name, program))
