"""TTIR -> TTNN: the lowering table of this boundary.

Program inputs arrive on the host; each is moved to the device
(``ttnn.to_device``) and tiled (``ttnn.to_layout``), and each result goes
back through ``to_layout(row_major)`` and ``ttnn.from_device``. In between,
every tensor is a device tensor in DRAM, interleaved, TILE layout (tt-mlir's
optimization level 0), written as a ``#ttnn.layout`` encoding on its type.
"""

from __future__ import annotations

from torch_mlir import ir

from ...dialects import ttir, ttnn
from ...dialects._define import build
from ...dialects.ttnn_layout import decode, device_type, host_type
from ...ir_helpers import argument_tags, shape_of, update_function_type
from ...report import Report
from ..rewrite import RewriteContext, Rule, run_conversion

STAGE = "TTIR -> TTNN"


def _attrs(op: ir.Operation) -> dict[str, ir.Attribute]:
    return {k: op.attributes[k] for k in op.attributes if k != "operandSegmentSizes"}


def _operand_groups(op: ir.Operation) -> list:
    """Operands grouped per field (variadic fields as lists, absent optionals as None)."""
    cls = ttir.OPS[op.name.split(".", 1)[1]]
    if cls._ODS_OPERAND_SEGMENTS is None:
        return list(op.operands)
    sizes = list(ir.DenseI32ArrayAttr(op.attributes["operandSegmentSizes"]))
    groups, i = [], 0
    for size, spec in zip(sizes, cls._ODS_OPERAND_SEGMENTS):
        chunk = list(op.operands)[i : i + size]
        groups.append(chunk if spec == -1 else (chunk[0] if chunk else None))
        i += size
    return groups


def same_op(cx: RewriteContext, op):
    """TTIR op -> the TTNN op of the same name, operands and attributes."""
    name = op.name.split(".", 1)[1]
    groups = _operand_groups(op)
    built = build(ttnn.OPS[name], groups, _attrs(op), cx.result_type(), cx.loc)
    return [built.result]


def repeat(cx: RewriteContext, op):
    return [
        cx.emit(
            "repeat",
            op.operands[0],
            result=cx.result_type(),
            repeat_dims=list(ir.DenseI64ArrayAttr(op.attributes["repeat_dimensions"])),
        )
    ]


def typecast(cx: RewriteContext, op):
    dtype = str(ir.RankedTensorType(op.results[0].type).element_type)
    return [cx.emit("typecast", op.operands[0], result=cx.result_type(), dtype=dtype)]


def embedding(cx: RewriteContext, op):
    indices, weight = op.operands
    rm = cx.emit("to_layout", indices, result=device_type(indices.type, "row_major"), layout="row_major")
    return [cx.emit("embedding", rm, weight, result=cx.result_type())]


def sort(cx: RewriteContext, op):
    """ttnn.sort: two results, values and indices."""
    types = [cx.type(r.type) for r in op.results]
    built = build(ttnn.OPS["sort"], [op.operands[0]], _attrs(op), types, cx.loc)
    return list(built.operation.results)


def update_cache(cx: RewriteContext, op):
    """ttnn.update_cache writes into its cache operand and has no result: the cache's device
    value stands for the TTIR result from here on."""
    build(ttnn.OPS["update_cache"], list(op.operands), _attrs(op), None, cx.loc)
    return [op.operands[0]]


def _ints(op, name) -> list[int]:
    return list(ir.DenseI64ArrayAttr(op.attributes[name]))


def _flatten_nhwc(cx: RewriteContext, x: ir.Value) -> ir.Value:
    n, h, w, c = shape_of(x)
    flat = [1, 1, n * h * w, c]
    t = ir.RankedTensorType(x.type)
    return cx.emit("reshape", x, result=ir.RankedTensorType.get(flat, t.element_type, t.encoding), shape=flat)


def _unflatten(cx: RewriteContext, y: ir.Value) -> ir.Value:
    out = cx.result_type()
    return cx.emit("reshape", y, result=out, shape=list(ir.RankedTensorType(out).shape))


def _flat_type(cx: RewriteContext) -> ir.Type:
    out = ir.RankedTensorType(cx.result_type())
    n, oh, ow, oc = out.shape
    return ir.RankedTensorType.get([1, 1, n * oh * ow, oc], out.element_type, out.encoding)


def conv2d(cx: RewriteContext, op):
    x, w, bias, residual = _operand_groups(op)
    n, h, wd, c = shape_of(x)
    o, _, kh, kw = shape_of(w)
    # Weights stay row-major, as TTNN's conv2d prepares them itself: tiling
    # pads a 1x1 kernel's last two dims to 32x32, a 1024x larger buffer.
    w = cx.emit("to_layout", w, result=device_type(w.type, "row_major"), layout="row_major")
    y = cx.emit(
        "conv2d",
        _flatten_nhwc(cx, x),
        w,
        bias=bias,
        residual=_flatten_nhwc(cx, residual) if residual is not None else None,
        result=_flat_type(cx),
        in_channels=c,
        out_channels=o,
        batch_size=n,
        input_height=h,
        input_width=wd,
        kernel_size=[kh, kw],
        stride=_ints(op, "stride"),
        padding=_ints(op, "padding"),
        dilation=_ints(op, "dilation"),
        groups=ir.IntegerAttr(op.attributes["groups"]).value,
    )
    if "activation" in op.attributes:
        y.owner.attributes["activation"] = op.attributes["activation"]
    return [_unflatten(cx, y)]


