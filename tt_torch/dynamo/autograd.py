"""Gradients of a compiled graph: its forward on the device, its backward on the host.

The device programs compute values only. When a call needs gradients (grad mode is on
and an input or a parameter requires grad: ``model(x)`` on a model whose parameters
require grad, the most common call there is), the program's outputs are wrapped in an
autograd node whose backward recomputes dynamo's graph on the host with grad enabled
and takes its vector-Jacobian product at the same inputs: the gradients eager PyTorch
gives. Nothing is recomputed unless ``backward()`` is called; the node keeps references
to the call's inputs (no copies) until the outputs are freed. Under ``torch.no_grad()``
or ``torch.inference_mode()`` outputs are plain tensors, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.fx as fx
from torch.utils import _pytree as pytree


def needs_grad(args: tuple) -> bool:
    """Whether a call must return outputs that carry gradients back to ``args``."""
    return torch.is_grad_enabled() and any(isinstance(a, torch.Tensor) and a.requires_grad for a in args)


class _HostBackward(torch.autograd.Function):
    """forward: the compiled program's outputs; backward: the host graph's vector-Jacobian product."""

    @staticmethod
    def forward(ctx, run: Callable[[tuple], list[torch.Tensor]], gm: fx.GraphModule, *args: Any) -> tuple:
        ctx.gm = gm
        ctx.positions = [k for k, a in enumerate(args) if isinstance(a, torch.Tensor)]
        ctx.values = [None if isinstance(a, torch.Tensor) else a for a in args]
        ctx.save_for_backward(*(args[k] for k in ctx.positions))
        outs = run(args)
        non_float = [o for o in outs if isinstance(o, torch.Tensor) and not (o.is_floating_point() or o.is_complex())]
        ctx.mark_non_differentiable(*non_float)
        return tuple(outs)

    @staticmethod
    def backward(ctx, *grads: torch.Tensor | None) -> tuple:
        args = list(ctx.values)
        wanted = []
        for k, saved in zip(ctx.positions, ctx.saved_tensors):
            if saved.requires_grad:
                args[k] = saved.detach().requires_grad_(True)
                wanted.append(k)
            else:  # a buffer the graph may update in place (batch-norm statistics): left as it was
                args[k] = saved.detach().clone()
        with torch.enable_grad():
            outs = pytree.tree_flatten(ctx.gm(*args))[0]
        pairs = [
            (o, g) for o, g in zip(outs, grads) if g is not None and isinstance(o, torch.Tensor) and o.requires_grad
        ]
        result: list[torch.Tensor | None] = [None] * len(args)
        if pairs and wanted:
            found = torch.autograd.grad(
                [o for o, _ in pairs],
                [args[k] for k in wanted],
                [g for _, g in pairs],
                allow_unused=True,
                create_graph=torch.is_grad_enabled(),
            )
            for k, g in zip(wanted, found):
                result[k] = g
        return (None, None, *result)


def with_host_backward(
    run: Callable[[tuple], list[torch.Tensor]], gm: fx.GraphModule, args: tuple
) -> list[torch.Tensor]:
    """``run(args)``'s flat outputs, differentiable with respect to every ``args`` that requires grad."""
    return list(_HostBackward.apply(run, gm, *args))
