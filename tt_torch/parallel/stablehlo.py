"""The SPMD graph's StableHLO, as tt-mlir consumes a partitioned module.

torch-mlir imports the per-chip graph of ``tt_torch.parallel.partition`` with its
collectives as stand-in ops (located at the ``tt_*`` FX nodes). :func:`annotate` writes
the real thing, as GSPMD / Shardy leave a module after partitioning:

- ``mhlo.num_partitions = N`` on the module and ``tt.mesh_shape = [1, N]`` on the
  function (the logical mesh: N chips on one line, every collective over mesh axis 1);
- ``mhlo.sharding`` on every argument (``{devices=[1,N]<=[N]}`` style: pieces per dim)
  and ``{replicated}`` on every result;
- a sharded argument enters through ``stablehlo.custom_call @SPMDFullToShardShape`` and
  every result leaves through ``@SPMDShardToFullShape`` (tt-mlir's StableHLO -> TTIR
  makes ``ttir.mesh_shard`` of both);
- ``stablehlo.all_reduce`` (sum) and ``stablehlo.all_gather`` over replica group
  ``[[0 .. N-1]]`` with global device ids.
"""

from __future__ import annotations

from torch_mlir import ir

from tt_torch import composite
from tt_torch.errors import CompileError

from .partition import ALL_GATHER, ALL_REDUCE, MESH_SHARD, Partitioned
from .plan import Shard

MESH_SHAPE_ATTR = "tt.mesh_shape"  # as tt_torch.compiler.target.flatbuffer reads it
FULL_TO_SHARD = "SPMDFullToShardShape"
SHARD_TO_FULL = "SPMDShardToFullShape"


def gspmd_sharding(rank: int, placement, n: int) -> str:
    """GSPMD's sharding string of a tensor of ``rank`` dims: ``{replicated}`` or the pieces per dim."""
    if not isinstance(placement, Shard):
        return "{replicated}"
    tiles = [1] * rank
    tiles[placement.dim] = n
    return "{devices=[" + ",".join(map(str, tiles)) + f"]<=[{n}]}}"


def _kind(op: ir.Operation) -> str | None:
    name = composite.node_of_location(op.location) or ""
    for kind in (ALL_REDUCE, ALL_GATHER, MESH_SHARD):
        if name == kind or name.startswith(kind + "_"):
            return kind
    return None


def _replica_groups(n: int) -> ir.Attribute:
    ids = ", ".join(map(str, range(n)))
    return ir.Attribute.parse(f"dense<[[{ids}]]> : tensor<1x{n}xi64>")


def _collective_attrs(n: int, handle: int) -> dict[str, ir.Attribute]:
    return {
        "replica_groups": _replica_groups(n),
        "channel_handle": ir.Attribute.parse(f"#stablehlo.channel_handle<handle = {handle}, type = 1>"),
        "use_global_device_ids": ir.UnitAttr.get(),
    }


def _all_reduce(op: ir.Operation, n: int, handle: int) -> ir.Operation:
    t = op.results[0].type
    new = ir.Operation.create(
        "stablehlo.all_reduce",
        results=[t],
        operands=[op.operands[0]],
        attributes=_collective_attrs(n, handle),
        regions=1,
        loc=op.location,
    )
    scalar = ir.RankedTensorType.get([], ir.RankedTensorType(t).element_type)
    block = new.regions[0].blocks.append(scalar, scalar)
    with ir.InsertionPoint(block):
        add = ir.Operation.create("stablehlo.add", results=[scalar], operands=list(block.arguments), loc=op.location)
        ir.Operation.create("stablehlo.return", operands=[add.results[0]], loc=op.location)
    return new


def _all_gather(op: ir.Operation, n: int, handle: int) -> ir.Operation:
    attrs = _collective_attrs(n, handle)
    attrs["all_gather_dim"] = ir.IntegerAttr.get(ir.IntegerType.get_signless(64), _dim(op))
    return ir.Operation.create(
        "stablehlo.all_gather",
        results=[op.results[0].type],
        operands=[op.operands[0]],
        attributes=attrs,
        loc=op.location,
    )


def _dim(op: ir.Operation) -> int:
    return ir.IntegerAttr(op.attributes["dimension"]).value


