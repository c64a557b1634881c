"""The aten decompositions applied while tracing, before torch-mlir import.

Core ATen plus torch-mlir's own table, and tt-torch's rules for ops that
torch-mlir's StableHLO lowering does not take (batch-norm in eval mode).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch._decomp import core_aten_decompositions
from torch_mlir.extras.fx_decomp_util import get_decomposition_table

aten = torch.ops.aten


def _batch_norm_inference(x, weight, bias, running_mean, running_var, training, momentum, eps):
    if training:
        # Returning a wrong answer silently is worse than refusing.
        raise NotImplementedError(
            "batch_norm in training mode is not supported by tt-torch; call model.eval() before compiling"
        )
    shape = [1, -1] + [1] * (x.dim() - 2)
    scale = torch.rsqrt(running_var + eps)
    if weight is not None:
        scale = scale * weight
    y = (x - running_mean.reshape(shape)) * scale.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    empty = x.new_zeros((0,))
    return y, empty, empty


def _batch_norm_no_training(x, weight, bias, running_mean, running_var, momentum, eps):
    return _batch_norm_inference(x, weight, bias, running_mean, running_var, False, momentum, eps)


CUSTOM: dict[torch._ops.OpOverload, Callable] = {
    aten.native_batch_norm.default: _batch_norm_inference,
    aten._native_batch_norm_legit_no_training.default: _batch_norm_no_training,
}


def decomposition_table() -> dict:
    table = dict(core_aten_decompositions())
    table.update(get_decomposition_table())
    table.update(CUSTOM)
    return table
