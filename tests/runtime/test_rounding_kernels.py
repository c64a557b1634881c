"""The emulated device's rounding kernels (numerics.cpp) bit for bit against references
computed here from the formats' definitions (TT_HARDWARE.md, docs/device.md): the matrix
unit's register truncation, bf16 rounding (the 16-bit Dst register) and the block-float
packer, on ties, denormals, inf/NaN, shared exponents, block tails, strided layouts and
tensors large enough to be shared out over threads. Then the linear's epilogue: a bias
that joins the kernel and an activation applied in place give the bits of the product
plus the bias, activated by ATen."""

from __future__ import annotations

import pytest
import torch

from tests.runtime import ttnn_builder as tb
from tt_torch import _C, formats, runtime
from tt_torch._generated import binary_generated as fb

BFP = {"bfp_bf8": "BFP_BFloat8", "bfp_bf4": "BFP_BFloat4", "bfp_bf2": "BFP_BFloat2"}


def from_bits(bits) -> torch.Tensor:
    """fp32 values with the given 32-bit patterns (ints in [0, 2**32))."""
    t = torch.as_tensor(bits, dtype=torch.int64)
    return torch.where(t >= 2**31, t - 2**32, t).to(torch.int32).view(torch.float32)


def bits_of(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous().view(torch.int32).to(torch.int64) & 0xFFFFFFFF


def assert_same_bits(ours: torch.Tensor, reference: torch.Tensor) -> None:
    """Equal bit patterns, except that any NaN matches any NaN (payloads are unspecified)."""
    assert ours.shape == reference.shape and ours.dtype == reference.dtype == torch.float32
    nan = reference.isnan()
    assert torch.equal(ours.isnan(), nan)
    differ = (bits_of(ours) != bits_of(reference)) & ~nan
    assert not differ.any(), (
        f"{int(differ.sum())} values differ, first: input index {differ.nonzero()[0].tolist()}, "
        f"ours {ours[differ][0].item()!r}, reference {reference[differ][0].item()!r}"
    )


def random_bits(n: int, seed: int = 0) -> torch.Tensor:
    """Every kind of fp32: random 32-bit patterns (NaNs, infs, denormals, zeros included)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(-(2**31), 2**31 - 1, (n,), generator=g, dtype=torch.int32).view(torch.float32)


def special_floats() -> torch.Tensor:
    patterns = [
        0x00000000, 0x80000000,  # +-0
        0x00000001, 0x80000001, 0x007FFFFF, 0x00400000, 0x00008000, 0x00018000,  # denormals (ties too)
        0x00800000, 0x80800000, 0x7F7FFFFF, 0xFF7FFFFF,  # smallest normal, largest finite
        0x7F7F8000, 0x7F7F7FFF, 0x7F7EFFFF, 0x7F7E8000,  # ties and near-ties at the top of the range
        0x7F800000, 0xFF800000,  # +-inf
        0x7FC00000, 0xFFC00000, 0x7F800001, 0x7FBFFFFF, 0xFF800001, 0x7FFFFFFF,  # NaNs, quiet and signalling
        0x3F808000, 0x3F818000, 0x3F808001, 0x3F807FFF, 0xBF808000, 0xBF818000,  # bf16 ties: even, odd, off by one
        0x3F800FFF, 0x3F801000, 0x3F802000, 0x3F803FFF,  # TF32's dropped bits
    ]  # fmt: skip
    return from_bits(patterns)


# ---- the matrix unit's register truncation (TF32 and the fidelity phases' high bits) ----


def keep_mantissa(t: torch.Tensor, bits: int) -> torch.Tensor:
    mask = ~((1 << (23 - bits)) - 1)
    return (t.contiguous().view(torch.int32) & mask).view(torch.float32)


@pytest.mark.parametrize("bits", [4, 6, 7, 10, 22])
def test_truncation_keeps_the_top_mantissa_bits(bits):
    x = torch.cat([special_floats(), random_bits(100_003)])  # several threads' chunks, and a tail
    assert_same_bits(_C.truncate_mantissa(x, bits), keep_mantissa(x, bits))
    assert _C.truncate_mantissa(x, 23) is x or torch.equal(_C.truncate_mantissa(x, 23), x)


def test_truncation_keeps_the_layout_of_strided_operands():
    """A channels-last activation stays channels-last; a transposed key stays transposed."""
    x = torch.randn(2, 24, 7, 5).contiguous(memory_format=torch.channels_last)
    out = _C.truncate_mantissa(x, 10)
    assert out.stride() == x.stride()
    assert_same_bits(out, keep_mantissa(x, 10))
    k = torch.randn(3, 70, 33).transpose(-1, -2)
    out = _C.truncate_mantissa(k, 10)
    assert out.stride() == k.stride()
    assert_same_bits(out, keep_mantissa(k, 10))
    sliced = torch.randn(40, 50)[::3, 1::2]  # neither contiguous nor dense
    assert_same_bits(_C.truncate_mantissa(sliced, 10), keep_mantissa(sliced, 10))
    for empty in (torch.randn(0, 5), torch.tensor(1.5)):
        assert_same_bits(_C.truncate_mantissa(empty, 10), keep_mantissa(empty, 10))


# ---- bf16 rounding (the Dst register in 16-bit mode) -----------------------------------


def round_bf16_reference(x: torch.Tensor) -> torch.Tensor:
    """Round to nearest, ties to even, on the bits; NaN stays NaN."""
    u = bits_of(x)
    rounded = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
    return torch.where(x.isnan(), float("nan"), from_bits(rounded & 0xFFFFFFFF).reshape(x.shape))


def test_bf16_rounding_ties_denormals_overflow_and_nan():
    x = torch.cat([special_floats(), random_bits(100_003, seed=1)])
    ours = _C.round_to_bfloat16(x)
    assert_same_bits(ours, round_bf16_reference(x))
    # and the rounding libtorch does (its NaN patterns differ between its loops: any NaN)
    assert_same_bits(ours, x.bfloat16().float())
    # the largest finite fp32 is past bf16's range: inf; a tie at an even code stays
    assert _C.round_to_bfloat16(from_bits([0x7F7FFFFF, 0xFF7F8000])).tolist() == [float("inf"), -float("inf")]
    assert bits_of(_C.round_to_bfloat16(from_bits([0x3F808000])))[0] == 0x3F800000
    assert bits_of(_C.round_to_bfloat16(from_bits([0x3F818000])))[0] == 0x3F820000


def test_bf16_rounding_of_strided_and_non_fp32_tensors():
    x = torch.randn(6, 40, 9).permute(2, 0, 1)
    out = _C.round_to_bfloat16(x)
    assert out.stride() == x.stride()
    assert_same_bits(out, round_bf16_reference(x))
    half = torch.randn(33).half()
    assert_same_bits(_C.round_to_bfloat16(half), half.float().bfloat16().float())


# ---- the block-float packer (bfloat8_b / 4_b / 2_b) --------------------------------------


def shared_exponent_blocks() -> torch.Tensor:
    """Rows of 16-value blocks that exercise the shared exponent: one large value and
    values 0..30 binades below it (shifted partly or wholly out), ties at the rounding
    point with even and odd codes, saturation, inf and NaN in a block, denormals."""
    rows = []
    for lead in (1.0, 1.9999999, -3.0, 2.0**-120, 2.0**120, 1.5 * 2.0**-126):
        row = [lead] + [lead * 1.37 * 2.0**-d for d in range(0, 30, 2)]
        rows.append(row)
    # ties: with a shared exponent e, 7 magnitude bits keep 2**(e-6) steps; v = (q + 1/2) steps
    step = 2.0**-6
    rows.append([1.0] + [(q + 0.5) * step for q in range(0, 15)])
    rows.append([-1.0] + [-(q + 0.5) * step * 2 for q in range(0, 15)])
    rows.append([1.0 + 2**-7 * k for k in range(16)])  # ties at the leading binade: 1 + (2k+1)/2**7
    rows.append([1.9999] * 8 + [1.99, 1.992, 1.9921875, 1.996, -1.9999, 1.0, 0.0, -0.0])  # saturates at 127
    rows.append([float("inf"), 1.0, -2.0, 2.0**127, 3.0e38, -1.0e-3, 0.0, 5.0] + [1.0] * 8)
    rows.append([float("-inf"), float("nan"), 1.0] + [2.0**k for k in range(-6, 7)])
    rows.append([1e-40, -3e-39, 1e-45, 0.0] * 4)  # denormals only: all flushed
    rows.append([1e-40, 2.0**-126, -(2.0**-125), 2.0**-120] * 4)  # results below the normal range
    return torch.tensor(rows, dtype=torch.float32)


@pytest.mark.parametrize("fmt", list(BFP))
def test_block_float_edge_cases_are_the_packers(fmt):
    x = shared_exponent_blocks()
    assert_same_bits(_C.round_to_block_float(x, BFP[fmt]), formats.round_to_bfp(x, fmt, rounding="device"))


@pytest.mark.parametrize("fmt", list(BFP))
@pytest.mark.parametrize("cols", [1, 15, 16, 17, 33, 48])
def test_block_float_blocks_and_tails(fmt, cols):
    """Rows shorter than a block, whole blocks, and a partial block ending each row; random
    bit patterns (NaN, inf, denormals) and values within a few binades (real rounding)."""
    g = torch.Generator().manual_seed(cols)
    near = torch.randn(37, cols, generator=g) * 2.0 ** torch.randint(-4, 5, (37, cols), generator=g)
    for x in (random_bits(37 * cols, seed=cols).reshape(37, cols), near, near.reshape(1, 37, cols)):
        assert_same_bits(_C.round_to_block_float(x, BFP[fmt]), formats.round_to_bfp(x, fmt, rounding="device"))


def test_block_float_large_strided_and_degenerate_inputs():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(64, 1000, 37, generator=g).transpose(1, 2)  # blocks along the (strided) last dim
    assert_same_bits(_C.round_to_block_float(x, "BFP_BFloat8"), formats.round_to_bfp(x, "bfp_bf8", rounding="device"))
    for value in (torch.tensor(-2.75), torch.randn(0, 16), torch.randn(4, 0), torch.randn(9, 20).double()):
        assert_same_bits(
            _C.round_to_block_float(value, "BFP_BFloat4"), formats.round_to_bfp(value, "bfp_bf4", rounding="device")
        )


# ---- the linear's epilogue ---------------------------------------------------------------

FIDELITIES = {"hifi4": fb.MathFidelity.HiFi4, "hifi2": fb.MathFidelity.HiFi2, "hifi3": fb.MathFidelity.HiFi3}


def linear_binary(x, w, bias, activation, fidelity):
    config = fb.ComputeConfigT(mathFidelity=FIDELITIES[fidelity], fp32DestAccEn=True)

    def make(bld, refs):
        out = bld.like(refs[0], shape=[*x.shape[:-1], w.shape[0]])
        table = fb.LinearOpT(a=refs[0], b=refs[1], bias=refs[2] if bias is not None else None, out=out, transposeB=True)
        table.activation = activation
        table.computeConfig = config
        bld.op(table)
        return out

    inputs = [x, w] if bias is None else [x, w, bias]
    return runtime.load_binary(tb.one_op_binary(inputs, make, parameters=(1, 2))), inputs


@pytest.fixture(scope="module")
def device():
    with runtime.open_device("n150", numerics="emulated") as d:
        yield d


# small enough for ATen's BLAS path; large enough for oneDNN's (the bias joins the kernel)
SIZES = {"aten": (15, 32, 24), "onednn": (128, 256, 256)}


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("fidelity", list(FIDELITIES))
@pytest.mark.parametrize("activation", list(tb.ACTIVATIONS))
def test_linear_epilogue_equals_the_product_plus_bias_activated_by_aten(device, size, fidelity, activation):
    m, k, n = SIZES[size]
    x, w, bias = torch.randn(m, k), torch.randn(n, k) / k**0.5, torch.randn(n)
    x[0, :4] = torch.tensor([float("nan"), float("inf"), -0.0, 1e-40])  # NaN rows and a -inf/inf product
    bias[:2] = torch.tensor([-0.0, float("-inf")])
    binary, inputs = linear_binary(x, w, None, fb.Activation.None_, fidelity)
    (product,) = runtime.submit(device, binary, 0, inputs)
    expected = tb.ACTIVATIONS[activation](product + bias)
    binary, inputs = linear_binary(x, w, bias, activation, fidelity)
    for _ in range(2):  # the second call reads the cached (packed) weight
        (out,) = runtime.submit(device, binary, 0, inputs)
        assert_same_bits(out, expected)


# ---- the conv2d's epilogue (residual blocks) -----------------------------------------------


def conv_binary(shape, inputs, activation, fidelity):
    """A 3x3 conv2d (padding 1) of inputs [x, weight, bias], with the residual inputs[3] when
    given, loaded."""
    n, _, h, w, _ = shape
    config = fb.ComputeConfigT(mathFidelity=FIDELITIES[fidelity], fp32DestAccEn=True)

    def make(bld, refs):
        fields = {"activation": activation, "computeConfig": config, "residual": refs[3] if len(refs) > 3 else None}
        return tb.conv2d(bld, *refs[:3], batch=n, height=h, width=w, padding=(1, 1, 1, 1), **fields)

    return runtime.load_binary(tb.one_op_binary(inputs, make, parameters=(1, 2)))


@pytest.mark.parametrize("size", list(tb.CONV_SIZES))
@pytest.mark.parametrize("fidelity", ["hifi4", "hifi3"])
@pytest.mark.parametrize("activation", [fb.Activation.Relu, fb.Activation.Silu, fb.Activation.None_])
def test_conv_epilogue_equals_the_product_plus_residual_activated_by_aten(device, size, fidelity, activation):
    """ATen's convolution, and oneDNN's (the residual joins the kernel when the product is one pass)."""
    n, cin, h, w, cout = tb.CONV_SIZES[size]
    x = torch.randn(1, 1, n * h * w, cin)
    weight, bias = torch.randn(cout, cin, 3, 3) / (3 * cin**0.5), torch.randn(1, 1, 1, cout)
    residual = torch.randn(1, 1, n * h * w, cout)
    residual[0, 0, :3, 0] = torch.tensor([float("nan"), -float("inf"), -0.0])
    plain = conv_binary(tb.CONV_SIZES[size], [x, weight, bias], fb.Activation.None_, fidelity)
    (product,) = runtime.submit(device, plain, 0, [x, weight, bias])
    expected = tb.ACTIVATIONS[activation](product + residual)
    fused = conv_binary(tb.CONV_SIZES[size], [x, weight, bias, residual], activation, fidelity)
    for _ in range(2):
        (out,) = runtime.submit(device, fused, 0, [x, weight, bias, residual])
        assert_same_bits(out, expected)
