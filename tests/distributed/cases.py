"""The models the distributed tests run, and how: the same code builds them in the test process
(the one-process emulation, the reference) and in each rank (tests/distributed/worker.py)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from tests.multichip import models
from tests.multichip.models import BLOCK_PLAN, MLP_PLAN, Block
from tt_torch.dynamo.backend import BackendOptions
from tt_torch.runtime.mesh import MeshDevice
from tt_torch.tools.utils import CompilerConfig

MESH = (2, 4)  # t3k: 8 chips, 4 per process over 2 ranks, 2 per process over 4


class MLP(models.MLP):
    def __init__(self, d: int = 32, hidden: int = 128):
        super().__init__(d, hidden)


class TwoStages(nn.Module):
    def __init__(self, d: int = 32):
        super().__init__()
        self.first = MLP(d, 64)
        self.second = MLP(d, 64)

    def forward(self, x):
        h = self.first(x)
        return self.second(torch.tanh(h)) + h


PIPELINE_MAP = {"first": 0, "second": 1}
# the mesh a rank that is to be killed runs on: a short timeout, as a deployment might set it
LOOP_TIMEOUT_S, LOOP_HEARTBEAT_S = 10.0, 0.5


def _model(cls: type, shape: tuple[int, ...], seed: int) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(seed)
    model = cls().eval()
    return model, torch.randn(shape)


def _run(model: nn.Module, x: torch.Tensor, devices: list, **config) -> torch.Tensor:
    options = BackendOptions(compiler_config=CompilerConfig(**config), devices=devices)
    torch._dynamo.reset()
    with torch.no_grad():
        return torch.compile(model, backend="tt", options=options, dynamic=False)(x)


def tensor_parallel(cls: type, shape: tuple[int, ...], plan: dict, seed: int) -> Callable[[list], torch.Tensor]:
    model, x = _model(cls, shape, seed)
    return lambda devices: _run(model, x, devices, sharding_plan=plan)


CASES: dict[str, Callable[[list], torch.Tensor]] = {
    "mlp": tensor_parallel(MLP, (4, 8, 32), MLP_PLAN, 1),
    "block": tensor_parallel(Block, (2, 16, 64), BLOCK_PLAN, 2),
}


def pipeline(devices: list) -> torch.Tensor:
    model, x = _model(TwoStages, (4, 32), 3)
    return _run(model, x, devices, device_map=PIPELINE_MAP)


def data_parallel(shard: Callable[[torch.Tensor], torch.Tensor] | None = None, gather=None) -> torch.Tensor:
    """The MLP on one chip over a batch of 8; with ``shard``/``gather``, each rank takes its part."""
    model, x = _model(MLP, (8, 32), 4)
    out = _run(model, shard(x) if shard else x, [])
    return gather(out) if gather else out


def reference() -> dict[str, torch.Tensor]:
    """Every case in this one process: the whole mesh emulated here."""
    out = {case: run([MeshDevice("t3k", MESH)]) for case, run in CASES.items()}
    out["pipeline"] = pipeline([MeshDevice("n150", (1, 1)), MeshDevice("n150", (1, 1))])
    out["data_parallel"] = data_parallel()
    return out
