"""Pipeline stages on different ranks: ``CompilerConfig.device_map`` over :func:`stage_devices`.

Every rank compiles the same pipeline (tt_torch.dynamo.pipeline splits the graph the same
way everywhere) and walks its stages in the same order. A stage runs only on the rank of its
device; the values it produces are sent (``torch.distributed`` send/recv over the mesh's
group) to the ranks of the later stages that read them, and the graph's outputs to every
rank, so that the compiled model returns the same tensors on every rank.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import fx

from tt_torch.errors import ConfigError
from tt_torch.runtime.mesh import MeshDevice

from .mesh import DistributedMesh


class StageDevice(MeshDevice):
    """One chip of rank ``rank``'s sub-mesh, as an entry of ``BackendOptions.devices``."""

    def __init__(self, mesh: DistributedMesh, rank: int) -> None:
        super().__init__("n150" if mesh.arch == "wormhole_b0" else "p150", (1, 1))
        self.mesh = mesh
        self.rank = rank

    def run_stage(self, pipeline: Any, stage: Any, args: Sequence[Any]) -> list[Any]:
        """Runs ``stage`` here if this rank owns it and sends its values on; otherwise receives
        the values this rank needs from the owner (None for the others)."""
        transport = self.mesh.transport
        me = transport.rank
        readers = _readers(pipeline, stage)
        if self.rank == me:
            outs = list(stage.executor(*args))
            for node, value in zip(stage.outputs, outs):
                for r in readers[node]:
                    transport.send(node.name, value, r)
            return outs
        outs = []
        for node in stage.outputs:
            if me in readers[node]:
                shape, dtype = _meta(node)
                outs.append(transport.recv(node.name, shape, dtype, self.rank))
            else:
                outs.append(None)
        return outs

    def __repr__(self) -> str:
        return f"<StageDevice: a chip of rank {self.rank} of {self.mesh.world_size}>"


def stage_devices(mesh: DistributedMesh, ranks: Sequence[int] | None = None) -> list[StageDevice]:
    """``BackendOptions.devices`` for a pipeline whose device ``k`` is a chip of ``ranks[k]``
    (default: one device per rank, in rank order)."""
    ranks = list(range(mesh.world_size)) if ranks is None else list(ranks)
    bad = [r for r in ranks if not 0 <= r < mesh.world_size]
    if bad:
        raise ConfigError(f"stage_devices: ranks {bad} are not in the world of ranks 0..{mesh.world_size - 1}")
    return [StageDevice(mesh, r) for r in ranks]


def _readers(pipeline: Any, stage: Any) -> dict[fx.Node, list[int]]:
    """For each value ``stage`` produces: the other ranks that need it (later stages' owners
    that read it; every rank for a graph output)."""
    owner = pipeline.devices[stage.device_index].rank
    outputs = set(n for n in pipeline.out_nodes if isinstance(n, fx.Node))
    world = pipeline.devices[stage.device_index].mesh.world_size
    readers: dict[fx.Node, list[int]] = {}
    for node in stage.outputs:
        ranks = set(range(world)) if node in outputs else set()
        for later in pipeline.stages[stage.index + 1 :]:
            if node in later.inputs:
                ranks.add(pipeline.devices[later.device_index].rank)
        ranks.discard(owner)
        readers[node] = sorted(ranks)
    return readers


def _meta(node: fx.Node) -> tuple[torch.Size, torch.dtype]:
    val = node.meta.get("val", node.meta.get("example_value"))
    if not isinstance(val, torch.Tensor):
        raise ConfigError(
            f"pipeline value {node.name} is a {type(val).__name__}, not a tensor: only tensors cross ranks; "
            "move the stage boundary (CompilerConfig.device_map) so that tensors cross it"
        )
    try:
        shape = torch.Size(int(s) for s in val.shape)
    except (TypeError, RuntimeError):
        raise ConfigError(
            f"pipeline value {node.name} has a symbolic shape {tuple(val.shape)}: ranks exchange static "
            "shapes; compile with dynamic=False"
        ) from None
    return shape, val.dtype
