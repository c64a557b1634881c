"""TTNN module -> ``.ttnn`` flatbuffer bytes: the lowering table of this boundary.

Each TTNN op becomes one ``Operation`` carrying its location (``loc_info``)
and its TTNN text (``debug_info``). Values get program-unique global ids.
"""

from __future__ import annotations

from collections.abc import Callable

import flatbuffers
import numpy as np
from torch_mlir import ir

from tt_torch.errors import CompileError

from .._generated_import import fb, schema_info
from ..dialects import ttir, ttnn
from ..dialects.ttnn_layout import decode
from ..ir_helpers import argument_tags, location_text, signature_text
from . import system_desc as sd

FILE_IDENTIFIER = b"TTNB"

DTYPES = {
    "f32": fb.DataType.Float32,
    "bf16": fb.DataType.BFloat16,
    "f16": fb.DataType.Float16,
    "i32": fb.DataType.Int32,
    "si32": fb.DataType.Int32,
    "ui32": fb.DataType.UInt32,
    "ui16": fb.DataType.UInt16,
    "ui8": fb.DataType.UInt8,
}
_NP = {
    "f32": np.float32,
    "f16": np.float16,
    "i32": np.int32,
    "si32": np.int32,
    "ui32": np.uint32,
    "ui16": np.uint16,
    "ui8": np.uint8,
}


_BLOCK_FLOAT = {
    "bfp_bf8": fb.DataType.BFP_BFloat8,
    "bfp_bf4": fb.DataType.BFP_BFloat4,
    "bfp_bf2": fb.DataType.BFP_BFloat2,
}
# CompilerConfig.math_fidelity / tt-mlir's names -> the schema's enum
MATH_FIDELITY = {
    "lofi": fb.MathFidelity.LoFi,
    "hifi2": fb.MathFidelity.HiFi2,
    "hifi3": fb.MathFidelity.HiFi3,
    "hifi4": fb.MathFidelity.HiFi4,
}


def _compute_config(op) -> "fb.ComputeConfigT | None":
    """The op's ``compute_config = {math_fidelity, fp32_dest_acc_en}`` (set by the
    ttnn-compute-config pass), or None: the runtime's defaults (HiFi4, fp32 accumulation)."""
    if "compute_config" not in op.attributes:
        return None
    d = ir.DictAttr(op.attributes["compute_config"])
    return fb.ComputeConfigT(
        mathFidelity=MATH_FIDELITY[_s(d["math_fidelity"])], fp32DestAccEn=ir.BoolAttr(d["fp32_dest_acc_en"]).value
    )


class _Program:
    """Tensor refs of one function being serialized."""

    def __init__(self):
        self.ids: dict[ir.Value, int] = {}

    def ref(self, value: ir.Value) -> "fb.TensorRefT":
        gid = self.ids.setdefault(value, len(self.ids))
        t = ir.RankedTensorType(value.type)
        el = str(t.element_type)
        if el not in DTYPES:
            raise CompileError(
                f"element type {el} has no device data type (value defined at {location_text(value.location) if hasattr(value, 'location') else '?'})"
            )
        layout = fb.LayoutDescT(dataType=DTYPES[el], layout=fb.TensorLayout.RowMajor)
        enc = decode(t)
        if enc is not None:
            data_format = enc.data_format
            if data_format:
                if data_format not in _BLOCK_FLOAT:
                    raise CompileError(f"unknown data format {data_format!r} on a value of type {t}")
                layout.dataType = _BLOCK_FLOAT[data_format]
            layout.layout = fb.TensorLayout.Tile if enc.layout == "tile" else fb.TensorLayout.RowMajor
            buffer = fb.BufferType.L1 if enc.buffer == "l1" else fb.BufferType.DRAM
            layout.memoryConfig = fb.MemoryConfigT(bufferType=buffer, memoryLayout=fb.TensorMemoryLayout.Interleaved)
        return fb.TensorRefT(globalId=gid, desc=fb.TensorDescT(shape=list(t.shape), layout=layout))


