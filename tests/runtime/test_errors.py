"""Runtime errors: each names what failed, where, and what to do."""

from __future__ import annotations

import re

import pytest
import torch

from tests.runtime import ttnn_builder as tb
from tt_torch import runtime
from tt_torch._generated import binary_generated as fb
from tt_torch.errors import ConfigError, TTRuntimeError

F32 = fb.DataType.Float32


def add_binary(system=None) -> bytes:
    def make(b, refs):
        out = b.like(refs[0])
        b.op(fb.EltwiseBinaryOpT(type=fb.EltwiseBinaryOpType.Add, lhs=refs[0], rhs=refs[1], out=out), loc="model.py:7")
        return out

    return tb.one_op_binary([torch.zeros(3, 4), torch.zeros(4)], make, system)


@pytest.fixture
def device():
    with runtime.open_device("n150") as d:
        yield d


def test_wrong_input_count(device):
    binary = runtime.load_binary(add_binary())
    with pytest.raises(TTRuntimeError, match=r"program 0 \('main'\) takes 2 input\(s\) \(in0, in1\), got 1"):
        runtime.submit(device, binary, 0, [torch.zeros(3, 4)])


def test_wrong_input_shape(device):
    binary = runtime.load_binary(add_binary())
    with pytest.raises(
        TTRuntimeError, match=r"input 1 \('in1'\) .*: expected \[4\] torch.float32 \(Float32\), got \[5\] torch.float32"
    ):
        runtime.submit(device, binary, 0, [torch.zeros(3, 4), torch.zeros(5)])


def test_wrong_input_dtype(device):
    binary = runtime.load_binary(add_binary())
    with pytest.raises(
        TTRuntimeError, match=r"input 0 \('in0'\) .*expected \[3, 4\] torch.float32 .*got \[3, 4\] torch.int64"
    ):
        runtime.submit(device, binary, 0, [torch.zeros(3, 4, dtype=torch.int64), torch.zeros(4)])


def test_outputs_are_fresh_tensors(device):
    """Outputs share no memory with the inputs, even for a program that returns its input."""
    b = tb.ProgramBuilder()
    x = b.input([2, 3], F32, "x")
    b.outputs.append(x)
    binary = runtime.load_binary(tb.binary_bytes([b.program()]))
    inp = torch.randn(2, 3)
    (out,) = runtime.submit(device, binary, 0, [inp])
    assert torch.equal(out, inp) and out.data_ptr() != inp.data_ptr()


def test_parameters_requiring_grad_give_plain_outputs(device):
    binary = runtime.load_binary(add_binary())
    w = torch.zeros(3, 4, requires_grad=True)
    (out,) = runtime.submit(device, binary, 0, [w, torch.ones(4)])
    assert not out.requires_grad and out.grad_fn is None


def test_arch_mismatch(device):
    binary = runtime.load_binary(add_binary(tb.system_desc("p150")))
    assert binary.arch == "Blackhole"
    with pytest.raises(
        TTRuntimeError,
        match=r"compiled for Blackhole \(system 'p150'\) but device 'n150' is WormholeB0: open a 'p150' device",
    ):
        runtime.submit(device, binary, 0, [torch.zeros(3, 4), torch.zeros(4)])
    with runtime.open_device("p150") as p150:
        runtime.submit(p150, binary, 0, [torch.zeros(3, 4), torch.zeros(4)])
    with runtime.open_device(binary) as own:  # the binary's own system description
        assert (own.name, own.arch) == ("p150", "Blackhole")


def test_unknown_target():
    with pytest.raises(
        ConfigError, match=r"unknown device target 'n999': expected one of 'n150', 'n300', 't3k', 'galaxy', 'p150'"
    ):
        runtime.open_device("n999")


def test_closed_device():
    device = runtime.open_device("n300")
    assert device.num_chips == 2
    device.close()
    binary = runtime.load_binary(add_binary())
    with pytest.raises(TTRuntimeError, match="device 'n300' is closed"):
        runtime.submit(device, binary, 0, [torch.zeros(3, 4), torch.zeros(4)])


