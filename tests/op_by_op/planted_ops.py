"""Test-only ops that misbehave in the op-by-op worker (and only there).

They run normally in the test process (so the model and its CPU goldens
work) and crash or hang inside the worker, where their fake (shape) function
runs when the worker rebuilds the one-op graph. The worker finds this module
through the op's registration (``torch._library`` knows the defining module)
and the test process's ``sys.path``, which it inherits.
"""

from __future__ import annotations

import os
import time

import torch

from tt_torch.op_by_op import protocol


@torch.library.custom_op("tt_test::crash_in_worker", mutates_args=())
def crash_in_worker(x: torch.Tensor) -> torch.Tensor:
    return x * 2


@crash_in_worker.register_fake
def _(x):
    if protocol.IN_WORKER:
        print("planted op: aborting the worker", flush=True)
        os.abort()
    return torch.empty_like(x)


@torch.library.custom_op("tt_test::hang_in_worker", mutates_args=())
def hang_in_worker(x: torch.Tensor) -> torch.Tensor:
    return x + 3


@hang_in_worker.register_fake
def _(x):
    if protocol.IN_WORKER:
        time.sleep(3600)
    return torch.empty_like(x)


class PlantedModel(torch.nn.Module):
    """relu -> crash op -> hang op -> add: two good ops around two bad ones."""

    def forward(self, x):
        y = torch.relu(x)
        y = crash_in_worker(y)
        y = hang_in_worker(y)
        return y + x