def _s(a: ir.Attribute) -> str:
    return ir.StringAttr(a).value


def _ints(op, name: str) -> list[int]:
    return list(ir.DenseI64ArrayAttr(op.attributes[name]))


def _int(op, name: str) -> int:
    return ir.IntegerAttr(op.attributes[name]).value


def _bool(op, name: str) -> bool:
    return ir.BoolAttr(op.attributes[name]).value


def _float(op, name: str) -> float:
    return ir.FloatAttr(op.attributes[name]).value


# --- op table -----------------------------------------------------------------------
Lowering = Callable[[ir.Operation, _Program], tuple[int, object]]
UNARY_NAMES = {
    "abs": "Abs",
    "neg": "Neg",
    "exp": "Exp",
    "log": "Log",
    "sqrt": "Sqrt",
    "rsqrt": "Rsqrt",
    "reciprocal": "Reciprocal",
    "tanh": "Tanh",
    "sigmoid": "Sigmoid",
    "relu": "Relu",
    "gelu": "Gelu",
    "gelu_tanh": "GeluTanh",
    "erf": "Erf",
    "sin": "Sin",
    "cos": "Cos",
    "floor": "Floor",
    "ceil": "Ceil",
    "sign": "Sign",
    "logical_not": "LogicalNot",
    "log1p": "Log1p",
    "expm1": "Expm1",
    "silu": "Silu",
    "isfinite": "IsFinite",
    "bitwise_not": "BitwiseNot",
}
BINARY_NAMES = {
    "add": "Add",
    "subtract": "Subtract",
    "multiply": "Multiply",
    "div": "Divide",
    "maximum": "Maximum",
    "minimum": "Minimum",
    "pow": "Pow",
    "remainder": "Remainder",
    "atan2": "Atan2",
    "eq": "Equal",
    "ne": "NotEqual",
    "lt": "LessThan",
    "le": "LessEqual",
    "gt": "GreaterThan",
    "ge": "GreaterEqual",
    "logical_and": "LogicalAnd",
    "logical_or": "LogicalOr",
    "logical_xor": "LogicalXor",
    "bitwise_and": "BitwiseAnd",
    "bitwise_or": "BitwiseOr",
    "bitwise_xor": "BitwiseXor",
    "logical_left_shift": "LogicalLeftShift",
    "logical_right_shift": "LogicalRightShift",
    "right_shift": "RightShift",
}
REDUCTION_NAMES = {
    "sum": "Sum",
    "mean": "Mean",
    "max": "Max",
    "min": "Min",
    "prod": "Prod",
    "argmax": "ArgMax",
    "argmin": "ArgMin",
}
_POOL_NAMES = {"max_pool2d": "Max", "avg_pool2d": "Avg", "sum_pool2d": "Sum"}
assert set(UNARY_NAMES) == set(ttir.UNARY) and set(BINARY_NAMES) == set(ttir.BINARY)


def _unary(kind: str) -> Lowering:
    return lambda op, p: (
        fb.OpType.EltwiseUnaryOp,
        fb.EltwiseUnaryOpT(type=getattr(fb.EltwiseUnaryOpType, kind), in_=p.ref(op.operands[0]), out=p.ref(op.result)),
    )


def _binary(kind: str) -> Lowering:
    return lambda op, p: (
        fb.OpType.EltwiseBinaryOp,
        fb.EltwiseBinaryOpT(
            type=getattr(fb.EltwiseBinaryOpType, kind),
            lhs=p.ref(op.operands[0]),
            rhs=p.ref(op.operands[1]),
            out=p.ref(op.result),
            computeConfig=_compute_config(op),
        ),
    )


def _ternary(kind: str) -> Lowering:
    return lambda op, p: (
        fb.OpType.EltwiseTernaryOp,
        fb.EltwiseTernaryOpT(
            type=getattr(fb.EltwiseTernaryOpType, kind),
            first=p.ref(op.operands[0]),
            second=p.ref(op.operands[1]),
            third=p.ref(op.operands[2]),
            out=p.ref(op.result),
        ),
    )


