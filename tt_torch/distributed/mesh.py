"""A mesh of emulated chips spread over the processes of a ``torch.distributed`` world.

Rank ``r`` of ``W`` owns chips ``[r * C / W, (r + 1) * C / W)`` of a ``C``-chip mesh (row-major
chip ids, contiguous blocks in rank order): its sub-mesh. Every rank compiles the same model
for the whole mesh and runs the same SPMD program; the runtime runs the ops of this rank's
chips only, and the collectives whose participants sit in other processes call back into
:class:`~tt_torch.distributed.transport.Transport`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

import torch
import torch.distributed as dist

from tt_torch.errors import ConfigError
from tt_torch.runtime import core
from tt_torch.runtime.core import Device
from tt_torch.runtime.mesh import MeshDevice

from .transport import CommStats, Transport

_LOG = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 60.0


class DistributedMesh(MeshDevice):
    """The global mesh as this rank sees it; pass it in ``BackendOptions(devices=[mesh])``.

    ``mesh_shape`` and ``chip_ids`` are the whole mesh's (the compiler partitions for all of
    it); ``first_chip`` and ``local_chips`` are this rank's sub-mesh.
    """

    def __init__(self, system: str, mesh_shape: Sequence[int], transport: Transport, local_rank: int) -> None:
        super().__init__(system, mesh_shape)
        self.transport = transport
        self.rank = transport.rank
        self.world_size = transport.world_size
        self.local_rank = local_rank
        self.local_chips = self.num_devices // self.world_size
        self.first_chip = self.rank * self.local_chips

    @property
    def stats(self) -> CommStats:
        """This rank's traffic with the others since the last :meth:`reset_stats`."""
        return self.transport.stats

    def reset_stats(self) -> None:
        self.transport.stats = CommStats()

    def runtime_device(self) -> Device:
        """The whole mesh's runtime device, set to run this rank's chips only."""
        device = super().runtime_device()
        device.set_mesh_transport(self.first_chip, self.local_chips, self.transport.exchange)
        return device

    # -- data parallel ------------------------------------------------------------------------

    def shard_batch(self, x: torch.Tensor, dim: int = 0) -> torch.Tensor:
        """This rank's part of a batch every rank holds whole (equal parts, in rank order)."""
        if x.shape[dim] % self.world_size:
            raise ConfigError(
                f"shard_batch: dim {dim} of size {x.shape[dim]} does not split over {self.world_size} ranks; "
                f"use a batch that is a multiple of {self.world_size}"
            )
        return x.chunk(self.world_size, dim)[self.rank].contiguous()

    def gather_batch(self, y: torch.Tensor, dim: int = 0) -> torch.Tensor:
        """Every rank's part of a result, concatenated in rank order (the inverse of shard_batch)."""
        parts = self.transport.exchange("gather_batch", [y])
        return torch.cat(parts, dim)

    def close(self) -> None:
        """Stops the heartbeat and closes the runtime device; the process group stays."""
        self.transport.close()
        super().close()

    def __repr__(self) -> str:
        last = self.first_chip + self.local_chips - 1
        return (
            f"<DistributedMesh {self.system} {list(self.mesh_shape)}: rank {self.rank} of {self.world_size} "
            f"runs chips {self.first_chip}..{last}>"
        )


def _system_for(mesh_shape: tuple[int, int], arch: str | None) -> str:
    for (a, shape), name in core._MESHES.items():
        if shape == mesh_shape and (arch is None or a == arch):
            return name
    known = ", ".join(f"{list(m)} ({n})" for (_, m), n in core._MESHES.items())
    raise ConfigError(f"init_mesh: no emulated system has a {list(mesh_shape)} mesh; known: {known}")


def init_mesh(
    mesh_shape: Sequence[int],
    *,
    arch: str | None = None,
    backend: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    heartbeat_s: float = 0.5,
) -> DistributedMesh:
    """The global mesh of ``mesh_shape`` chips over ``torch.distributed``'s world; this rank
    owns an equal block of it.

    Initializes the default process group from the environment ``torchrun`` sets (gloo on
    CPU; NCCL when CUDA is there) unless the caller already did, and makes a group of every
    rank whose operations time out after ``timeout_s``: a rank that dies or hangs makes the
    others fail within about ``timeout_s + 3 * heartbeat_s``, naming it and the op. Every
    rank must call this, with the same arguments.
    """
    shape = (int(mesh_shape[0]), int(mesh_shape[1])) if len(mesh_shape) == 2 else None
    if shape is None or min(shape) < 1:
        raise ConfigError(f"init_mesh: mesh_shape must be two integers >= 1, got {list(mesh_shape)}")
    system = _system_for(shape, arch)
    timeout = timedelta(seconds=timeout_s)
    if not dist.is_initialized():
        if backend is None:
            backend = "nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"
        dist.init_process_group(backend, timeout=timeout)
    rank, world = dist.get_rank(), dist.get_world_size()
    chips = shape[0] * shape[1]
    if chips % world:
        raise ConfigError(
            f"init_mesh: a {list(shape)} mesh has {chips} chips, which do not split evenly over {world} processes; "
            f"start a number of processes that divides {chips}"
        )
    group_backend = backend or dist.get_backend()
    group = dist.new_group(backend=group_backend, timeout=timeout)
    local_rank = dist.get_node_local_rank(fallback_rank=rank)
    device = torch.device("cuda", local_rank) if group_backend == "nccl" else None
    transport = Transport(group, rank, world, timeout_s, heartbeat_s, device)
    mesh = DistributedMesh(system, shape, transport, local_rank)
    _LOG.info("%r (backend %s, timeout %g s)", mesh, group_backend, timeout_s)
    return mesh
