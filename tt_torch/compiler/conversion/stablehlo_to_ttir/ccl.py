"""StableHLO -> TTIR for a partitioned (SPMD) module: collectives and shard boundaries.

The module is one chip's program on the logical mesh in its function's ``tt.mesh_shape``
(``tt_torch.parallel``: ``[1, N]``). ``stablehlo.custom_call @SPMDFullToShardShape`` and
``@SPMDShardToFullShape`` become ``ttir.mesh_shard`` (the pieces per dim read off the
full and the shard shape, as tt-mlir does); ``stablehlo.all_reduce``, ``all_gather`` and
``reduce_scatter`` become the TTIR ops of the same name over the mesh axis whose lines
are their replica groups.
"""

from __future__ import annotations

import numpy as np
from torch_mlir import ir

from ...ir_helpers import shape_of
from ..rewrite import RewriteContext

_TARGETS = {"SPMDFullToShardShape": "full_to_shard", "SPMDShardToFullShape": "shard_to_full"}
_REDUCERS = {"stablehlo.add": "sum", "stablehlo.maximum": "max", "stablehlo.minimum": "min"}


def _mesh_shape(op: ir.Operation) -> list[int]:
    parent = op.parent
    while parent is not None and parent.name != "func.func":
        parent = parent.parent
    if parent is None or "tt.mesh_shape" not in parent.attributes:
        return [1, 1]
    return list(ir.DenseI64ArrayAttr(parent.attributes["tt.mesh_shape"]))


def _cluster_axis(cx: RewriteContext, op: ir.Operation) -> int:
    """The mesh axis whose lines are the op's replica groups."""
    rows, cols = _mesh_shape(op)
    attr = ir.DenseIntElementsAttr(op.attributes["replica_groups"])
    num_groups = ir.RankedTensorType(attr.type).shape[0]
    groups = np.array(attr).reshape(-1).tolist()
    size = len(groups) // num_groups
    lines = [groups[i : i + size] for i in range(0, len(groups), size)]
    if all(line == [r * cols + c for c in range(cols)] for r, line in enumerate(lines)) and len(lines) == rows:
        return 1
    if all(line == [r * cols + c for r in range(rows)] for c, line in enumerate(lines)) and len(lines) == cols:
        return 0
    raise cx.fail(f"replica groups {lines} are not the rows or the columns of the mesh {[rows, cols]}")


def custom_call(cx: RewriteContext, op):
    target = ir.StringAttr(op.attributes["call_target_name"]).value
    direction = _TARGETS.get(target)
    if direction is None:
        raise cx.fail(f"no StableHLO -> TTIR rule for custom_call @{target}")
    full, shard = shape_of(op.operands[0]), shape_of(op.results[0])
    if direction == "shard_to_full":
        full, shard = shard, full
    pieces = [f // s for f, s in zip(full, shard)]
    split = [d for d, p in enumerate(pieces) if p > 1]
    rows, cols = _mesh_shape(op)
    if not split:
        kind, dims = "replicate", [-1]
    elif len(split) == 1 and pieces[split[0]] == cols and rows == 1:
        kind, dims = "devices", [-1, split[0]]
    else:
        raise cx.fail(f"a shard of {full} into {shard} is not one dim split over the mesh {[rows, cols]}")
    return [
        cx.emit(
            "mesh_shard",
            op.operands[0],
            result=cx.result_type(),
            shard_type=kind,
            shard_direction=direction,
            shard_shape=pieces if split else [1],
            shard_dims=dims,
        )
    ]


def _reduce_type(cx: RewriteContext, op: ir.Operation) -> str:
    body = [o.operation.name for o in op.regions[0].blocks[0].operations]
    kind = _REDUCERS.get(body[0]) if len(body) == 2 else None
    if kind is None:
        raise cx.fail(f"the reduction {body} is not a sum, max or min")
    return kind


def _u32(value: int) -> ir.Attribute:
    return ir.IntegerAttr.get(ir.IntegerType.get_unsigned(32), value)


def all_reduce(cx: RewriteContext, op):
    return [
        cx.emit(
            "all_reduce",
            op.operands[0],
            result=cx.result_type(),
            reduce_type=_reduce_type(cx, op),
            cluster_axis=_u32(_cluster_axis(cx, op)),
        )
    ]


def all_gather(cx: RewriteContext, op):
    dim = ir.IntegerAttr(op.attributes["all_gather_dim"]).value
    return [
        cx.emit(
            "all_gather",
            op.operands[0],
            result=cx.result_type(),
            all_gather_dim=ir.IntegerAttr.get(ir.IntegerType.get_signed(32), dim),
            cluster_axis=_u32(_cluster_axis(cx, op)),
        )
    ]


def reduce_scatter(cx: RewriteContext, op):
    dim = ir.IntegerAttr(op.attributes["scatter_dimension"]).value
    return [
        cx.emit(
            "reduce_scatter",
            op.operands[0],
            result=cx.result_type(),
            reduce_type=_reduce_type(cx, op),
            scatter_dim=ir.IntegerAttr.get(ir.IntegerType.get_signed(32), dim),
            cluster_axis=_u32(_cluster_axis(cx, op)),
        )
    ]


RULES = {
    "stablehlo.custom_call": custom_call,
    "stablehlo.all_reduce": all_reduce,
    "stablehlo.all_gather": all_gather,
    "stablehlo.reduce_scatter": reduce_scatter,
}