def pool2d(cx: RewriteContext, op):
    x = op.operands[0]
    n, h, w, c = shape_of(x)
    y = cx.emit(
        op.name.split(".", 1)[1],
        _flatten_nhwc(cx, x),
        result=_flat_type(cx),
        batch_size=n,
        input_height=h,
        input_width=w,
        channels=c,
        kernel_size=_ints(op, "kernel_size"),
        stride=_ints(op, "stride"),
        padding=_ints(op, "padding"),
        dilation=_ints(op, "dilation"),
        ceil_mode=op.attributes["ceil_mode"],
    )
    return [_unflatten(cx, y)]


def mesh_shard(cx: RewriteContext, op):
    """Shards are cut and joined on the host: a program input is cut before it moves to the
    chips (each chip's DRAM holds its shard only), and a result is joined after it left them."""
    host = op.results[0].type  # TTIR types are host types: no layout encoding
    if ir.StringAttr(op.attributes["shard_direction"]).value == "full_to_shard":
        source = _host_source(op.operands[0])
        shard = build(ttnn.OPS["mesh_shard"], [source], _attrs(op), host, cx.loc).result
        on_device = build(
            ttnn.OPS["to_device"],
            [shard],
            {"memory_config": ir.StringAttr.get("dram_interleaved")},
            device_type(host, "row_major"),
            cx.loc,
        )
        return [_to_layout(on_device.result, "tile")]
    row_major = _to_layout(op.operands[0], "row_major")
    on_host = build(ttnn.OPS["from_device"], [row_major], {}, host_type(row_major.type), cx.loc).result
    return [build(ttnn.OPS["mesh_shard"], [on_host], _attrs(op), host, cx.loc).result]


def _host_source(value: ir.Value) -> ir.Value:
    """The host value a device value was moved from (through to_layout and to_device)."""
    while not isinstance(value.owner, ir.Block):
        owner = value.owner.operation if hasattr(value.owner, "operation") else value.owner
        if owner.name not in ("ttnn.to_layout", "ttnn.to_device"):
            break
        value = owner.operands[0]
    return value


def ccl(cx: RewriteContext, op):
    """all_gather, all_reduce, reduce_scatter: as in TTIR, over one ethernet link."""
    name = op.name.split(".", 1)[1]
    attrs = {**_attrs(op), "num_links": ir.IntegerAttr.get(ir.IntegerType.get_unsigned(32), 1)}
    return [build(ttnn.OPS[name], [op.operands[0]], attrs, cx.result_type(), cx.loc).result]


RULES: dict[str, Rule] = {f"ttir.{name}": same_op for name in ttir.OPS if name in ttnn.OPS}
RULES.update(
    {
        "ttir.repeat": repeat,
        "ttir.typecast": typecast,
        "ttir.embedding": embedding,
        "ttir.sort": sort,
        "ttir.update_cache": update_cache,
        "ttir.conv2d": conv2d,
        **{f"ttir.{name}": pool2d for name in ttir.POOLS},
        "ttir.mesh_shard": mesh_shard,
        **{f"ttir.{name}": ccl for name in ("all_gather", "all_reduce", "reduce_scatter")},
    }
)

_BOUNDARY_OPS = ("ttnn.to_device", "ttnn.to_layout", "ttnn.from_device")


def convert(module: ir.Module, report: Report | None = None) -> Report:
    report = report or Report()

    def to_device_type(t: ir.Type, what: str) -> ir.Type:
        return t if what == "function argument" else device_type(t)

    cx = RewriteContext(STAGE, ttnn.OPS, report, to_device_type)
    with module.context, ir.Location.unknown(module.context):
        for func_op in module.body.operations:
            _move_inputs_to_device(cx, func_op)
    run_conversion(module, STAGE, RULES, cx, passthrough=_BOUNDARY_OPS)
    with module.context, ir.Location.unknown(module.context):
        for func_op in module.body.operations:
            _move_outputs_to_host(cx, func_op)
            _erase_unused_moves(func_op)
    return report


def _erase_unused_moves(func_op) -> None:
    """Input moves nothing reads (an input a mesh_shard cuts on the host before moving it)."""
    block = func_op.regions[0].blocks[0]
    for op in reversed(list(block.operations)):
        op = op.operation
        if op.name in ("ttnn.to_layout", "ttnn.to_device") and not list(op.results[0].uses):
            op.erase()


def _move_inputs_to_device(cx: RewriteContext, func_op) -> None:
    block = func_op.regions[0].blocks[0]
    first = block.operations[0]
    for arg in block.arguments:
        name = argument_tags(func_op, arg.arg_number)[1]
        label = f"input {arg.arg_number}" + (f" ({name})" if name else "")
        with ir.InsertionPoint(first), ir.Location.name(label):
            on_device = build(
                ttnn.OPS["to_device"],
                [arg],
                {"memory_config": ir.StringAttr.get("dram_interleaved")},
                device_type(arg.type, "row_major"),
                ir.Location.current,
            )
            tiled = _to_layout(on_device.result, "tile")
        arg.replace_all_uses_except(tiled, on_device.operation)


def _to_layout(value: ir.Value, layout: str) -> ir.Value:
    return build(
        ttnn.OPS["to_layout"],
        [value],
        {"layout": ir.StringAttr.get(layout)},
        device_type(value.type, layout),
        ir.Location.current,
    ).result


def _move_outputs_to_host(cx: RewriteContext, func_op) -> None:
    block = func_op.regions[0].blocks[0]
    ret = block.operations[len(block.operations) - 1]
    for i, value in enumerate(list(ret.operands)):
        if decode(value.type) is None:
            continue  # already on the host (a mesh_shard joined it there)
        with ir.InsertionPoint(ret), ir.Location.name(f"output {i}"):
            row_major = _to_layout(value, "row_major")
            host = build(ttnn.OPS["from_device"], [row_major], {}, host_type(value.type), ir.Location.current).result
        ret.operands[i] = host
    update_function_type(func_op, block)