def _custom_call(target: str, value: ir.Value, result: ir.Type, sharding: str, loc: ir.Location) -> ir.Operation:
    return ir.Operation.create(
        "stablehlo.custom_call",
        results=[result],
        operands=[value],
        attributes={
            "call_target_name": ir.StringAttr.get(target),
            "mhlo.sharding": ir.StringAttr.get(sharding),
        },
        loc=loc,
    )


def annotate(module: ir.Module, part: Partitioned) -> dict[str, int]:
    """Rewrites the stand-ins of ``module`` (torch-mlir's import of ``part.gm``) into StableHLO
    collectives and sharding annotations; returns how many of each it wrote."""
    n = part.num_chips
    counts = {"all_reduce": 0, "all_gather": 0, "mesh_shard": 0}
    with module.context, ir.Location.unknown(module.context):
        module.operation.attributes["mhlo.num_partitions"] = ir.IntegerAttr.get(ir.IntegerType.get_signless(32), n)
        module.operation.attributes["mhlo.num_replicas"] = ir.IntegerAttr.get(ir.IntegerType.get_signless(32), 1)
        funcs = [op for op in module.body.operations if op.operation.name == "func.func"]
        if len(funcs) != 1:
            raise CompileError(f"a tensor-parallel module has one function, got {len(funcs)}")
        func = funcs[0].operation
        func.attributes[MESH_SHAPE_ATTR] = ir.DenseI64ArrayAttr.get([1, n])
        block = func.regions[0].blocks[0]
        _annotate_arguments(func, block, part)
        handle = 1
        for op in list(block.operations):
            op = op.operation
            kind = _kind(op)
            if kind is None:
                continue
            with ir.InsertionPoint(op):
                if kind == ALL_REDUCE and op.name == "stablehlo.negate":
                    new = _all_reduce(op, n, handle)
                    counts["all_reduce"] += 1
                elif kind == ALL_GATHER and op.name == "stablehlo.concatenate":
                    new = _all_gather(op, n, handle)
                    counts["all_gather"] += 1
                elif kind == MESH_SHARD and op.name == "stablehlo.slice":
                    new = _custom_call(FULL_TO_SHARD, op.operands[0], op.results[0].type, "{manual}", op.location)
                    counts["mesh_shard"] += 1
                else:
                    continue  # a helper op torch-mlir emitted at the same location
            handle += 1
            op.results[0].replace_all_uses_with(new.results[0])
            op.erase()
        ret = block.operations[len(block.operations) - 1]
        for i, value in enumerate(list(ret.operands)):
            with ir.InsertionPoint(ret):
                out = _custom_call(SHARD_TO_FULL, value, value.type, "{replicated}", ret.location)
            ret.operands[i] = out.results[0]
    expected = {k.removeprefix("tt_"): v for k, v in part.collectives.items()}
    for kind, count in expected.items():
        if counts.get(kind, 0) != count:
            raise CompileError(
                f"tensor parallel: the graph has {count} {kind} but its StableHLO {counts.get(kind, 0)}; "
                "torch-mlir changed a stand-in op"
            )
    if not module.operation.verify():
        raise CompileError("tensor parallel: the annotated StableHLO module does not verify")
    return counts


def _annotate_arguments(func: ir.Operation, block, part: Partitioned) -> None:
    n = part.num_chips
    args = []
    for arg, placement in zip(block.arguments, part.input_placements):
        rank = len(ir.RankedTensorType(arg.type).shape)
        args.append({"mhlo.sharding": ir.StringAttr.get(gspmd_sharding(rank, placement, n))})
    existing = func.attributes["arg_attrs"] if "arg_attrs" in func.attributes else None
    merged = []
    for i, extra in enumerate(args):
        d = {}
        if existing is not None:
            old = ir.DictAttr(ir.ArrayAttr(existing)[i])
            d.update({old[j].name: old[j].attr for j in range(len(old))})
        d.update(extra)
        merged.append(ir.DictAttr.get(d))
    func.attributes["arg_attrs"] = ir.ArrayAttr.get(merged)
    results = len(ir.FunctionType(ir.TypeAttr(func.attributes["function_type"]).value).results)
    func.attributes["res_attrs"] = ir.ArrayAttr.get(
        [ir.DictAttr.get({"mhlo.sharding": ir.StringAttr.get("{replicated}")}) for _ in range(results)]
    )