def _reduction(kind: str) -> Lowering:
    return lambda op, p: (
        fb.OpType.ReductionOp,
        fb.ReductionOpT(
            type=getattr(fb.ReductionOpType, kind),
            in_=p.ref(op.operands[0]),
            out=p.ref(op.result),
            dimArg=_ints(op, "dim_arg"),
            keepDim=_bool(op, "keep_dim"),
        ),
    )


def _pool(kind: str) -> Lowering:
    return lambda op, p: (
        fb.OpType.Pool2dOp,
        fb.Pool2dOpT(
            type=getattr(fb.Pool2dType, kind),
            in_=p.ref(op.operands[0]),
            out=p.ref(op.result),
            batchSize=_int(op, "batch_size"),
            inputHeight=_int(op, "input_height"),
            inputWidth=_int(op, "input_width"),
            channels=_int(op, "channels"),
            kernelSize=_ints(op, "kernel_size"),
            stride=_ints(op, "stride"),
            padding=_ints(op, "padding"),
            dilation=_ints(op, "dilation"),
            ceilMode=_bool(op, "ceil_mode"),
        ),
    )


def _matmul(op, p):
    return fb.OpType.MatmulOp, fb.MatmulOpT(
        a=p.ref(op.operands[0]),
        b=p.ref(op.operands[1]),
        out=p.ref(op.result),
        transposeA=_bool(op, "transpose_a"),
        transposeB=_bool(op, "transpose_b"),
        computeConfig=_compute_config(op),
    )


def _activation(op) -> int:
    """The fused ``activation`` of a linear or conv2d (transforms/fusion.py), None if absent."""
    if "activation" not in op.attributes:
        return fb.Activation.None_
    name = ir.StringAttr(op.attributes["activation"]).value
    return getattr(fb.Activation, _ACTIVATION_NAMES[name])


_ACTIVATION_NAMES = {"relu": "Relu", "gelu": "Gelu", "gelu_tanh": "GeluTanh", "silu": "Silu"}
assert set(_ACTIVATION_NAMES) == set(ttir.ACTIVATIONS)


def _linear(op, p):
    bias = op.opview.bias
    return fb.OpType.LinearOp, fb.LinearOpT(
        a=p.ref(op.opview.a),
        b=p.ref(op.opview.b),
        bias=p.ref(bias) if bias is not None else None,
        out=p.ref(op.result),
        transposeA=_bool(op, "transpose_a"),
        transposeB=_bool(op, "transpose_b"),
        computeConfig=_compute_config(op),
        activation=_activation(op),
    )


def _conv2d(op, p):
    v = op.opview
    return fb.OpType.Conv2dOp, fb.Conv2dOpT(
        input=p.ref(v.input),
        weight=p.ref(v.weight),
        bias=p.ref(v.bias) if v.bias is not None else None,
        out=p.ref(op.result),
        inChannels=_int(op, "in_channels"),
        outChannels=_int(op, "out_channels"),
        batchSize=_int(op, "batch_size"),
        inputHeight=_int(op, "input_height"),
        inputWidth=_int(op, "input_width"),
        kernelSize=_ints(op, "kernel_size"),
        stride=_ints(op, "stride"),
        padding=_ints(op, "padding"),
        dilation=_ints(op, "dilation"),
        groups=_int(op, "groups"),
        computeConfig=_compute_config(op),
        activation=_activation(op),
        residual=p.ref(v.residual) if v.residual is not None else None,
        residualInPlace="residual_in_place" in op.attributes,
    )


def _softmax(op, p):
    return fb.OpType.SoftmaxOp, fb.SoftmaxOpT(
        in_=p.ref(op.operands[0]), out=p.ref(op.result), dimension=_int(op, "dimension")
    )


