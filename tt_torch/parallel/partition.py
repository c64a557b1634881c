"""Tensor parallel in FX: a graph and its inputs' placements -> one SPMD graph per chip.

Every node of the post-pass aten graph gets a placement (``Replicate``, ``Shard(dim)``, or
``Partial``: a sum not yet reduced) from its inputs' by a small rule table (matmuls,
elementwise ops with broadcasting, reshapes, permutes, softmax, layer norm...). The graph
is rebuilt with every tensor at its *local* shape (a sharded dim divided by the chip
count) and with the collectives that make placements meet:

- a sharded program input is cut to the chip's shard (``mesh_shard``, full to shard);
- a ``Partial`` value that reaches anything but a linear op is summed over the chips
  (``all_reduce``): a column-parallel matmul followed by a row-parallel one costs one
  all_reduce, as in Megatron-LM;
- a sharded value that reaches an op with no rule for it, or a graph output, is gathered
  (``all_gather``): every output is replicated (whole on every chip).

An op without a rule is never wrong, only slower: its inputs are gathered and it runs
replicated. The collectives are FX nodes named ``tt_all_reduce``, ``tt_all_gather`` and
``tt_mesh_shard`` that stand in as ``aten.neg``, ``aten.cat`` and ``aten.slice`` (ops
torch-mlir lowers to one StableHLO op each); ``tt_torch.parallel.stablehlo`` finds them
by their location and writes the real StableHLO collectives and sharding annotations.
"""

from __future__ import annotations

import logging
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.fx as fx
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.fx.passes.fake_tensor_prop import FakeTensorProp

from .plan import Partial, Placement, Replicate, Shard

_LOG = logging.getLogger(__name__)
aten = torch.ops.aten

# names of the stand-in nodes; tt_torch.parallel.stablehlo matches locations on them
ALL_REDUCE, ALL_GATHER, MESH_SHARD = "tt_all_reduce", "tt_all_gather", "tt_mesh_shard"
R = Replicate()
P = Partial()


@dataclass
class Partitioned:
    """The per-chip graph and what the partitioning did."""

    gm: fx.GraphModule
    num_chips: int
    input_placements: list[Placement]  # per placeholder, as the program's inputs are cut
    collectives: dict[str, int] = field(default_factory=dict)  # kind -> count
    # why each collective is there: "all_reduce of mm_3 for add_3" (a graph output: "for the output")
    reasons: list[str] = field(default_factory=list)


def local_shape(shape: list[int] | tuple[int, ...], placement: Placement, n: int) -> list[int]:
    out = list(shape)
    if isinstance(placement, Shard):
        out[placement.dim] //= n
    return out


def _val(node) -> torch.Tensor | None:
    v = node.meta.get("val") if isinstance(node, fx.Node) else None
    return v if isinstance(v, torch.Tensor) else None


def _shape(node) -> list[int]:
    return list(_val(node).shape)


