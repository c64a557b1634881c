"""Hand-built .ttnn binaries for the runtime tests, written with the generated object API.

The compiler has its own writer (tt_torch/compiler/target); these tests build programs
directly so that the runtime is tested on its own, op by op:

    inputs -> to_device -> to_layout(TILE) -> op -> to_layout(ROW_MAJOR) -> from_device -> outputs
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from tt_torch._generated import binary_generated as fb
from tt_torch._generated import schema_info

DTYPES = {
    torch.float32: fb.DataType.Float32,
    torch.bfloat16: fb.DataType.BFloat16,
    torch.float16: fb.DataType.Float16,
    torch.int32: fb.DataType.Int32,
    torch.uint32: fb.DataType.UInt32,
    torch.uint16: fb.DataType.UInt16,
    torch.uint8: fb.DataType.UInt8,
}

# Each op table class of the schema, keyed by itself, with its union tag.
OP_TYPES = {
    getattr(fb, name + "T"): value
    for name, value in vars(fb.OpType).items()
    if not name.startswith("_") and name != "NONE"
}


def chip(arch: int = fb.Arch.WormholeB0, dram_channels: int = 12, dram_channel_size: int = 1 << 30) -> fb.ChipDescT:
    wormhole = arch == fb.Arch.WormholeB0
    return fb.ChipDescT(
        arch=arch,
        gridSize=[8, 8] if wormhole else [10, 13],
        l1Size=1_499_136 if wormhole else 1_572_864,
        numDramChannels=dram_channels,
        dramChannelSize=dram_channel_size,
        dramBandwidthGbps=288.0 if wormhole else 512.0,
        clockMhz=1000 if wormhole else 1350,
        tileShape=[32, 32],
        supportedDataTypes=list(range(13)),
    )


def system_desc(name: str = "n150", **chip_args) -> fb.SystemDescT:
    if name == "p150":
        chip_args.setdefault("arch", fb.Arch.Blackhole)
        chip_args.setdefault("dram_channels", 8)
        chip_args.setdefault("dram_channel_size", 4 << 30)
    return fb.SystemDescT(name=name, chipDescs=[chip(**chip_args)], meshShape=[1, 1])


class ProgramBuilder:
    """Appends ops to one program; every helper returns the TensorRefT of its result."""

    def __init__(self, name: str = "main"):
        self.name = name
        self.inputs: list[fb.ProgramArgT] = []
        self.outputs: list[fb.TensorRefT] = []
        self.operations: list[fb.OperationT] = []
        self._next_id = 0

    def ref(
        self,
        shape: Sequence[int],
        dtype: int,
        layout: int = fb.TensorLayout.RowMajor,
        buffer: int | None = None,
    ) -> fb.TensorRefT:
        memory = None if buffer is None else fb.MemoryConfigT(bufferType=buffer, memoryLayout=0)
        desc = fb.TensorDescT(
            shape=list(shape), layout=fb.LayoutDescT(dataType=dtype, layout=layout, memoryConfig=memory)
        )
        self._next_id += 1
        return fb.TensorRefT(globalId=self._next_id, desc=desc)

    def like(self, ref: fb.TensorRefT, shape: Sequence[int] | None = None, dtype: int | None = None) -> fb.TensorRefT:
        """A new device tensor with `ref`'s layout (and its shape and dtype unless given)."""
        layout = ref.desc.layout
        buffer = layout.memoryConfig.bufferType if layout.memoryConfig else None
        return self.ref(
            ref.desc.shape if shape is None else shape,
            layout.dataType if dtype is None else dtype,
            layout.layout,
            buffer,
        )

    def op(self, table, loc: str = "", debug: str = ""):
        self.operations.append(fb.OperationT(typeType=OP_TYPES[type(table)], type=table, locInfo=loc, debugInfo=debug))
        return table

    def input(
        self, shape: Sequence[int], dtype: int, name: str | None = None, arg_type: int = fb.ArgumentType.Input
    ) -> fb.TensorRefT:
        ref = self.ref(shape, dtype)
        name = name if name is not None else f"arg{len(self.inputs)}"
        self.inputs.append(fb.ProgramArgT(ref=ref, argType=arg_type, name=name))
        return ref

    def to_device(self, ref: fb.TensorRefT) -> fb.TensorRefT:
        out = self.ref(ref.desc.shape, ref.desc.layout.dataType, fb.TensorLayout.RowMajor, fb.BufferType.DRAM)
        self.op(fb.ToDeviceOpT(in_=ref, out=out, memoryConfig=fb.MemoryConfigT(bufferType=fb.BufferType.DRAM)))
        return out

    def to_layout(self, ref: fb.TensorRefT, layout: int, dtype: int | None = None) -> fb.TensorRefT:
        dtype = ref.desc.layout.dataType if dtype is None else dtype
        out = self.ref(ref.desc.shape, dtype, layout, fb.BufferType.DRAM)
        self.op(fb.ToLayoutOpT(in_=ref, out=out, layout=layout, dtype=dtype))
        return out

    def from_device(self, ref: fb.TensorRefT) -> fb.TensorRefT:
        out = self.ref(ref.desc.shape, ref.desc.layout.dataType)
        self.op(fb.FromDeviceOpT(in_=ref, out=out))
        return out

    def device_input(
        self, shape: Sequence[int], dtype: int, name: str | None = None, arg_type: int = fb.ArgumentType.Input
    ) -> fb.TensorRefT:
        """A program input, moved to the device in TILE layout."""
        return self.to_layout(self.to_device(self.input(shape, dtype, name, arg_type)), fb.TensorLayout.Tile)

    def output(self, ref: fb.TensorRefT) -> None:
        """Returns a device tensor: to ROW_MAJOR, then to the host."""
        self.outputs.append(self.from_device(self.to_layout(ref, fb.TensorLayout.RowMajor)))

    def program(self) -> fb.ProgramT:
        return fb.ProgramT(
            name=self.name, inputs=self.inputs, outputs=self.outputs, operations=self.operations, private=False
        )