def _norm(table, kind):
    def lower(op, p):
        v = op.opview
        return kind, table(
            in_=p.ref(v.input),
            weight=p.ref(v.weight) if v.weight is not None else None,
            bias=p.ref(v.bias) if v.bias is not None else None,
            out=p.ref(op.result),
            epsilon=_float(op, "epsilon"),
        )

    return lower


def _attention(op, p):
    v = op.opview
    return fb.OpType.ScaledDotProductAttentionOp, fb.ScaledDotProductAttentionOpT(
        query=p.ref(v.query),
        key=p.ref(v.key),
        value=p.ref(v.value),
        attentionMask=p.ref(v.attention_mask) if v.attention_mask is not None else None,
        out=p.ref(op.result),
        isCausal=_bool(op, "is_causal"),
        scale=_float(op, "scale"),
        computeConfig=_compute_config(op),
    )


def _reshape(op, p):
    return fb.OpType.ReshapeOp, fb.ReshapeOpT(in_=p.ref(op.operands[0]), out=p.ref(op.result), shape=_ints(op, "shape"))


def _permute(op, p):
    return fb.OpType.PermuteOp, fb.PermuteOpT(
        in_=p.ref(op.operands[0]), out=p.ref(op.result), permutation=_ints(op, "permutation")
    )


def _slice(op, p):
    return fb.OpType.SliceOp, fb.SliceOpT(
        in_=p.ref(op.operands[0]),
        out=p.ref(op.result),
        begins=_ints(op, "begins"),
        ends=_ints(op, "ends"),
        step=_ints(op, "step"),
    )


def _concat(op, p):
    return fb.OpType.ConcatOp, fb.ConcatOpT(
        inputs=[p.ref(v) for v in op.operands], out=p.ref(op.result), dim=_int(op, "dim")
    )


def _repeat(op, p):
    return fb.OpType.RepeatOp, fb.RepeatOpT(
        in_=p.ref(op.operands[0]), out=p.ref(op.result), repeatDims=_ints(op, "repeat_dims")
    )


def _pad(op, p):
    return fb.OpType.PadOp, fb.PadOpT(
        in_=p.ref(op.operands[0]), out=p.ref(op.result), padding=_ints(op, "padding"), value=_float(op, "value")
    )


def _embedding(op, p):
    return fb.OpType.EmbeddingOp, fb.EmbeddingOpT(
        input=p.ref(op.operands[0]), weight=p.ref(op.operands[1]), out=p.ref(op.result)
    )


_SCATTER_REDUCE = {"none": "None_", "sum": "Sum"}


def _scatter(op, p):
    kind = _s(op.attributes["scatter_reduce_type"])
    return fb.OpType.ScatterOp, fb.ScatterOpT(
        input=p.ref(op.operands[0]),
        index=p.ref(op.operands[1]),
        source=p.ref(op.operands[2]),
        out=p.ref(op.result),
        dim=_int(op, "dim"),
        reduceType=getattr(fb.ScatterReduceType, _SCATTER_REDUCE[kind]),
    )


def _update_cache(op, p):
    return fb.OpType.UpdateCacheOp, fb.UpdateCacheOpT(
        cache=p.ref(op.operands[0]),
        input=p.ref(op.operands[1]),
        updateIndex=p.ref(op.operands[2]),
        batchOffset=_int(op, "batch_offset"),
    )


def _sort(op, p):
    values, indices = op.results
    return fb.OpType.SortOp, fb.SortOpT(
        input=p.ref(op.operands[0]),
        values=p.ref(values),
        indices=p.ref(indices),
        dim=_int(op, "dim"),
        descending=_bool(op, "descending"),
        stable=_bool(op, "stable"),
    )


_SHARD_DIRECTION = {"full_to_shard": "FullToShard", "shard_to_full": "ShardToFull"}
_SHARD_TYPE = {"identity": "Identity", "replicate": "Replicate", "maximal": "Maximal", "devices": "Devices"}
_CCL_REDUCE = {"sum": "Sum", "max": "Max", "min": "Min"}


