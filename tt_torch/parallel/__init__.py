"""Tensor parallel: a sharding plan in PyTorch's vocabulary -> one SPMD program for a mesh.

``CompilerConfig(sharding_plan=...)`` (``plan``) names how parameters are split; the
FX graph is partitioned per chip with collectives (``partition``); its StableHLO carries
the sharding annotations and collectives as tt-mlir consumes them (``stablehlo``); the
compiler lowers them to TTIR/TTNN ``mesh_shard``, ``all_gather``, ``all_reduce`` and
``reduce_scatter``, and the runtime runs the program on every chip of an emulated mesh.
docs/tensor_parallel.md says what is supported and how the emulated collectives add.
"""

from __future__ import annotations

import torch.fx as fx

from .partition import Partitioned, partition, propagate_only
from .plan import Partial, Placement, Replicate, Shard, normalize

__all__ = ["Partial", "Partitioned", "Placement", "Replicate", "Shard", "partition_program"]


def partition_program(
    fx_gm: fx.GraphModule,
    arg_names: list[str],
    plan: dict,
    num_chips: int,
    state_names: list[str],
    consteval: tuple[fx.GraphModule, list[str]] | None = None,
) -> Partitioned:
    """The per-chip graph of a compiled graph.

    ``arg_names``: its placeholders' names (parameters by their module path,
    ``consteval_<k>`` for the k-th output of the consteval graph); ``state_names``: every
    parameter and buffer of the model, against which the plan is checked; ``consteval``:
    the consteval graph and the names of its inputs, through which a parameter's
    placement reaches the values computed from it (a transposed weight)."""
    params = normalize(plan, state_names)
    placements: dict[str, Placement] = dict(params)
    if consteval is not None:
        graph, names = consteval
        outs = propagate_only(graph, [params.get(name, Replicate()) for name in names], num_chips)
        placements.update({f"consteval_{k}": p for k, p in enumerate(outs)})
    return partition(fx_gm, [placements.get(name, Replicate()) for name in arg_names], num_chips)