# each fused activation of the schema, as ATen computes it
ACTIVATIONS = {
    fb.Activation.None_: lambda x: x,
    fb.Activation.Relu: torch.relu,
    fb.Activation.Gelu: F.gelu,
    fb.Activation.GeluTanh: lambda x: F.gelu(x, approximate="tanh"),
    fb.Activation.Silu: F.silu,
}

# (batch, in channels, height, width, out channels) of a conv2d for each of the runtime's
# paths: ATen's convolution, and oneDNN's (>= 2^22 multiply-adds)
CONV_SIZES = {"aten": (2, 8, 9, 7, 16), "onednn": (1, 64, 16, 16, 64)}


def conv2d(
    b: ProgramBuilder,
    x: fb.TensorRefT,
    weight: fb.TensorRefT,
    bias: fb.TensorRefT | None = None,
    *,
    batch: int,
    height: int,
    width: int,
    stride: Sequence[int] = (1, 1),
    padding: Sequence[int] = (0, 0, 0, 0),
    dilation: Sequence[int] = (1, 1),
    groups: int = 1,
    **fields,
) -> fb.TensorRefT:
    """A Conv2dOp of `x` (flattened NHWC: [1, 1, batch * height * width, in channels]) with
    `weight` ([out channels, in channels / groups, kh, kw]) and `padding` (top, bottom, left,
    right); `fields` sets further fields of the table (activation, residual, computeConfig).
    Returns its output, flattened NHWC as well."""
    cin, (cout, _, kh, kw) = x.desc.shape[-1], weight.desc.shape
    top, bottom, left, right = padding
    out_h = (height + top + bottom - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    out_w = (width + left + right - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = b.like(x, shape=[1, 1, batch * out_h * out_w, cout])
    table = fb.Conv2dOpT(
        input=x,
        weight=weight,
        bias=bias,
        out=out,
        inChannels=cin,
        outChannels=cout,
        batchSize=batch,
        inputHeight=height,
        inputWidth=width,
        kernelSize=[kh, kw],
        stride=list(stride),
        padding=list(padding),
        dilation=list(dilation),
        groups=groups,
    )
    for name, value in fields.items():
        setattr(table, name, value)
    b.op(table)
    return out


def binary_bytes(
    programs: Sequence[fb.ProgramT],
    system: fb.SystemDescT | None = None,
    schema_hash: str = schema_info.SCHEMA_HASH,
    version: tuple[int, int, int] = schema_info.SCHEMA_VERSION,
) -> bytes:
    major, minor, patch = version
    binary = fb.BinaryT(
        version=fb.VersionT(major=major, minor=minor, patch=patch),
        schemaHash=schema_hash,
        systemDesc=system if system is not None else system_desc(),
        mlir=[fb.MLIRSourceT(name="ttnn", source="// hand-built by tests/runtime")],
        programs=list(programs),
    )
    builder = fb.flatbuffers.Builder(1024)
    builder.FinishSizePrefixed(binary.Pack(builder), schema_info.FILE_IDENTIFIER)
    return bytes(builder.Output())


def one_op_binary(
    inputs: Sequence[torch.Tensor],
    make_op: Callable[[ProgramBuilder, list[fb.TensorRefT]], fb.TensorRefT | Sequence[fb.TensorRefT]],
    system: fb.SystemDescT | None = None,
    parameters: Sequence[int] = (),
) -> bytes:
    """A program that moves `inputs` to the device, applies `make_op` and returns its result(s).
    The inputs at the indices in `parameters` are weights (ArgumentType.Parameter)."""
    b = ProgramBuilder()
    refs = [
        b.device_input(
            t.shape, DTYPES[t.dtype], f"in{i}", fb.ArgumentType.Parameter if i in parameters else fb.ArgumentType.Input
        )
        for i, t in enumerate(inputs)
    ]
    result = make_op(b, refs)
    for ref in [result] if isinstance(result, fb.TensorRefT) else result:
        b.output(ref)
    return binary_bytes([b.program()], system)


def constant_data(t: torch.Tensor) -> np.ndarray:
    """ConstantOp data: the tensor's elements as little-endian bytes."""
    return np.frombuffer(t.contiguous().view(torch.uint8).numpy().tobytes(), dtype=np.uint8)