def _mesh_shard(op, p):
    return fb.OpType.MeshShardOp, fb.MeshShardOpT(
        in_=p.ref(op.operands[0]),
        out=p.ref(op.result),
        shardDirection=getattr(fb.MeshShardDirection, _SHARD_DIRECTION[_s(op.attributes["shard_direction"])]),
        shardType=getattr(fb.MeshShardType, _SHARD_TYPE[_s(op.attributes["shard_type"])]),
        shardShape=_ints(op, "shard_shape"),
        shardDims=_ints(op, "shard_dims"),
    )


def _all_gather(op, p):
    return fb.OpType.AllGatherOp, fb.AllGatherOpT(
        in_=p.ref(op.operands[0]),
        out=p.ref(op.result),
        allGatherDim=_int(op, "all_gather_dim"),
        clusterAxis=_int(op, "cluster_axis"),
        numLinks=_int(op, "num_links"),
    )


def _all_reduce(op, p):
    return fb.OpType.AllReduceOp, fb.AllReduceOpT(
        in_=p.ref(op.operands[0]),
        out=p.ref(op.result),
        reduceType=getattr(fb.CclReduceType, _CCL_REDUCE[_s(op.attributes["reduce_type"])]),
        clusterAxis=_int(op, "cluster_axis"),
        numLinks=_int(op, "num_links"),
    )


def _reduce_scatter(op, p):
    return fb.OpType.ReduceScatterOp, fb.ReduceScatterOpT(
        in_=p.ref(op.operands[0]),
        out=p.ref(op.result),
        reduceType=getattr(fb.CclReduceType, _CCL_REDUCE[_s(op.attributes["reduce_type"])]),
        scatterDim=_int(op, "scatter_dim"),
        clusterAxis=_int(op, "cluster_axis"),
        numLinks=_int(op, "num_links"),
    )


def _constant(op, p):
    value = ir.DenseElementsAttr(op.attributes["value"])
    t = ir.RankedTensorType(op.result.type)
    el = str(t.element_type)
    if value.is_splat:
        return _full_value(op, p, value)
    if el == "bf16":
        raise CompileError(f"non-splat bf16 constants are not supported yet (at {location_text(op.location)})")
    arr = np.array(value, copy=True).astype(_NP[el]).reshape(-1)
    data = np.frombuffer(arr.tobytes(), dtype=np.uint8)
    return fb.OpType.ConstantOp, fb.ConstantOpT(out=p.ref(op.result), data=data)


def _full_value(op, p, value):
    scalar = value.get_splat_value()
    fill = (
        float(ir.IntegerAttr(scalar).value) if isinstance(scalar, ir.IntegerAttr) else float(ir.FloatAttr(scalar).value)
    )
    return fb.OpType.FullOp, fb.FullOpT(out=p.ref(op.result), fillValue=fill)


def _full(op, p):
    return fb.OpType.FullOp, fb.FullOpT(out=p.ref(op.result), fillValue=_float(op, "fill_value"))


def _arange(op, p):
    return fb.OpType.ArangeOp, fb.ArangeOpT(
        out=p.ref(op.result), start=_float(op, "start"), step=_float(op, "step"), dim=_int(op, "arange_dimension")
    )


def _memory_config(op) -> "fb.MemoryConfigT":
    buffer = fb.BufferType.L1 if "l1" in _s(op.attributes["memory_config"]) else fb.BufferType.DRAM
    return fb.MemoryConfigT(bufferType=buffer, memoryLayout=fb.TensorMemoryLayout.Interleaved)


def _to_device(op, p):
    return fb.OpType.ToDeviceOp, fb.ToDeviceOpT(
        in_=p.ref(op.operands[0]), out=p.ref(op.result), memoryConfig=_memory_config(op)
    )


def _from_device(op, p):
    return fb.OpType.FromDeviceOp, fb.FromDeviceOpT(in_=p.ref(op.operands[0]), out=p.ref(op.result))


