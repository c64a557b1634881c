"""The emulated device's numerics (TT_HARDWARE.md): block-float rounding, the 19-bit
SrcA/SrcB registers, math fidelity phases, 16-bit accumulation, the Fast mode, and the
per-format memory accounting. References are computed here from the hardware facts,
independently of the runtime."""

from __future__ import annotations

import pytest
import torch

from tests.runtime import ttnn_builder as tb
from tt_torch import _C, formats, runtime
from tt_torch._generated import binary_generated as fb

F32, BF16 = fb.DataType.Float32, fb.DataType.BFloat16
# format name -> the runtime's data type name
BFP = {"bfp_bf8": "BFP_BFloat8", "bfp_bf4": "BFP_BFloat4", "bfp_bf2": "BFP_BFloat2"}
FIDELITY = {"lofi": fb.MathFidelity.LoFi, "hifi2": fb.MathFidelity.HiFi2, "hifi3": fb.MathFidelity.HiFi3}


def keep_mantissa(t: torch.Tensor, bits: int) -> torch.Tensor:
    """fp32 `t` with only its top `bits` explicit mantissa bits (the rest cleared)."""
    mask = ~((1 << (23 - bits)) - 1)
    return (t.float().contiguous().view(torch.int32) & mask).view(torch.float32)


def special_values(shape) -> torch.Tensor:
    torch.manual_seed(0)
    x = torch.randn(shape) * torch.logspace(-3, 3, shape[-1])
    flat = x.view(-1)
    flat[:8] = torch.tensor([0.0, -0.0, 1e-40, -3e-39, float("inf"), -float("inf"), float("nan"), 3.4e38])
    flat[40] = 1.0 + 2**-8  # a tie when rounded to 7 magnitude bits in a block of ones
    return x


@pytest.mark.parametrize("fmt", list(BFP))
def test_runtime_block_float_rounding_is_the_packers(fmt):
    """The C++ runtime's device packer == the host format library's device rounding, bit for bit."""
    x = special_values((5, 37, 53))
    ours = _C.round_to_block_float(x, BFP[fmt])
    theirs = formats.round_to_bfp(x, fmt, rounding="device")
    assert torch.equal(ours.isnan(), theirs.isnan())
    assert torch.equal(torch.nan_to_num(ours), torch.nan_to_num(theirs))


@pytest.fixture(scope="module")
def device():
    with runtime.open_device("n150", numerics="emulated") as d:
        yield d


def test_typecast_to_bfloat8_b_rounds_and_is_accounted_per_tile(device):
    x = torch.randn(40, 70)

    def make(b, refs):
        bfp = b.to_layout(refs[0], fb.TensorLayout.Tile, dtype=fb.DataType.BFP_BFloat8)
        return b.to_layout(bfp, fb.TensorLayout.Tile, dtype=F32)

    binary = runtime.load_binary(tb.one_op_binary([x], make))
    device.reset_peaks()
    (out,) = runtime.submit(device, binary, 0, [x])
    assert torch.equal(out, formats.round_to_bfp(x, "bfp_bf8", rounding="device"))
    # live at once: f32 row-major input (40*70*4) and tile (2*3 tiles * 4096), bfp8 (6 * 1088)
    assert device.peak_dram_bytes >= 6 * 4096 + 6 * 1088
    assert formats.tensor_bytes([40, 70], "bfp_bf8") == 6 * 1088


def matmul_binary(a, b, config=None, dtype=F32):
    def make(bld, refs):
        out = bld.like(refs[0], shape=[a.shape[0], b.shape[1]])
        bld.op(fb.MatmulOpT(a=refs[0], b=refs[1], out=out, computeConfig=config))
        return out

    return runtime.load_binary(tb.one_op_binary([a, b], make))


def test_fp32_operands_enter_the_matrix_unit_as_tf32(device):
    a, b = torch.randn(33, 70), torch.randn(70, 20)
    (out,) = runtime.submit(device, matmul_binary(a, b), 0, [a, b])
    torch.testing.assert_close(out, keep_mantissa(a, 10) @ keep_mantissa(b, 10), rtol=1e-6, atol=1e-5)
    assert not torch.allclose(out, a @ b, rtol=1e-6, atol=1e-5)  # TF32 is visibly coarser than fp32


