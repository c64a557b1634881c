"""``BackendOptions(devices=[...], data_parallel=True)``: one call, the batch split across the devices.

tt-torch's own data parallelism is one compiled model per device, called from host threads
(or with ``async_mode``); that works here as it is. This is the one-model form: every user
input is cut along dim 0 into as many shards as there are devices (``torch.tensor_split``:
sizes differ by one at most), each device runs the graph's program on its shard, all at
once on host threads, and each output is the devices' outputs concatenated along dim 0.

It is right only for a model that treats dim 0 row by row (a batch through linears,
convolutions, attention within each sample, layer-norm): a sum, mean or softmax over the
batch, or batch-norm statistics in training, would be computed per shard. Where dynamo made
dim 0 dynamic, :func:`tt_torch.dynamo.buckets.plan` refuses a graph that reduces it away or
uses its size elsewhere; every call checks that each output has the shard's rows in dim 0.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
import torch.fx as fx
from torch.utils import _pytree as pytree

from tt_torch.config import CompilerConfig
from tt_torch.errors import ConfigError
from tt_torch.frontend import passes
from tt_torch.runtime.mesh import runtime_device

from . import buckets
from .artifacts import CompileArtifacts
from .executor import Executor, classify_inputs


class DataParallelExecutor:
    """One :class:`Executor` per device over the same graph; a call runs a shard on each."""

    def __init__(
        self, gm: fx.GraphModule, config: CompilerConfig, devices: list, artifacts: CompileArtifacts | None, name: str
    ) -> None:
        self.name = name
        self.inputs = classify_inputs(gm)
        self.out_spec = pytree.tree_flatten(passes.output_structure(gm))[1]
        self.users = [k for k, info in enumerate(self.inputs) if info.kind == "input"]
        found = buckets.plan(gm, [info.kind for info in self.inputs], 0, (1,))
        if isinstance(found, str) and "static" not in found:
            raise ConfigError(
                f"graph {name}: data_parallel splits dim 0 of the inputs across the devices, but {found}. Use one "
                "compiled model per device instead (BackendOptions(devices=[device]) each), or data_parallel=False"
            )
        self.sizes = found.sizes if isinstance(found, buckets.Plan) else ()
        self.executors = [
            Executor(gm, config, artifacts, name=f"{name}_chip{k}", device=runtime_device(d))
            for k, d in enumerate(devices)
        ]
        self._pool = ThreadPoolExecutor(max_workers=len(devices), thread_name_prefix=f"tt-{name}")

    def __call__(self, *args: Any) -> Any:
        tensors = [k for k in self.users if isinstance(args[k], torch.Tensor) and args[k].dim() > 0]
        if not tensors:
            raise ConfigError(f"graph {self.name}: data_parallel needs a user input with a batch dim (dim 0)")
        batch = args[tensors[0]].shape[0]
        odd = [k for k in tensors if args[k].shape[0] != batch]
        if odd:
            shapes = ", ".join(f"{self.inputs[k].name} {tuple(args[k].shape)}" for k in tensors)
            raise ConfigError(
                f"graph {self.name}: data_parallel splits dim 0 of every input, but the inputs disagree on it ({shapes})"
            )
        n = min(len(self.executors), batch)
        pieces = {k: torch.tensor_split(args[k], n, dim=0) for k in tensors}
        grad = torch.is_grad_enabled()

        def shard(i: int) -> list[torch.Tensor]:
            part = list(args)
            for k in tensors:
                part[k] = pieces[k][i]
            for k in self.sizes:  # dynamo's size symbol of dim 0
                part[k] = pieces[tensors[0]][i].shape[0]
            with torch.set_grad_enabled(grad):  # grad mode is per thread
                return pytree.tree_flatten(self.executors[i](*part))[0]

        futures = [self._pool.submit(shard, i) for i in range(n)]
        results = [f.result() for f in futures]
        outs = []
        for j, parts in enumerate(zip(*results)):
            for i, p in enumerate(parts):
                rows = pieces[tensors[0]][i].shape[0]
                if p.dim() == 0 or p.shape[0] != rows:
                    raise ConfigError(
                        f"graph {self.name}: output {j} of device {i} has shape {tuple(p.shape)} for a shard of {rows} "
                        "rows: the model does not keep the batch in dim 0, so data_parallel cannot split it. Use one "
                        "compiled model per device (BackendOptions(devices=[device]) each) instead"
                    )
            outs.append(torch.cat(parts, dim=0))
        return pytree.tree_unflatten(outs, self.out_spec)

    def __del__(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=False)