def _to_layout(op, p):
    out = p.ref(op.result)
    return fb.OpType.ToLayoutOp, fb.ToLayoutOpT(
        in_=p.ref(op.operands[0]), out=out, layout=out.desc.layout.layout, dtype=out.desc.layout.dataType
    )


def _typecast(op, p):
    out = p.ref(op.result)
    return fb.OpType.TypecastOp, fb.TypecastOpT(in_=p.ref(op.operands[0]), out=out, dtype=out.desc.layout.dataType)


def _deallocate(op, p):
    return fb.OpType.DeallocateOp, fb.DeallocateOpT(in_=p.ref(op.operands[0]), force=_bool(op, "force"))


LOWERINGS: dict[str, Lowering] = {
    **{f"ttnn.{k}": _unary(v) for k, v in UNARY_NAMES.items()},
    **{f"ttnn.{k}": _binary(v) for k, v in BINARY_NAMES.items()},
    **{f"ttnn.{k}": _reduction(v) for k, v in REDUCTION_NAMES.items()},
    **{f"ttnn.{k}": _pool(v) for k, v in _POOL_NAMES.items()},
    "ttnn.where": _ternary("Where"),
    "ttnn.clamp_tensor": _ternary("Clamp"),
    "ttnn.matmul": _matmul,
    "ttnn.linear": _linear,
    "ttnn.conv2d": _conv2d,
    "ttnn.softmax": _softmax,
    "ttnn.layer_norm": _norm(fb.LayerNormOpT, fb.OpType.LayerNormOp),
    "ttnn.rms_norm": _norm(fb.RmsNormOpT, fb.OpType.RmsNormOp),
    "ttnn.scaled_dot_product_attention": _attention,
    "ttnn.reshape": _reshape,
    "ttnn.permute": _permute,
    "ttnn.slice_static": _slice,
    "ttnn.concat": _concat,
    "ttnn.repeat": _repeat,
    "ttnn.pad": _pad,
    "ttnn.embedding": _embedding,
    "ttnn.scatter": _scatter,
    "ttnn.sort": _sort,
    "ttnn.update_cache": _update_cache,
    "ttnn.constant": _constant,
    "ttnn.full": _full,
    "ttnn.arange": _arange,
    "ttnn.to_device": _to_device,
    "ttnn.from_device": _from_device,
    "ttnn.to_layout": _to_layout,
    "ttnn.typecast": _typecast,
    "ttnn.deallocate": _deallocate,
    "ttnn.mesh_shard": _mesh_shard,
    "ttnn.all_gather": _all_gather,
    "ttnn.all_reduce": _all_reduce,
    "ttnn.reduce_scatter": _reduce_scatter,
}
assert {k.split(".", 1)[1] for k in LOWERINGS} == set(ttnn.OPS), "every TTNN op needs a flatbuffer lowering"

_ARG_TYPES = {
    "input": fb.ArgumentType.Input,
    "parameter": fb.ArgumentType.Parameter,
    "buffer": fb.ArgumentType.Parameter,
    "constant": fb.ArgumentType.Constant,
}


def _program(func_op, estimates: dict | None = None) -> "fb.ProgramT":
    """`estimates`: the cost model's estimated device time per op (ns), by op."""
    p = _Program()
    block = func_op.regions[0].blocks[0]
    inputs = []
    for i, arg in enumerate(block.arguments):
        kind, name = argument_tags(func_op, i)
        inputs.append(fb.ProgramArgT(ref=p.ref(arg), argType=_ARG_TYPES[kind], name=name or f"input{i}"))
    operations = []
    outputs = []
    for op in block.operations:
        op = op.operation
        if op.name == "func.return":
            outputs = [p.ref(v) for v in op.operands]
            continue
        lower = LOWERINGS.get(op.name)
        if lower is None:
            raise CompileError(f"TTNN -> flatbuffer: no lowering for '{op.name}' at {location_text(op.location)}")
        kind, table = lower(op, p)
        operation = fb.OperationT(
            typeType=kind, type=table, debugInfo=signature_text(op), locInfo=location_text(op.location)
        )
        operation.estimatedNs = float((estimates or {}).get(op, 0.0))
        operations.append(operation)
    name = ir.StringAttr(func_op.attributes["sym_name"]).value
    program = fb.ProgramT(name=name, inputs=inputs, outputs=outputs, operations=operations, private=False)
    program.meshShape = mesh_shape_of(func_op)
    return program