def test_op_failure_names_op_and_location(device):
    def make(b, refs):
        out = b.like(refs[0], shape=[3, 5])
        b.op(fb.MatmulOpT(a=refs[0], b=refs[1], out=out), loc="model.py:42 (fc1)", debug="ttnn.matmul %3, %6")
        return out

    binary = runtime.load_binary(tb.one_op_binary([torch.zeros(3, 4), torch.zeros(6, 5)], make))
    with pytest.raises(TTRuntimeError) as info:
        runtime.submit(device, binary, 0, [torch.zeros(3, 4), torch.zeros(6, 5)])
    message = str(info.value)
    assert message.startswith("TTNN op MatmulOp at model.py:42 (fc1) failed: inner dimensions differ: a is [3, 4]")
    assert "op: ttnn.matmul %3, %6" in message
    assert device.dram_bytes_in_use == 0, "a failed program frees its tensors"


def test_aten_errors_are_wrapped_too(device):
    def make(b, refs):
        out = b.like(refs[0])
        b.op(fb.EltwiseBinaryOpT(type=fb.EltwiseBinaryOpType.Add, lhs=refs[0], rhs=refs[1], out=out), loc="m.py:1")
        return out

    binary = runtime.load_binary(tb.one_op_binary([torch.zeros(3, 4), torch.zeros(5)], make))
    with pytest.raises(TTRuntimeError, match=r"^TTNN op EltwiseBinaryOp at m.py:1 failed: Add: The size of tensor a"):
        runtime.submit(device, binary, 0, [torch.zeros(3, 4), torch.zeros(5)])


def test_use_after_deallocate(device):
    def make(b, refs):
        b.op(fb.DeallocateOpT(in_=refs[0], force=False), loc="m.py:2")
        out = b.like(refs[0])
        b.op(fb.EltwiseUnaryOpT(type=fb.EltwiseUnaryOpType.Neg, in_=refs[0], out=out), loc="m.py:3")
        return out

    binary = runtime.load_binary(tb.one_op_binary([torch.zeros(3, 4)], make))
    with pytest.raises(TTRuntimeError, match=r"EltwiseUnaryOp at m.py:3 failed: Neg: tensor 'in' \(%\d+\) is not live"):
        runtime.submit(device, binary, 0, [torch.zeros(3, 4)])


def test_output_left_on_device(device):
    b = tb.ProgramBuilder()
    b.outputs.append(b.device_input([2, 2], F32))
    binary = runtime.load_binary(tb.binary_bytes([b.program()]))
    with pytest.raises(TTRuntimeError, match="is still on the device: a program must return host tensors"):
        runtime.submit(device, binary, 0, [torch.zeros(2, 2)])


def test_block_float_needs_tile_layout(device):
    def make(b, refs):
        return b.to_layout(refs[0], fb.TensorLayout.RowMajor, dtype=fb.DataType.BFP_BFloat8)

    binary = runtime.load_binary(tb.one_op_binary([torch.zeros(3, 4)], make))
    with pytest.raises(
        TTRuntimeError,
        match=r"ToLayoutOp at .* failed: tensor %\d+ \[3, 4\] BFP_BFloat8 RowMajor DRAM: block-float data types "
        "exist only in TILE layout",
    ):
        runtime.submit(device, binary, 0, [torch.zeros(3, 4)])
    with pytest.raises(TTRuntimeError, match="BFP_BFloat8 has no host tensor type"):
        runtime.torch_dtype("BFP_BFloat8")


def test_block_float_with_5_bit_exponent_is_not_emulated(device):
    def make(b, refs):
        return b.to_layout(refs[0], fb.TensorLayout.Tile, dtype=fb.DataType.BFP_Float8)

    binary = runtime.load_binary(tb.one_op_binary([torch.zeros(3, 4)], make))
    with pytest.raises(TTRuntimeError, match="BFP_Float8 .* is not supported by the emulated device; use BFP_BFloat8"):
        runtime.submit(device, binary, 0, [torch.zeros(3, 4)])