def reshape_placement(src: list[int], dst: list[int], s: Shard, n: int) -> Shard | None:
    """Where a shard of ``src`` lands when the tensor is reshaped to ``dst``, or None when the
    chips' pieces are not pieces of one dim of ``dst``.

    Flattened, a shard of dim d (size m, outer o) is the middle factor of
    ``[prefix * o, m / o, suffix]`` cut in n pieces; dim e of dst holds it when its prefix
    divides ``prefix * o`` and the rest of the middle factor, a multiple of n, lies in e."""
    x = math.prod(src[: s.dim]) * s.outer
    for e, m in enumerate(dst):
        pe = math.prod(dst[:e])
        if x % pe or (x // pe) == 0 or m % (x // pe):
            continue
        outer = x // pe
        if (
            (m // outer) % n == 0
            and m // outer > 0
            and (m // outer) * math.prod(dst[e + 1 :]) == (src[s.dim] // s.outer) * math.prod(src[s.dim + 1 :])
        ):
            return Shard(e, outer)
    return None


# --- the rule table: (node, input placements) -> (placement each tensor input must have,
# output placement), or None: the op runs replicated ---------------------------------------

Decision = tuple[list[Placement], Placement] | None
Rule = Callable[[fx.Node, list[Placement], int], Decision]


def _tensor_args(node: fx.Node) -> list[fx.Node]:
    return [a for a in _flat_args(node) if isinstance(a, fx.Node) and _val(a) is not None]


def _flat_args(node: fx.Node) -> list:
    out = []
    for a in list(node.args) + list(node.kwargs.values()):
        out.extend(a if isinstance(a, (list, tuple)) else [a])
    return out


def _elementwise(node: fx.Node, ins: list[Placement], n: int) -> Decision:
    args = _tensor_args(node)
    out_rank = len(_shape(node))
    out_shape = _shape(node)
    if any(isinstance(p, Partial) for p in ins):
        linear = node.target in (aten.mul.Tensor, aten.div.Tensor) and len(args) == 1
        linear |= node.target in (aten.add.Tensor, aten.sub.Tensor) and all(isinstance(p, Partial) for p in ins)
        linear |= node.target in (aten.neg.default, aten.clone.default) and len(args) == 1
        if linear:
            return list(ins), P
        ins = [R if isinstance(p, Partial) else p for p in ins]
    shard = None
    for a, p in zip(args, ins):
        if isinstance(p, Shard):
            here = Shard(p.dim + out_rank - len(_shape(a)), p.outer)
            if shard is not None and shard != here:
                return None
            shard = here
    if shard is None:
        return [R] * len(args), R
    need = []
    for a, p in zip(args, ins):
        k = shard.dim - (out_rank - len(_shape(a)))
        if isinstance(p, Shard):
            need.append(p)
        elif k < 0 or _shape(a)[k] == 1:
            need.append(R)  # broadcast along the sharded dim: every chip needs all of it
        else:
            return None  # a replicated operand along a sharded dim
    if out_shape[shard.dim] % n:
        return None
    return need, shard


def _reshape(node: fx.Node, ins: list[Placement], n: int) -> Decision:
    (p,) = ins[:1]
    if not isinstance(p, Shard):
        return [p], p
    out = reshape_placement(_shape(node.args[0]), _shape(node), p, n)
    return ([p], out) if out is not None else None


def _permute(node: fx.Node, ins: list[Placement], n: int) -> Decision:
    p = ins[0]
    if not isinstance(p, Shard):
        return [p], p
    rank = len(_shape(node))
    if node.target == aten.permute.default:
        dims = [d % rank for d in node.args[1]]
    elif node.target == aten.t.default:
        dims = [1, 0] if rank == 2 else [0]
    else:
        a, b = (d % rank for d in node.args[1:3])
        dims = list(range(rank))
        dims[a], dims[b] = dims[b], dims[a]
    return [p], Shard(dims.index(p.dim), p.outer)


def _expand(node: fx.Node, ins: list[Placement], n: int) -> Decision:
    p = ins[0]
    if isinstance(p, Partial):
        return None
    if not isinstance(p, Shard):
        return [p], p
    extra = len(_shape(node)) - len(_shape(node.args[0]))
    return [p], Shard(p.dim + extra, p.outer)


def _matmul_rule(table: dict[tuple, Placement]) -> Rule:
    def rule(node: fx.Node, ins: list[Placement], n: int) -> Decision:
        key = tuple(_key(p) for p in ins[:2])
        out = table.get(key)
        if out is None:
            a, b = ins[:2]
            # batch-sharded operands (a merged batch x heads dim): the batch dim stays sharded
            if isinstance(a, Shard) and a == b and a.dim == 0 and node.target == aten.bmm.default:
                return [a, b], a
            if isinstance(a, Shard) and a.dim == 0 and isinstance(b, Replicate):
                return [a, b], a
            return None
        return list(ins[:2]), out

    return rule


def _key(p: Placement) -> tuple:
    if isinstance(p, Shard):
        return ("S", p.dim) if p.outer == 1 else ("S", p.dim, p.outer)
    return ("P",) if isinstance(p, Partial) else ("R",)


_MM = {(("R",), ("S", 1)): Shard(1), (("S", 1), ("S", 0)): P, (("R",), ("R",)): R}
_BMM = {
    (("R",), ("S", 2)): Shard(2),
    (("S", 2), ("S", 1)): P,
    (("S", 1), ("R",)): Shard(1),
    (("R",), ("R",)): R,
}


def _softmax(node: fx.Node, ins: list[Placement], n: int) -> Decision:
    p = ins[0]
    dim = node.args[1] % len(_shape(node))
    if isinstance(p, Shard) and p.dim != dim:
        return [p], p
    return None if not isinstance(p, Replicate) else ([p], p)


def _layer_norm(node: fx.Node, ins: list[Placement], n: int) -> Decision:
    p = ins[0]
    rank = len(_shape(node.args[0]))
    normalized = len(node.args[1])
    if isinstance(p, Shard) and p.dim < rank - normalized and all(isinstance(q, Replicate) for q in ins[1:]):
        return [p, *ins[1:]], p
    return None


def _reduction(node: fx.Node, ins: list[Placement], n: int) -> Decision:
    p = ins[0]
    if not isinstance(p, Shard):
        return None if isinstance(p, Partial) else ([p], p)
    rank = len(_shape(node.args[0]))
    dims = node.args[1] if len(node.args) > 1 else None
    dims = [dims] if isinstance(dims, int) else list(dims or range(rank))
    dims = [d % rank for d in dims]
    keep = bool(node.args[2]) if len(node.args) > 2 else bool(node.kwargs.get("keepdim", False))
    if p.dim in dims:
        return None
    shift = 0 if keep else sum(1 for d in dims if d < p.dim)
    return [p], Shard(p.dim - shift, p.outer)


def _sdpa(node: fx.Node, ins: list[Placement], n: int) -> Decision:
    heads = [p for p in ins[:3]]
    if all(isinstance(p, Shard) and p.dim == 1 and p.outer == 1 for p in heads) and all(
        isinstance(p, Replicate) for p in ins[3:]
    ):
        return list(ins), heads[0]
    return None


_ELEMENTWISE = {
    aten.add.Tensor,
    aten.sub.Tensor,
    aten.mul.Tensor,
    aten.div.Tensor,
    aten.where.self,
    aten.gelu.default,
    aten.relu.default,
    aten.silu.default,
    aten.tanh.default,
    aten.sigmoid.default,
    aten.exp.default,
    aten.neg.default,
    aten.rsqrt.default,
    aten.sqrt.default,
    aten.pow.Tensor_Scalar,
    aten.eq.Scalar,
    aten.ne.Scalar,
    aten.logical_not.default,
    aten.logical_and.default,
    aten.logical_or.default,
    aten.clone.default,
    aten._to_copy.default,
    aten.erf.default,
    torch.ops.prims.convert_element_type.default,
}
RULES: dict[object, Rule] = {op: _elementwise for op in _ELEMENTWISE}
RULES.update(
    {
        aten.view.default: _reshape,
        aten._unsafe_view.default: _reshape,
        aten.reshape.default: _reshape,
        aten.unsqueeze.default: _reshape,
        aten.squeeze.dim: _reshape,
        aten.permute.default: _permute,
        aten.transpose.int: _permute,
        aten.t.default: _permute,
        aten.expand.default: _expand,
        aten.mm.default: _matmul_rule(_MM),
        aten.bmm.default: _matmul_rule(_BMM),
        aten._softmax.default: _softmax,
        aten.native_layer_norm.default: _layer_norm,
        aten.sum.dim_IntList: _reduction,
        aten.mean.dim: _reduction,
        aten.amax.default: _reduction,
        aten.any.dim: _reduction,
        aten.scaled_dot_product_attention.default: _sdpa,
    }
)
# ops with a shape argument (args[1]) that must become the local shape
_SHAPED = {aten.view.default, aten._unsafe_view.default, aten.reshape.default, aten.expand.default}


def propagate_only(gm: fx.GraphModule, inputs: list[Placement], n: int) -> list[Placement]:
    """The placements of ``gm``'s outputs given its inputs', without collectives: for a graph
    that runs on the host with whole tensors (the consteval graph), where a placement is
    only the choice of how its results are cut. An output no rule reaches is replicated."""
    env: dict[fx.Node, Placement] = {}
    placeholders = iter(inputs)
    outs: list[Placement] = []
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            env[node] = next(placeholders, R)
        elif node.op == "call_function":
            if node.target is operator.getitem:
                env[node] = env.get(node.args[0], R)
                continue
            args = _tensor_args(node)
            ins = [env.get(a, R) for a in args]
            rule = RULES.get(node.target)
            decision = rule(node, ins, n) if rule is not None and args else None
            env[node] = decision[1] if decision is not None else R
        elif node.op == "output":
            outs = [env.get(a, R) if isinstance(a, fx.Node) else R for a in node.args[0]]
    return [p if not isinstance(p, Partial) else R for p in outs]


class _Builder:
    def __init__(self, gm: fx.GraphModule, n: int):
        self.n = n
        self.graph = fx.Graph()
        self.env: dict[fx.Node, tuple[fx.Node, Placement]] = {}
        self.reasons: list[str] = []
        self.inputs: dict[fx.Node, fx.Node] = {}  # program input -> its whole (unsharded) value
        self.whole: dict[fx.Node, fx.Node] = {}  # value -> its replicated form, made once

    # -- collectives -------------------------------------------------------------------
    def _marker(self, kind: str, target, args: tuple, like: fx.Node) -> fx.Node:
        node = self.graph.create_node("call_function", target, args, {}, name=kind)
        if "stack_trace" in like.meta:
            node.meta["stack_trace"] = like.meta["stack_trace"]
        return node

    def to_replicate(self, new: fx.Node, p: Placement, old: fx.Node, user: str) -> fx.Node:
        if isinstance(p, Replicate):
            return new
        if old in self.inputs:  # a program input: its whole value is on the host, nothing to gather
            return self.inputs[old]
        if old not in self.whole:
            self.whole[old] = self._replicate(new, p, old, user)
        return self.whole[old]

    def _replicate(self, new: fx.Node, p: Placement, old: fx.Node, user: str) -> fx.Node:
        kind = "all_reduce" if isinstance(p, Partial) else "all_gather"
        self.reasons.append(f"{kind} of {old.name} ({p!r}) for {user}")
        if isinstance(p, Partial):
            return self._marker(ALL_REDUCE, aten.neg.default, (new,), old)
        shape = _shape(old)
        if p.outer == 1:
            return self._marker(ALL_GATHER, aten.cat.default, ([new] * self.n, p.dim), old)
        # a dim read as [outer, rest]: gather the rest, then merge back
        local = local_shape(shape, p, self.n)
        split = local[: p.dim] + [p.outer, local[p.dim] // p.outer] + local[p.dim + 1 :]
        v = self.graph.call_function(aten.view.default, (new, split))
        g = self._marker(ALL_GATHER, aten.cat.default, ([v] * self.n, p.dim + 1), old)
        return self.graph.call_function(aten.view.default, (g, shape))

    # -- nodes -------------------------------------------------------------------------
    def placeholder(self, node: fx.Node, p: Placement) -> None:
        new = self.graph.placeholder(node.name)
        new.meta.update({k: v for k, v in node.meta.items() if k not in ("tensor_meta",)})
        self.inputs[node] = new
        if isinstance(p, Shard) and p.outer == 1 and _val(node) is not None:
            size = _shape(node)[p.dim] // self.n
            shard = self._marker(MESH_SHARD, aten.slice.Tensor, (new, p.dim, 0, size), node)
            self.env[node] = (shard, p)
        else:
            self.env[node] = (new, R)

    def call(self, node: fx.Node) -> None:
        if node.target is operator.getitem:
            src, p = self.env[node.args[0]]
            self.env[node] = (self._copy(node, (src, *node.args[1:])), p)
            return
        args = _tensor_args(node)
        ins = [self.env[a][1] for a in args]
        rule = RULES.get(node.target)
        decision = rule(node, ins, self.n) if rule is not None and args else None
        if decision is None or any(
            not (have == need or isinstance(need, Replicate)) for have, need in zip(ins, decision[0])
        ):
            decision = ([R] * len(args), R)
        need, out = decision
        mapped: dict[fx.Node, fx.Node] = {}
        for a, have, want in zip(args, ins, need):
            new = self.env[a][0]
            mapped[a] = self.to_replicate(new, have, a, f"{node.name} ({node.target})") if have != want else new
        new_args = fx.node.map_arg(node.args, lambda a: mapped.get(a, self.env[a][0]))
        new_kwargs = fx.node.map_arg(node.kwargs, lambda a: mapped.get(a, self.env[a][0]))
        if node.target in _SHAPED and isinstance(out, Shard):
            new_args = (new_args[0], local_shape(_shape(node), out, self.n), *new_args[2:])
        # a partial sum is not the node's value: renamed, so that no golden of the node is
        # compared with it (intermediate verification, the CLI's per-op table)
        name = f"{node.name}_partial" if isinstance(out, Partial) else node.name
        self.env[node] = (self._copy(node, new_args, new_kwargs, name), out)

    def _copy(self, node: fx.Node, args: tuple, kwargs: dict | None = None, name: str | None = None) -> fx.Node:
        new = self.graph.create_node(node.op, node.target, args, kwargs or {}, name=name or node.name)
        new.meta.update({k: v for k, v in node.meta.items() if k not in ("val", "tensor_meta")})
        return new

    def output(self, node: fx.Node) -> None:
        outs = []
        for a in node.args[0]:
            if isinstance(a, fx.Node):
                new, p = self.env[a]
                outs.append(self.to_replicate(new, p, a, "the output"))
            else:
                outs.append(a)
        self.graph.output(outs)


def partition(gm: fx.GraphModule, placements: list[Placement], num_chips: int) -> Partitioned:
    """The SPMD graph of ``gm`` for ``num_chips`` chips; ``placements``: per placeholder
    (program input), how it is cut (a ``Shard`` of a dim the chip count does not divide is
    replicated instead)."""
    b = _Builder(gm, num_chips)
    inputs: list[Placement] = []
    fakes = []
    mode = FakeTensorMode(allow_non_fake_inputs=True)
    ph = iter(placements)
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            p = next(ph, R)
            val = _val(node)
            if isinstance(p, Shard) and (val is None or p.dim >= val.dim() or val.shape[p.dim] % num_chips):
                _LOG.warning("%s: %r does not divide over %d chips; replicated", node.name, p, num_chips)
                p = R
            if isinstance(p, Shard):
                p = Shard(p.dim % val.dim())
            inputs.append(p)
            b.placeholder(node, p)
            fakes.append(mode.from_tensor(val) if val is not None else node.meta.get("val"))
        elif node.op == "call_function":
            b.call(node)
        elif node.op == "output":
            b.output(node)
    b.graph.eliminate_dead_code()  # a shard no op reads (its input was wanted whole)
    counts: dict[str, int] = {}
    live_shards = set()
    for node in b.graph.nodes:
        for kind in (ALL_REDUCE, ALL_GATHER, MESH_SHARD):
            if node.op == "call_function" and (node.name == kind or node.name.startswith(kind + "_")):
                counts[kind.removeprefix("tt_")] = counts.get(kind.removeprefix("tt_"), 0) + 1
                if kind == MESH_SHARD:
                    live_shards.add(node.args[0])
    placeholders = [n for n in b.graph.nodes if n.op == "placeholder"]
    inputs = [p if isinstance(p, Replicate) or ph in live_shards else R for p, ph in zip(inputs, placeholders)]
    out = fx.GraphModule(gm, b.graph)
    FakeTensorProp(out, mode).propagate(*fakes)
    return Partitioned(out, num_chips, inputs, counts, b.reasons)