MESH_SHAPE_ATTR = "tt.mesh_shape"


def mesh_shape_of(func_op) -> list[int] | None:
    """The logical mesh of a tensor-parallel function (its ``tt.mesh_shape``), else None: one chip."""
    if MESH_SHAPE_ATTR not in func_op.attributes:
        return None
    return list(ir.DenseI64ArrayAttr(func_op.attributes[MESH_SHAPE_ATTR]))


def system_desc_of(target: str) -> "fb.SystemDescT":
    s = sd.get(target)
    chip = fb.ChipDescT(
        arch=fb.Arch.WormholeB0 if s.chip.arch == "wormhole_b0" else fb.Arch.Blackhole,
        gridSize=list(s.chip.grid),
        l1Size=s.chip.l1_size,
        numDramChannels=s.chip.num_dram_channels,
        dramChannelSize=s.chip.dram_channel_size,
        dramBandwidthGbps=s.chip.dram_bandwidth_gbps,
        clockMhz=s.chip.clock_mhz,
        tileShape=list(s.tile_shape),
        supportedDataTypes=sorted(set(DTYPES.values()) | set(_BLOCK_FLOAT.values())),
        numCores=s.chip.num_cores,
        peakThroughput=[
            fb.PeakThroughputT(dataType=_BLOCK_FLOAT.get(k, DTYPES.get(k)), tflops=v)
            for k, v in sorted(s.chip.peak_tflops_lofi.items())
        ],
    )
    return fb.SystemDescT(name=s.name, chipDescs=[chip] * s.num_chips, meshShape=list(s.mesh_shape))


def package(
    programs: list,
    target: "fb.SystemDescT",
    mlir_sources: list[tuple[str, str]] = (),
    weights: list | None = None,
    goldens: list | None = None,
    export_info: str | None = None,
) -> bytes:
    """One ``.ttnn`` of several programs (one per compiled graph), with their weights,
    golden tensors and export facts: what ``tt_torch.export`` writes."""
    major, minor, patch = schema_info.SCHEMA_VERSION
    binary = fb.BinaryT(
        version=fb.VersionT(major=major, minor=minor, patch=patch),
        schemaHash=schema_info.SCHEMA_HASH,
        systemDesc=target,
        mlir=[fb.MLIRSourceT(name=k, source=v) for k, v in mlir_sources],
        programs=list(programs),
        weights=list(weights or []),
        golden=list(goldens or []),
        exportInfo=export_info,
    )
    builder = flatbuffers.Builder(1 << 20)
    builder.FinishSizePrefixed(binary.Pack(builder), FILE_IDENTIFIER)
    return bytes(builder.Output())


def to_flatbuffer(
    module: ir.Module,
    target: str = "n150",
    mlir_sources: dict[str, str] | None = None,
    estimates: dict | None = None,
) -> bytes:
    """Serializes every function of a TTNN module as one program of a ``.ttnn`` binary;
    `estimates` maps ops to the cost model's estimated device time (ns)."""
    major, minor, patch = schema_info.SCHEMA_VERSION
    binary = fb.BinaryT(
        version=fb.VersionT(major=major, minor=minor, patch=patch),
        schemaHash=schema_info.SCHEMA_HASH,
        systemDesc=system_desc_of(target),
        mlir=[fb.MLIRSourceT(name=k, source=v) for k, v in (mlir_sources or {}).items()],
        programs=[_program(f, estimates) for f in module.body.operations],
    )
    builder = flatbuffers.Builder(1 << 16)
    builder.FinishSizePrefixed(binary.Pack(builder), FILE_IDENTIFIER)
    return bytes(builder.Output())
