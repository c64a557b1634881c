"""A mesh of emulated chips spanning processes and hosts, on ``torch.distributed``.

    mesh = tt_torch.distributed.init_mesh((2, 4))       # every rank, started by torchrun
    options = BackendOptions(compiler_config=CompilerConfig(sharding_plan=plan), devices=[mesh])
    out = torch.compile(model, backend="tt", options=options)(x)   # the same on every rank

Tensor parallel: one SPMD program, each rank runs its chips, the collectives that cross
processes go through torch.distributed (reduced here in the runtime's fixed ring order, so the
bits do not depend on the split). Pipeline parallel: ``devices=stage_devices(mesh)`` with a
``device_map``; stages exchange activations with send/recv. Data parallel: ``shard_batch`` /
``gather_batch``. See docs/distributed.md.
"""

from .mesh import DistributedMesh, init_mesh
from .pipeline import StageDevice, stage_devices
from .transport import CommStats, DistributedError

__all__ = ["CommStats", "DistributedError", "DistributedMesh", "StageDevice", "init_mesh", "stage_devices"]
