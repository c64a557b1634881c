"""Graph inputs the model writes in place (a static KV cache's ``index_copy_``): outputs written back.

Functionalization turns ``cache.index_copy_(2, pos, k)`` into a pure ``index_put`` and ends
the graph with ``copy_(cache, new_value)``, one per written input. The device program has
no way to write into a host tensor, and a ``copy_`` left in the graph would run on the CPU
in a partition of its own. :func:`lift_input_writes` removes those trailing ``copy_`` nodes
and returns each new value as an extra output of the program instead;
:func:`write_back` copies them into the caller's tensors after the call, so the
caller sees its buffers updated in place (same storage, same address) as in eager mode.

A static cache therefore compiles one program for every decode position: the position is
a tensor input (``cache_position`` / the cache's ``cumulative_length``), never a constant.
"""

from __future__ import annotations

import torch
import torch.fx as fx
from torch.autograd.graph import increment_version

from tt_torch.frontend import passes

aten = torch.ops.aten


def lift_input_writes(gm: fx.GraphModule) -> tuple[fx.GraphModule, list[int]]:
    """Each trailing ``copy_(placeholder, value)`` becomes an extra graph output.

    Returns the graph and, per extra output (in order, after the model's own), the
    index of the placeholder it is written back into.
    """
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    index = {n: k for k, n in enumerate(placeholders)}
    output = next(n for n in reversed(gm.graph.nodes) if n.op == "output")
    written: list[int] = []
    values: list[fx.Node] = []
    for node in list(gm.graph.nodes):
        if not _is_input_write(node, index):
            continue
        target, value = node.args[0], node.args[1]
        # functionalization writes copy(input, new) then copy_(input, that): the host copy_ does
        # copy's broadcast and cast itself
        if isinstance(value, fx.Node) and value.target is aten.copy.default and value.args[0] is target:
            value = value.args[1]
        if not isinstance(value, fx.Node) or not isinstance(value.meta.get("val"), torch.Tensor):
            continue  # a scalar written in: left to the graph
        written.append(index[target])
        values.append(value)
        gm.graph.erase_node(node)
    if not written:
        return gm, []
    outs = passes.output_nodes(gm)
    output.args = (list(outs) + values,)
    gm.graph.eliminate_dead_code()
    gm.recompile()
    return gm, written


def _is_input_write(node: fx.Node, index: dict[fx.Node, int]) -> bool:
    return node.op == "call_function" and node.target is aten.copy_.default and node.args[0] in index and not node.users


def write_back(args: tuple, written: list[int], outs: list[torch.Tensor]) -> list[torch.Tensor]:
    """Copies the last ``len(written)`` outputs into ``args[written[k]]``; returns the model's outputs."""
    if not written:
        return outs
    n = len(outs) - len(written)
    with torch.no_grad():
        for k, value in zip(written, outs[n:]):
            _copy_into(args[k], value)
    return outs[:n]


def _copy_into(dst: torch.Tensor, src: torch.Tensor) -> None:
    """``dst.copy_(src)``; a same-typed contiguous CPU pair as one serial memcpy. A KV cache is
    a few hundred KB: ATen would split its copy over the intra-op threads, and a parallel
    region costs more than it saves at that size, the more so on a busy machine."""
    if (
        dst.device.type == src.device.type == "cpu"
        and dst.dtype == src.dtype
        and dst.dtype in _NUMPY_TYPES
        and dst.shape == src.shape
        and dst.is_contiguous()
        and src.is_contiguous()
        and not dst.requires_grad
    ):
        dst.numpy()[...] = src.numpy()
        if not dst.is_inference():  # an inference tensor has no version counter
            increment_version(dst)  # as copy_ would: caches keyed on the version see the write
        return
    dst.copy_(src)


_NUMPY_TYPES = {torch.float32, torch.float64, torch.float16, torch.int64, torch.int32, torch.int16, torch.int8}