# --- device memory --------------------------------------------------------------------------


def tiny_system(dram_bytes: int) -> fb.SystemDescT:
    return tb.system_desc("tiny", dram_channels=1, dram_channel_size=dram_bytes)


def test_dram_budget_exceeded_names_op_tensor_size_and_budget():
    def make(b, refs):
        out = b.like(refs[0])
        b.op(fb.EltwiseUnaryOpT(type=fb.EltwiseUnaryOpType.Exp, in_=refs[0], out=out), loc="model.py:9 (exp)")
        return out

    # The input takes 128 KiB (row-major) + 128 KiB (tile) of the 300 KiB; exp's output does not fit.
    binary = runtime.load_binary(tb.one_op_binary([torch.zeros(128, 256)], make, tiny_system(300 * 1024)))
    with runtime.open_device(binary) as device:
        assert device.dram_bytes == 300 * 1024
        with pytest.raises(TTRuntimeError) as info:
            runtime.submit(device, binary, 0, [torch.zeros(128, 256)])
        assert device.dram_bytes_in_use == 0
        assert device.peak_dram_bytes == 2 * 128 * 1024
    assert re.match(
        r"TTNN op EltwiseUnaryOp at model.py:9 \(exp\) failed: Exp: out of DRAM on device 'tiny': "
        r"tensor %\d+ \[128, 256\] Float32 Tile DRAM needs 131072 bytes \(padded to tiles\), 262144 of 307200 bytes "
        r"are already in use",
        str(info.value),
    )


def test_tile_padding_is_accounted():
    """[1, 33] in TILE layout takes a [32, 64] block: 8192 bytes in fp32, 4096 in bf16."""
    for dtype, tile_bytes, elem in ((torch.float32, 8192, 4), (torch.bfloat16, 4096, 2)):
        b = tb.ProgramBuilder()
        b.output(b.device_input([1, 33], tb.DTYPES[dtype]))
        binary = runtime.load_binary(tb.binary_bytes([b.program()]))
        with runtime.open_device() as device:
            runtime.submit(device, binary, 0, [torch.zeros(1, 33, dtype=dtype)])
            # to_device (row-major) + to_layout(TILE) + to_layout(ROW_MAJOR), all live at the end
            assert device.peak_dram_bytes == 33 * elem + tile_bytes + 33 * elem
            assert device.dram_bytes_in_use == 0


def test_deallocate_frees_dram():
    def program(deallocate: bool) -> bytes:
        b = tb.ProgramBuilder()
        x = b.device_input([64, 64], F32)
        y = b.like(x)
        b.op(fb.EltwiseUnaryOpT(type=fb.EltwiseUnaryOpType.Relu, in_=x, out=y))
        if deallocate:
            b.op(fb.DeallocateOpT(in_=x, force=False))
        z = b.like(x)
        b.op(fb.EltwiseUnaryOpT(type=fb.EltwiseUnaryOpType.Neg, in_=y, out=z))
        b.output(z)
        return tb.binary_bytes([b.program()])

    peaks = []
    for deallocate in (False, True):
        with runtime.open_device() as device:
            (out,) = runtime.submit(device, runtime.load_binary(program(deallocate)), 0, [torch.ones(64, 64)])
            assert torch.equal(out, -torch.ones(64, 64))
            peaks.append(device.peak_dram_bytes)
    assert peaks[0] - peaks[1] == 64 * 64 * 4


def test_full_checks_the_budget_before_building_the_tensor():
    b = tb.ProgramBuilder()
    out = b.ref([1 << 20, 1 << 12], F32, fb.TensorLayout.Tile, fb.BufferType.DRAM)  # 16 GiB
    b.op(fb.FullOpT(out=out, fillValue=1.0), loc="model.py:1 (ones)")
    b.output(out)
    binary = runtime.load_binary(tb.binary_bytes([b.program()]))
    with (
        runtime.open_device() as device,
        pytest.raises(TTRuntimeError, match=r"FullOp .* out of DRAM on device 'n150'"),
    ):
        runtime.submit(device, binary, 0, [])
