"""Shape buckets (``CompilerConfig.shape_buckets``): a few programs for many sizes of one dim.

The device runs static shapes, so every new size of a dynamic dim compiles a new
program. With ``shape_buckets={0: (1, 8, 32)}`` a call whose user inputs have size 5 in
dim 0 runs the program of size 8: the inputs are padded with zeros to 8 along that dim
and the outputs sliced back to 5.

That is only correct where the padded rows cannot change the real ones: ops that treat
the dim row by row (a batch dim through linears, convolutions, attention within each
sample, layer-norm). It cannot be decided cheaply in general, so the user names the dim
and the plan (:func:`plan`) refuses what it can see is unsafe, compiling exact sizes
instead: the dim must be dynamic in dynamo's graph (one symbol, say ``s0``: the sizes
dynamo compiles per value are not padded), it must appear only at the named dim of the
user inputs, every output must carry it as a dim of its own (there it is sliced), and no
op may reduce it away (a sum or mean over the batch). Ops that mix rows while keeping
the dim — softmax or cumsum over it, batch-norm statistics in training — are not seen:
do not name such a dim.
"""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass

import torch
import torch.fx as fx

from tt_torch.frontend import passes

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plan:
    """How to pad one graph's calls: which arguments, which dim, and how to slice the outputs."""

    dim: int
    buckets: tuple[int, ...]
    tensors: tuple[int, ...]  # positions of the user inputs padded along ``dim``
    sizes: tuple[int, ...]  # positions of int arguments that are that dim's size (dynamo's symbol)
    out_dims: tuple[tuple[int, ...], ...]  # per flat output: its dims of that size, sliced back

    def bucket(self, n: int) -> int | None:
        """The bucket a size ``n`` runs in: the smallest one at least ``n``; None above the largest."""
        k = bisect.bisect_left(self.buckets, n)
        return self.buckets[k] if k < len(self.buckets) else None

    def pad(self, args: tuple) -> tuple[tuple, int, int]:
        """``args`` padded up to their bucket, with the real size and the padded one."""
        n = args[self.tensors[0]].shape[self.dim]
        if any(args[k].shape[self.dim] != n for k in self.tensors):
            return args, n, n  # sizes that do not agree: dynamo's graph gets them as they are
        b = self.bucket(n)
        if b is None or b == n:
            return args, n, n
        padded = list(args)
        for k in self.tensors:
            t = args[k]
            shape = list(t.shape)
            shape[self.dim] = b - n
            padded[k] = torch.cat([t, t.new_zeros(shape)], dim=self.dim)
        for k in self.sizes:
            padded[k] = b
        return tuple(padded), n, b

    def unpad(self, outs: list[torch.Tensor], n: int) -> list[torch.Tensor]:
        """The outputs of a padded call, sliced back to the real size ``n``."""
        result = []
        for out, dims in zip(outs, self.out_dims):
            for d in dims:
                out = out.narrow(d, 0, n)
            result.append(out)
        return result


def _symbol(value) -> object | None:
    """The sympy symbol a dynamo size is, when it is exactly one symbol."""
    if isinstance(value, torch.SymInt):
        expr = value.node.expr
        return expr if getattr(expr, "is_Symbol", False) else None
    return None


def _free(value) -> set:
    if isinstance(value, torch.SymInt):
        return set(value.node.expr.free_symbols)
    if isinstance(value, torch.Tensor):
        return set().union(*(_free(s) for s in value.shape)) if value.dim() else set()
    if isinstance(value, (list, tuple)):
        return set().union(*(_free(v) for v in value)) if value else set()
    return set()


def plan(gm: fx.GraphModule, kinds: list[str], dim: int, buckets: tuple[int, ...]) -> Plan | str:
    """The padding plan of dynamo's graph ``gm``, or why it cannot be padded safely."""
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    values = [n.meta.get("example_value") for n in placeholders]
    inputs = [k for k, v in enumerate(values) if kinds[k] == "input" and isinstance(v, torch.Tensor)]
    symbol = next((_symbol(values[k].shape[dim]) for k in inputs if values[k].dim() > dim), None)
    if symbol is None:
        return f"dim {dim} of the inputs is static in dynamo's graph (each size compiles; dynamo makes it dynamic on a new size)"
    tensors, sizes = [], []
    for k, v in enumerate(values):
        if isinstance(v, torch.Tensor):
            at = [d for d, s in enumerate(v.shape) if symbol in _free(s)]
            if not at:
                continue
            if kinds[k] != "input" or at != [dim] or _symbol(v.shape[dim]) != symbol:
                return f"the size {symbol} also appears in dim(s) {at} of {placeholders[k].name}"
            tensors.append(k)
        elif symbol in _free(v):
            if _symbol(v) != symbol:
                return f"argument {placeholders[k].name} is computed from the size ({v})"
            sizes.append(k)
    for node in gm.graph.nodes:
        if node.op in ("call_function", "call_method", "call_module"):
            ins = _free([a.meta.get("example_value") for a in node.all_input_nodes])
            out = node.meta.get("example_value")
            if symbol in ins and out is not None and symbol not in _free(out) and isinstance(out, torch.Tensor):
                return f"op {node.name} ({node.target}) reduces dim {dim} away: padded rows would change its result"
    out_dims = []
    for node in passes.output_nodes(gm):
        out = node.meta.get("example_value") if isinstance(node, fx.Node) else None
        if not isinstance(out, torch.Tensor):
            return f"output {node} is not a tensor"
        dims = tuple(d for d, s in enumerate(out.shape) if _symbol(s) == symbol)
        if not dims or symbol in _free([s for d, s in enumerate(out.shape) if d not in dims]):
            return f"output {node.name} of shape {tuple(out.shape)} has no dim of size {symbol} to slice back"
        out_dims.append(dims)
    return Plan(dim, tuple(sorted(set(buckets))), tuple(tensors), tuple(sizes), tuple(out_dims))