@pytest.mark.parametrize("fidelity", list(FIDELITY))
def test_math_fidelity_phases(device, fidelity):
    """Weights (b) in SrcA split at 1+4 bits, activations (a) in SrcB at 1+6 bits; phases summed:
    LoFi A_hi*B_hi, HiFi2 + A_lo*B_hi, HiFi3 + A_hi*B_lo."""
    a, b = torch.randn(32, 64).bfloat16(), torch.randn(64, 16).bfloat16()
    config = fb.ComputeConfigT(mathFidelity=FIDELITY[fidelity], fp32DestAccEn=True)
    (out,) = runtime.submit(device, matmul_binary(a, b, config), 0, [a, b])
    w, x = b.float(), a.float()
    w_hi, x_hi = keep_mantissa(w, 4), keep_mantissa(x, 6)
    expected = {
        "lofi": x_hi @ w_hi,
        "hifi2": x_hi @ w,
        "hifi3": x_hi @ w + (x - x_hi) @ w_hi,
    }[fidelity]
    torch.testing.assert_close(out.float(), expected.bfloat16().float(), rtol=0, atol=0)


def test_16_bit_accumulation_rounds_per_tile_of_the_inner_dimension(device):
    a, b = torch.randn(8, 96).bfloat16(), torch.randn(96, 8).bfloat16()
    config = fb.ComputeConfigT(mathFidelity=fb.MathFidelity.HiFi4, fp32DestAccEn=False)
    (out,) = runtime.submit(device, matmul_binary(a, b, config), 0, [a, b])
    acc = torch.zeros(8, 8)
    for k in range(0, 96, 32):
        acc = (acc + a[:, k : k + 32].float() @ b[k : k + 32].float()).bfloat16().float()
    assert torch.equal(out.float(), acc)


def test_fast_numerics_skip_the_emulation():
    a, b = torch.randn(33, 70), torch.randn(70, 20)
    config = fb.ComputeConfigT(mathFidelity=fb.MathFidelity.LoFi, fp32DestAccEn=False)
    with runtime.open_device("n150", numerics="fast") as fast:
        assert fast.numerics == "fast"
        (out,) = runtime.submit(fast, matmul_binary(a, b, config), 0, [a, b])
    torch.testing.assert_close(out, a @ b, rtol=1e-5, atol=1e-5)


def test_unknown_numerics_mode_is_a_clear_error(monkeypatch):
    from tt_torch.errors import ConfigError

    with pytest.raises(ConfigError, match="numerics='exact' is not a numerics mode"):
        runtime.open_device("n150", numerics="exact")
    monkeypatch.setenv("TT_TORCH_NUMERICS", "slow")
    with pytest.raises(ConfigError, match="TT_TORCH_NUMERICS='slow'"):
        runtime.open_device("n150")


def multiply_binary(a, b, config=None):
    def make(bld, refs):
        shape = torch.broadcast_shapes(a.shape, b.shape)
        out = bld.like(refs[0], shape=list(shape))
        bld.op(
            fb.EltwiseBinaryOpT(
                type=fb.EltwiseBinaryOpType.Multiply, lhs=refs[0], rhs=refs[1], out=out, computeConfig=config
            )
        )
        return out

    return runtime.load_binary(tb.one_op_binary([a, b], make))


@pytest.mark.parametrize(
    ("a_shape", "b_shape"),
    [((70, 300), (70, 300)), ((1,), (70, 300)), ((70, 300), (1,)), ((70, 1), (1, 300)), ((4, 70, 300), (300,))],
)
@pytest.mark.parametrize("fidelity", ["hifi4", "lofi", "hifi3"])
def test_multiply_registers_and_fidelity_under_broadcasting(device, a_shape, b_shape, fidelity):
    """lhs in SrcA, rhs in SrcB; each element is the phases' sum of the truncated operands."""
    a, b = torch.randn(a_shape), torch.randn(b_shape)
    config = None if fidelity == "hifi4" else fb.ComputeConfigT(mathFidelity=FIDELITY[fidelity], fp32DestAccEn=True)
    (out,) = runtime.submit(device, multiply_binary(a, b, config), 0, [a, b])
    x, y = keep_mantissa(a, 10), keep_mantissa(b, 10)
    x_hi, y_hi = keep_mantissa(a, 4), keep_mantissa(b, 6)
    expected = {"hifi4": x * y, "lofi": x_hi * y_hi, "hifi3": x * y_hi + x_hi * (y - y_hi)}[fidelity]
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)


def test_integer_operands_of_a_float_multiply_are_taken_whole(device):
    """Only fp32 operands lose mantissa bits in the registers; an int32 operand (beyond bf16's
    8 significant bits) multiplies exactly."""
    a = torch.tensor([[1000, 12345, -70001, 3]], dtype=torch.int32)
    b = torch.tensor([[1.0, 2.0, 0.5, 1.0]])

    def make(bld, refs):
        out = bld.like(refs[1])
        bld.op(fb.EltwiseBinaryOpT(type=fb.EltwiseBinaryOpType.Multiply, lhs=refs[0], rhs=refs[1], out=out))
        return out

    (out,) = runtime.submit(device, runtime.load_binary(tb.one_op_binary([a, b], make)), 0, [a, b])
    assert torch.equal(out, a.float() * b)
