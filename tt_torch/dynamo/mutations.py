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

A KV cache's row needs no copy at all: :func:`name_cache_updates` names the written value
``update_cache`` when it is the row written into an input nothing else reads, the compiler
lowers it to ``ttnn.update_cache`` (the row written into the cache operand's buffer, which
the runtime holds as the caller's own tensor) and drops that output from the program; the
executor hands back None for it and :func:`write_back` skips it.
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
    name_cache_updates(gm, len(values))
    gm.recompile()
    return gm, written


def name_cache_updates(gm: fx.GraphModule, extra: int) -> int:
    """Renames each write of a KV cache's row that can happen in the caller's buffer
    ``update_cache`` (the compiler lowers a scatter of that name to ``ttnn.update_cache``).

    Of the last ``extra`` outputs (the written-back values), those that are
    ``index_put(cache, [None, None, position], new)`` with ``cache`` a graph input of rank 4
    that nothing else reads, ``position`` one element and ``new`` of the cache's shape but one
    along dim 2 (transformers' ``StaticCache`` update: ``index_copy_(2, cache_position, k)``),
    and that the graph returns only there. Returns how many."""
    outs = list(passes.output_nodes(gm))
    named = 0
    for value in outs[len(outs) - extra :]:
        if _is_cache_update(value) and outs.count(value) == 1:
            value._rename("update_cache")
            named += 1
    return named


def _is_cache_update(node: fx.Node) -> bool:
    if node.op != "call_function" or node.target is not aten.index_put.default:
        return False
    cache, indices, new = node.args[:3]
    accumulate = node.args[3] if len(node.args) > 3 else node.kwargs.get("accumulate", False)
    if accumulate or not isinstance(cache, fx.Node) or cache.op != "placeholder" or len(cache.users) != 1:
        return False
    if not isinstance(new, fx.Node) or not isinstance(indices, (list, tuple)) or len(indices) != 3:
        return False
    if indices[0] is not None or indices[1] is not None or not isinstance(indices[2], fx.Node):
        return False
    c, v, p = (n.meta.get("val") for n in (cache, new, indices[2]))
    if not all(isinstance(t, torch.Tensor) for t in (c, v, p)):
        return False
    if c.dim() != 4 or list(v.shape) != [c.shape[0], c.shape[1], 1, c.shape[3]] or v.dtype != c.dtype:
        return False
    return p.numel() == 1 and not p.dtype.is_floating_point and p.dtype != torch.bool


def _is_input_write(node: fx.Node, index: dict[fx.Node, int]) -> bool:
    return node.op == "call_function" and node.target is aten.copy_.default and node.args[0] in index and not node.users


def write_back(args: tuple, written: list[int], outs: list[torch.Tensor | None]) -> list[torch.Tensor]:
    """Copies the last ``len(written)`` outputs into ``args[written[k]]``; returns the model's outputs.
    A None output was written in the caller's buffer already (an in-place cache update). An output
    may come in the device's type (int32 for an int64 counter): the copy casts it."""
    if not written:
        return outs
    n = len(outs) - len(written)
    for k, value in zip(written, outs[n:]):
        if value is None:
            continue
        dst = args[k]
        if dst.requires_grad or value.requires_grad:  # a leaf written outside the graph's autograd
            with torch.no_grad():
                copy_into(dst, value)
        else:
            copy_into(dst, value)
    return outs[:n]


def copy_into(dst: torch.Tensor, src: torch.Tensor) -> None:
    """``dst.copy_(src)``, casting as it does. A large same-typed contiguous CPU pair is one serial
    memcpy: ATen would split its copy over the intra-op threads, and a parallel region costs more
    than it saves at a few hundred KB, the more so on a busy machine. Below ATen's grain size
    (a cache counter, a position) its copy is serial already and the cheapest call."""
    if (
        dst.numel() >= _PARALLEL_FROM
        and dst.device.type == src.device.type == "cpu"
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
    if dst.is_inference():  # made under torch.inference_mode(): written as that mode allows
        with torch.inference_mode():
            dst.copy_(src)
        return
    dst.copy_(src)


_NUMPY_TYPES = {torch.float32, torch.float64, torch.float16, torch.int64, torch.int32, torch.int16, torch.int8}
_PARALLEL_FROM = 32768  # elements: at::internal::GRAIN_SIZE, below which ATen's copy runs on one thread
