"""Each op family of the schema, run on the emulated device and compared with eager torch.

Every case builds a one-op program (inputs -> device -> TILE -> op -> ROW_MAJOR -> host)
with the generated object API; the tables below are the op list, one entry per kind.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.runtime import ttnn_builder as tb
from tt_torch import runtime
from tt_torch._generated import binary_generated as fb
from tt_torch.errors import TTRuntimeError

# Tolerances by output dtype: float math runs in fp32, then rounds to the output format.
TOLERANCE = {
    torch.float32: {"rtol": 1e-5, "atol": 1e-5},
    torch.bfloat16: {"rtol": 1.6e-2, "atol": 1e-2},
    torch.int32: {"rtol": 0, "atol": 0},
}
F32, BF16, I32 = fb.DataType.Float32, fb.DataType.BFloat16, fb.DataType.Int32


def tf32(t: torch.Tensor) -> torch.Tensor:
    """An fp32 operand as the matrix unit's SrcA/SrcB register holds it (TT_HARDWARE.md):
    the low 13 of its 23 mantissa bits dropped. Matmul, conv and multiply see operands so."""
    if t.dtype != torch.float32:
        return t
    return (t.contiguous().view(torch.int32) & ~0x1FFF).view(torch.float32)


@pytest.fixture(scope="module")
def device():
    with runtime.open_device("n150") as d:
        yield d


def run(device, inputs, make_op, parameters=()):
    binary = runtime.load_binary(tb.one_op_binary(inputs, make_op, parameters=parameters))
    outputs = runtime.submit(device, binary, 0, inputs)
    assert device.dram_bytes_in_use == 0, "every device tensor is freed when the program ends"
    return outputs


def check(actual: torch.Tensor, expected: torch.Tensor):
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    torch.testing.assert_close(actual, expected, **TOLERANCE.get(expected.dtype, {}), equal_nan=True)


# --- eltwise ----------------------------------------------------------------------------

U = fb.EltwiseUnaryOpType
POSITIVE = {U.Log, U.Sqrt, U.Rsqrt, U.Reciprocal, U.Log1p}
UNARY = {
    U.Abs: torch.abs,
    U.Neg: torch.neg,
    U.Exp: torch.exp,
    U.Log: torch.log,
    U.Sqrt: torch.sqrt,
    U.Rsqrt: torch.rsqrt,
    U.Reciprocal: torch.reciprocal,
    U.Tanh: torch.tanh,
    U.Sigmoid: torch.sigmoid,
    U.Relu: torch.relu,
    U.Gelu: F.gelu,
    U.Erf: torch.erf,
    U.Sin: torch.sin,
    U.Cos: torch.cos,
    U.Floor: torch.floor,
    U.Ceil: torch.ceil,
    U.Sign: torch.sign,
    U.LogicalNot: lambda x: torch.logical_not(x).to(x.dtype),
    U.Log1p: torch.log1p,
    U.Expm1: torch.expm1,
    U.Silu: F.silu,
    U.IsFinite: lambda x: torch.isfinite(x).to(x.dtype),
    U.GeluTanh: lambda x: F.gelu(x, approximate="tanh"),
}


def unary_op(kind):
    def make(b, refs):
        out = b.like(refs[0])
        b.op(fb.EltwiseUnaryOpT(type=kind, in_=refs[0], out=out))
        return out

    return make


def test_every_unary_kind_has_a_case():
    assert set(UNARY) | set(BITWISE_UNARY) == {v for k, v in vars(U).items() if not k.startswith("_")}


@pytest.mark.parametrize("kind", list(UNARY), ids=lambda k: fb_name(U, k))
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_unary(device, kind, dtype):
    x = torch.randn(3, 37) * 3
    if kind in POSITIVE:
        x = x.abs() + 0.1
    if kind == U.LogicalNot:
        x[0, :5] = 0
    if kind == U.IsFinite:
        x[1, 0], x[1, 1] = float("inf"), float("nan")
    x = x.to(dtype)
    (out,) = run(device, [x], unary_op(kind))
    check(out, UNARY[kind](x.float()).to(dtype))


@pytest.mark.parametrize("kind", [U.Abs, U.Neg, U.Relu, U.Sign])
def test_unary_on_integers(device, kind):
    x = torch.randint(-50, 50, (4, 5), dtype=torch.int32)
    (out,) = run(device, [x], unary_op(kind))
    check(out, UNARY[kind](x))


B = fb.EltwiseBinaryOpType
BINARY = {
    B.Add: torch.add,
    B.Subtract: torch.sub,
    B.Multiply: lambda a, b: torch.mul(tf32(a), tf32(b)),
    B.Divide: torch.div,
    B.Maximum: torch.maximum,
    B.Minimum: torch.minimum,
    B.Pow: torch.pow,
    B.Remainder: torch.fmod,
    B.Atan2: torch.atan2,
    B.Equal: torch.eq,
    B.NotEqual: torch.ne,
    B.LessThan: torch.lt,
    B.LessEqual: torch.le,
    B.GreaterThan: torch.gt,
    B.GreaterEqual: torch.ge,
    B.LogicalAnd: torch.logical_and,
    B.LogicalOr: torch.logical_or,
    B.LogicalXor: torch.logical_xor,
}


def binary_op(kind, out_dtype=None):
    def make(b, refs):
        lhs, rhs = refs
        shape = torch.broadcast_shapes(tuple(lhs.desc.shape), tuple(rhs.desc.shape))
        out = b.like(lhs, shape=shape, dtype=out_dtype)
        b.op(fb.EltwiseBinaryOpT(type=kind, lhs=lhs, rhs=rhs, out=out), loc=f"test_ops.py:{fb_name(B, kind)}")
        return out

    return make


def test_every_binary_kind_has_a_case():
    assert set(BINARY) | set(BITWISE) == {v for k, v in vars(B).items() if not k.startswith("_")}


@pytest.mark.parametrize("kind", list(BINARY), ids=lambda k: fb_name(B, k))
def test_binary_with_broadcast(device, kind):
    a = torch.randn(2, 3, 40)
    b = torch.randn(3, 1)
    if kind == B.Pow:
        a = a.abs() + 0.5
    if kind in (B.Equal, B.NotEqual, B.LessEqual, B.GreaterEqual):
        b = a[0, :, :1].clone()  # some equal elements
    if kind in (B.LogicalAnd, B.LogicalOr, B.LogicalXor):
        a[0, 0, :7] = 0
        b[1] = 0
    (out,) = run(device, [a, b], binary_op(kind))
    check(out, BINARY[kind](a, b).to(torch.float32))


@pytest.mark.parametrize(
    ("kind", "expected"),
    [(B.Divide, [-3, -3, 3, 3, 0]), (B.Remainder, [-1, 1, 1, -1, 3]), (B.Multiply, [-14, -14, 14, 14, 12])],
)
def test_binary_on_integers(device, kind, expected):
    a = torch.tensor([-7, 7, 7, -7, 3], dtype=torch.int32)
    b = torch.tensor([2, -2, 2, -2, 4], dtype=torch.int32)
    (out,) = run(device, [a, b], binary_op(kind))
    check(out, torch.tensor(expected, dtype=torch.int32))


# --- bitwise and shift ops: NumPy on the declared integer type is the reference ------------

_NP = {torch.int32: np.int32, torch.uint32: np.uint32, torch.uint16: np.uint16, torch.uint8: np.uint8}


def _np_shift(op):
    """NumPy's shift with StableHLO's rule for amounts at or past the width (NumPy's own
    result is undefined there): every bit shifted out, the sign fill for an arithmetic shift."""

    def shifted(a, s):
        width = a.dtype.itemsize * 8
        big = (s.astype(np.int64) < 0) | (s.astype(np.int64) >= width)
        safe = np.where(big, 0, s).astype(a.dtype)
        if op == "left":
            return np.where(big, 0, np.left_shift(a, safe)).astype(a.dtype)
        if op == "logical":
            bits = a.view(np.dtype(f"uint{width}"))
            return np.where(big, 0, np.right_shift(bits, safe.astype(bits.dtype))).astype(bits.dtype).view(a.dtype)
        signed = a.view(np.dtype(f"int{width}"))
        fill = np.where(signed < 0, -1, 0).astype(signed.dtype)
        return np.where(big, fill, np.right_shift(signed, safe.astype(signed.dtype))).view(a.dtype)

    return shifted


BITWISE = {
    B.BitwiseAnd: np.bitwise_and,
    B.BitwiseOr: np.bitwise_or,
    B.BitwiseXor: np.bitwise_xor,
    B.LogicalLeftShift: _np_shift("left"),
    B.LogicalRightShift: _np_shift("logical"),
    B.RightShift: _np_shift("arithmetic"),
}
BITWISE_UNARY = {U.BitwiseNot: np.invert}
_SHIFTS = {B.LogicalLeftShift, B.LogicalRightShift, B.RightShift}


def _ints(dtype, shape, generator, extremes=True):
    info = np.iinfo(_NP[dtype])
    x = np.random.default_rng(generator).integers(info.min, info.max, size=shape, endpoint=True).astype(_NP[dtype])
    if extremes:
        flat = x.reshape(-1)
        flat[:4] = [info.min, info.max, 0, 1][: flat.size]
    return x


@pytest.mark.parametrize("dtype", [torch.int32, torch.uint32, torch.uint16, torch.uint8], ids=str)
@pytest.mark.parametrize("kind", list(BITWISE), ids=lambda k: fb_name(B, k))
def test_bitwise_and_shifts_on_the_bits_of_the_type(device, kind, dtype):
    a = _ints(dtype, (3, 40), 0)
    width = np.iinfo(_NP[dtype]).bits
    if kind in _SHIFTS:  # every amount in range, the width, past it, and (as unsigned) negative ones
        b = np.resize(np.arange(-3, width + 3), (1, 40)).astype(np.int64).astype(_NP[dtype])
    else:
        b = _ints(dtype, (1, 40), 1)
    (out,) = run(device, [torch.from_numpy(a), torch.from_numpy(b)], binary_op(kind))
    assert out.dtype == dtype
    np.testing.assert_array_equal(out.numpy(), BITWISE[kind](a, b))


@pytest.mark.parametrize("dtype", [torch.int32, torch.uint32, torch.uint16, torch.uint8], ids=str)
def test_bitwise_not(device, dtype):
    x = _ints(dtype, (4, 9), 2)
    (out,) = run(device, [torch.from_numpy(x)], unary_op(U.BitwiseNot))
    assert out.dtype == dtype
    np.testing.assert_array_equal(out.numpy(), np.invert(x))


def test_bitwise_ops_refuse_floats(device):
    a = torch.randn(2, 3)
    with pytest.raises(TTRuntimeError, match="BitwiseAnd works on integers"):
        run(device, [a, a], binary_op(B.BitwiseAnd))


def test_uint32_holds_every_value_and_compares_unsigned(device):
    a = torch.tensor([0, 1, 2**31, 2**32 - 1], dtype=torch.uint32)
    b = torch.tensor([1, 1, 5, 2**31], dtype=torch.uint32)
    (gt,) = run(device, [a, b], binary_op(B.GreaterThan))
    assert gt.tolist() == [0, 0, 1, 1] and gt.dtype == torch.uint32
    (div,) = run(device, [a, b], binary_op(B.Divide))
    assert div.numpy().tolist() == [0, 1, 2**31 // 5, 1]


def test_uint32_overflow_is_reported(device):
    a = torch.tensor([2**32 - 1, 3], dtype=torch.uint32)
    with pytest.raises(TTRuntimeError, match=r"outside the device's uint32 range \[0, 4294967295\]"):
        run(device, [a, a], binary_op(B.Add))


def test_compare_writes_one_or_zero_in_the_output_type(device):
    a = torch.tensor([[1, 5, 3]], dtype=torch.int32)
    b = torch.tensor([[2, 5, 1]], dtype=torch.int32)
    (out,) = run(device, [a, b], binary_op(B.GreaterEqual, out_dtype=BF16))
    check(out, torch.tensor([[0, 1, 1]], dtype=torch.bfloat16))


def test_binary_bfloat16_rounds_the_fp32_result(device):
    a, b = torch.randn(8, 33).bfloat16(), torch.randn(8, 33).bfloat16()
    (out,) = run(device, [a, b], binary_op(B.Multiply))
    assert torch.equal(out, (a.float() * b.float()).bfloat16())


def ternary_op(kind):
    def make(b, refs):
        out = b.like(refs[1])
        b.op(fb.EltwiseTernaryOpT(type=kind, first=refs[0], second=refs[1], third=refs[2], out=out))
        return out

    return make


def test_where(device):
    cond = (torch.randn(4, 5) > 0).float()
    x, y = torch.randn(4, 5), torch.randn(1, 5)
    (out,) = run(device, [cond, x, y], ternary_op(fb.EltwiseTernaryOpType.Where))
    check(out, torch.where(cond != 0, x, y))


def test_clamp(device):
    x = torch.randn(4, 5) * 3
    lo, hi = torch.full((4, 5), -1.0), torch.full((1, 5), 0.5)
    (out,) = run(device, [x, lo, hi], ternary_op(fb.EltwiseTernaryOpType.Clamp))
    check(out, torch.clamp(x, lo, hi))


# --- matmul -----------------------------------------------------------------------------


def matmul_shape(a, b, ta, tb):
    a = a.transpose(-1, -2) if ta else a
    b = b.transpose(-1, -2) if tb else b
    return torch.matmul(a, b)


@pytest.mark.parametrize(
    ("a_shape", "b_shape", "ta", "tb"),
    [
        ((7, 40), (40, 9), False, False),
        ((40, 7), (40, 9), True, False),
        ((7, 40), (9, 40), False, True),
        ((40, 7), (9, 40), True, True),
        ((2, 3, 7, 40), (40, 9), False, False),  # batched x unbatched
        ((2, 1, 7, 40), (3, 40, 9), False, False),  # batch broadcast
        ((3, 7, 40), (3, 9, 40), False, True),
    ],
)
def test_matmul(device, a_shape, b_shape, ta, tb):
    a, b = torch.randn(a_shape), torch.randn(b_shape)
    expected = matmul_shape(tf32(a), tf32(b), ta, tb)

    def make(bld, refs):
        out = bld.like(refs[0], shape=expected.shape)
        bld.op(fb.MatmulOpT(a=refs[0], b=refs[1], out=out, transposeA=ta, transposeB=tb))
        return out

    (out,) = run(device, [a, b], make)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("with_bias", [True, False])
def test_linear(device, with_bias):
    x, w, bias = torch.randn(2, 5, 16), torch.randn(24, 16), torch.randn(24)
    expected = F.linear(tf32(x), tf32(w), bias if with_bias else None)

    def make(bld, refs):
        out = bld.like(refs[0], shape=expected.shape)
        bld.op(
            fb.LinearOpT(a=refs[0], b=refs[1], bias=refs[2] if with_bias else None, out=out, transposeB=True),
            loc="model.py:12 (fc1)",
        )
        return out

    (out,) = run(device, [x, w, bias], make)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)


def test_matmul_on_integers(device):
    a = torch.randint(-1000, 1000, (3, 5, 7), dtype=torch.int32)
    b = torch.randint(-1000, 1000, (7, 4), dtype=torch.int32)

    def make(bld, refs):
        out = bld.like(refs[0], shape=[3, 5, 4])
        bld.op(fb.MatmulOpT(a=refs[0], b=refs[1], out=out))
        return out

    (out,) = run(device, [a, b], make)
    check(out, a @ b)  # exact: integer math stays integer


def test_matmul_bfloat16(device):
    a, b = torch.randn(8, 64).bfloat16(), torch.randn(64, 16).bfloat16()

    def make(bld, refs):
        out = bld.like(refs[0], shape=[8, 16])
        bld.op(fb.MatmulOpT(a=refs[0], b=refs[1], out=out))
        return out

    (out,) = run(device, [a, b], make)
    check(out, (a.float() @ b.float()).bfloat16())


@pytest.fixture(scope="module", params=["emulated", "fast"])
def numerics_device(request):
    with runtime.open_device("n150", numerics=request.param) as d:
        yield request.param, d


# (batch shape, in features, out features): small enough for ATen's BLAS path, and large
# enough (>= 2^22 multiply-adds) for oneDNN's with the weight reordered once
LINEAR_SIZES = {"aten": ((3, 5), 32, 24), "onednn": ((2, 64), 256, 256)}


@pytest.mark.parametrize("size", list(LINEAR_SIZES))
@pytest.mark.parametrize("activation", list(tb.ACTIVATIONS))
@pytest.mark.parametrize("transpose_b", [True, False])
def test_linear_with_weights_and_activation(numerics_device, size, activation, transpose_b):
    """A parameter weight (packed once for oneDNN and cached when the product is large)
    and a fused activation, in both numerics; the second call reads the cached weight."""
    numerics, device = numerics_device
    batch, k, n = LINEAR_SIZES[size]
    x, w, bias = torch.randn(*batch, k), torch.randn(n, k) / k**0.5, torch.randn(n)
    operand = tf32 if numerics == "emulated" else (lambda t: t)
    expected = tb.ACTIVATIONS[activation](F.linear(operand(x), operand(w), bias))
    weight = w if transpose_b else w.t().contiguous()

    def make(bld, refs):
        out = bld.like(refs[0], shape=expected.shape)
        table = fb.LinearOpT(a=refs[0], b=refs[1], bias=refs[2], out=out, transposeB=transpose_b)
        table.activation = activation
        bld.op(table)
        return out

    for _ in range(2):
        (out,) = run(device, [x, weight, bias.reshape(1, 1, n)], make, parameters=(1, 2))
        torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)


def test_packed_linear_weight_follows_in_place_updates():
    """The cached oneDNN copy of a weight belongs to the weight's version: an in-place
    update is seen on the next call."""
    x, w = torch.randn(64, 256), torch.randn(256, 256) / 16  # large enough for oneDNN

    def make(bld, refs):
        out = bld.like(refs[0], shape=[64, 256])
        bld.op(fb.LinearOpT(a=refs[0], b=refs[1], out=out, transposeB=True))
        return out

    binary = runtime.load_binary(tb.one_op_binary([x, w], make, parameters=(1,)))
    with runtime.open_device("n150", numerics="fast") as device:
        (first,) = runtime.submit(device, binary, 0, [x, w])
        torch.testing.assert_close(first, x @ w.t(), rtol=1e-4, atol=1e-4)
        w.mul_(-2)
        (second,) = runtime.submit(device, binary, 0, [x, w])
        torch.testing.assert_close(second, x @ w.t(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("kind", "ref"), [("LayerNorm", "layer"), ("RmsNorm", "rms")])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_norm(device, kind, ref, affine, dtype):
    x = (torch.randn(2, 7, 48) * 3 + 1).to(dtype)
    weight, bias = torch.randn(48), torch.randn(48)
    xf = x.float()
    if ref == "layer":
        expected = F.layer_norm(xf, (48,), weight if affine else None, bias if affine else None, 1e-5)
    else:
        expected = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-5)
        if affine:
            expected = expected * weight + bias
    inputs = [x] + ([weight.reshape(1, 48), bias] if affine else [])

    def make(bld, refs):
        out = bld.like(refs[0])
        table = getattr(fb, f"{kind}OpT")(
            in_=refs[0],
            weight=refs[1] if affine else None,
            bias=refs[2] if affine else None,
            out=out,
            epsilon=1e-5,
        )
        bld.op(table)
        return out

    (out,) = run(device, inputs, make)
    check(out, expected.to(dtype))


def test_norm_rejects_a_weight_of_another_size(device):
    x, weight = torch.randn(2, 16), torch.randn(8)

    def make(bld, refs):
        out = bld.like(refs[0])
        bld.op(fb.LayerNormOpT(in_=refs[0], weight=refs[1], out=out, epsilon=1e-5), loc="model.py:3 (ln)")
        return out

    with pytest.raises(TTRuntimeError, match=r"weight has 8 elements .* normalized last dim has 16"):
        run(device, [x, weight], make)


# --- attention ------------------------------------------------------------------------------


def attention_reference(q, k, v, mask, causal, scale, operand=lambda t: t, held=lambda t: t):
    """softmax(q @ k^T * scale + mask) @ v in fp32, written out: key/value heads repeated for
    the query's, the causal triangle top-left aligned, rows with every score masked zero.
    `operand` is what the matrix unit's registers make of a product's operands, `held` the
    format the attention weights are kept in between the products."""
    groups = q.shape[1] // k.shape[1]
    k, v = k.float().repeat_interleave(groups, 1), v.float().repeat_interleave(groups, 1)
    scores = operand(q.float()) @ operand(k).transpose(-1, -2) * scale
    if mask is not None:
        scores = scores + mask
    if causal:
        keep = torch.ones(q.shape[2], k.shape[2], dtype=torch.bool).tril()
        scores = scores.masked_fill(~keep, float("-inf"))
    weights = torch.softmax(scores, -1)
    weights = torch.where(torch.isneginf(scores).all(-1, keepdim=True), 0.0, weights)
    return operand(held(weights).float()) @ operand(v)


# name: (query, key/value, mask shape or None, is_causal, scale)
ATTENTION_CASES = {
    "mask": ((2, 4, 8, 16), (2, 4, 8, 16), (2, 1, 8, 8), False, 0.25),
    "causal-longer-keys": ((1, 2, 8, 16), (1, 2, 12, 16), None, True, 0.25),
    "grouped-query-2d-mask": ((1, 4, 8, 16), (1, 2, 8, 16), (8, 8), False, 0.3),
    "causal-and-mask": ((1, 2, 8, 32), (1, 2, 8, 32), (1, 2, 8, 8), True, 0.125),
    # one query row per head (a decode step's shapes): the runtime's own loop in fast numerics
    "one-row-grouped-mask": ((1, 12, 1, 64), (1, 4, 96, 64), (1, 1, 1, 96), False, 0.125),
    "one-row-batch-head-mask": ((2, 4, 1, 20), (2, 2, 24, 20), (2, 4, 1, 24), False, 0.3),
    "one-row-no-mask": ((2, 3, 1, 16), (2, 3, 7, 16), None, False, 0.25),
    "one-row-causal": ((1, 2, 1, 16), (1, 2, 8, 16), None, True, 0.25),
}


def attention_inputs(case: str, dtype=torch.float32):
    q_shape, kv_shape, mask_shape, causal, scale = ATTENTION_CASES[case]
    q, k, v = (torch.randn(s).to(dtype) for s in (q_shape, kv_shape, kv_shape))
    mask = None
    if mask_shape is not None:
        mask = torch.randn(mask_shape)
        if q_shape[2] > 3:
            mask[..., 3, :] = float("-inf")  # a query row that attends to nothing
        else:
            mask[..., -5:] = float("-inf")  # the cache positions past the current one
    return q, k, v, mask, causal, scale


def attention_op(bld, refs, causal, scale, out_shape):
    out = bld.like(refs[0], shape=out_shape)
    mask = refs[3] if len(refs) > 3 else None
    table = fb.ScaledDotProductAttentionOpT(
        query=refs[0], key=refs[1], value=refs[2], attentionMask=mask, out=out, isCausal=causal, scale=scale
    )
    bld.op(table)
    return out


@pytest.mark.parametrize("case", list(ATTENTION_CASES))
def test_scaled_dot_product_attention(numerics_device, case):
    """Fast numerics against torch's own kernel; emulated against the written-out product
    with the operands as the matrix unit's registers hold them (TF32)."""
    numerics, device = numerics_device
    torch.manual_seed(0)
    q, k, v, mask, causal, scale = attention_inputs(case)
    if numerics == "fast" and not (causal and mask is not None):  # torch takes one or the other
        expected = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=causal, scale=scale, enable_gqa=q.shape[1] != k.shape[1]
        )
    else:
        operand = tf32 if numerics == "emulated" else (lambda t: t)
        expected = attention_reference(q, k, v, mask, causal, scale, operand=operand)
    if mask is not None and q.shape[2] > 3:
        assert expected[..., 3, :].abs().max() == 0, "the masked row's output is zero"
    inputs = [q, k, v] + ([mask] if mask is not None else [])
    (out,) = run(device, inputs, lambda bld, refs: attention_op(bld, refs, causal, scale, list(expected.shape)))
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)


def test_scaled_dot_product_attention_bfloat16(numerics_device):
    """bf16 operands: the attention weights are held in bf16 between the products, as the
    device holds them; the result is rounded to bf16."""
    numerics, device = numerics_device
    torch.manual_seed(0)
    q, k, v, mask, causal, scale = attention_inputs("mask", torch.bfloat16)
    held = (lambda t: t.to(torch.bfloat16)) if numerics == "emulated" else (lambda t: t)
    expected = attention_reference(q, k, v, mask, causal, scale, held=held).to(torch.bfloat16)
    (out,) = run(device, [q, k, v, mask], lambda bld, refs: attention_op(bld, refs, causal, scale, list(q.shape)))
    check(out, expected)


def test_one_row_attention_masked_out_nan_and_value_width():
    """One query row per head in fast numerics: a row whose every key is masked out gives zeros
    (as torch's kernel does), a NaN in one head's mask makes that head's row NaN and no other,
    and values wider than the keys give rows of the values' width."""
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 4, 1, 16), torch.randn(2, 2, 10, 16), torch.randn(2, 2, 10, 24)
    mask = torch.randn(2, 4, 1, 10)
    mask[1, 2] = float("-inf")
    mask[0, 1, 0, 4] = float("nan")
    expected = attention_reference(q, k, v, mask, False, 0.25)
    with runtime.open_device("n150", numerics="fast") as device:
        (out,) = run(device, [q, k, v, mask], lambda bld, refs: attention_op(bld, refs, False, 0.25, [2, 4, 1, 24]))
    assert out[1, 2].abs().max() == 0
    assert out[0, 1].isnan().all() and not out[0, 0].isnan().any()
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4, equal_nan=True)


def test_scaled_dot_product_attention_rejects_mismatched_head_sizes(device):
    q, k = torch.randn(1, 2, 8, 16), torch.randn(1, 2, 8, 32)
    with pytest.raises(TTRuntimeError, match=r"query \[1, 2, 8, 16\], key \[1, 2, 8, 32\] .* do not fit"):
        run(device, [q, k, k], lambda bld, refs: attention_op(bld, refs, False, 0.25, [1, 2, 8, 32]))


# --- conv and pool ------------------------------------------------------------------------


def to_flat_nhwc(x: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] -> TTNN's [1, 1, N*H*W, C]."""
    n, c, h, w = x.shape
    return x.permute(0, 2, 3, 1).reshape(1, 1, n * h * w, c).contiguous()


@pytest.mark.parametrize(
    ("n", "cin", "h", "w", "cout", "k", "stride", "padding", "dilation", "groups", "bias"),
    [
        (2, 4, 9, 7, 6, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1, True),
        (1, 3, 10, 11, 8, (3, 3), (2, 2), (0, 1, 1, 0), (1, 1), 1, False),  # asymmetric padding
        (2, 4, 8, 8, 6, (3, 1), (1, 2), (1, 1, 0, 0), (1, 1), 2, True),  # groups
        (1, 2, 12, 12, 4, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2), 1, True),  # dilation
        (1, 4, 6, 6, 4, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 4, False),  # depthwise
    ],
)
def test_conv2d(device, n, cin, h, w, cout, k, stride, padding, dilation, groups, bias):
    x = torch.randn(n, cin, h, w)
    weight = torch.randn(cout, cin // groups, *k)
    b = torch.randn(cout) if bias else None
    top, bottom, left, right = padding
    golden = F.conv2d(F.pad(tf32(x), (left, right, top, bottom)), tf32(weight), b, stride, 0, dilation, groups)
    expected = to_flat_nhwc(golden)
    inputs = [to_flat_nhwc(x), weight] + ([b.reshape(1, 1, 1, cout)] if bias else [])

    def make(bld, refs):
        bias_ref = refs[2] if bias else None
        window = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
        return tb.conv2d(bld, refs[0], refs[1], bias_ref, batch=n, height=h, width=w, **window)

    (out,) = run(device, inputs, make)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("size", list(tb.CONV_SIZES))
@pytest.mark.parametrize("activation", [fb.Activation.Relu, fb.Activation.Silu, fb.Activation.None_])
@pytest.mark.parametrize("padding", [(1, 1, 1, 1), (0, 1, 1, 0)])
def test_conv2d_with_weights_and_activation(numerics_device, size, activation, padding):
    """A parameter weight (reordered once for oneDNN and cached when the convolution is
    large), the bias and a fused activation."""
    numerics, device = numerics_device
    n, cin, h, w, cout = tb.CONV_SIZES[size]
    x, weight, b = torch.randn(n, cin, h, w), torch.randn(cout, cin, 3, 3) / (3 * cin**0.5), torch.randn(cout)
    operand = tf32 if numerics == "emulated" else (lambda t: t)
    top, bottom, left, right = padding
    golden = F.conv2d(F.pad(operand(x), (left, right, top, bottom)), operand(weight), b, (2, 1))
    expected = to_flat_nhwc(tb.ACTIVATIONS[activation](golden))

    def make(bld, refs):
        window = {"stride": (2, 1), "padding": padding}
        return tb.conv2d(bld, *refs, batch=n, height=h, width=w, activation=activation, **window)

    for _ in range(2):
        (out,) = run(device, [to_flat_nhwc(x), weight, b.reshape(1, 1, 1, cout)], make, parameters=(1, 2))
        torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)


P = fb.Pool2dType


@pytest.mark.parametrize(
    ("kind", "k", "stride", "padding", "dilation", "ceil_mode"),
    [
        (P.Max, (3, 3), (2, 2), 1, 1, False),
        (P.Max, (2, 2), (2, 2), 0, 1, True),
        (P.Max, (3, 3), (1, 1), 1, 2, False),
        (P.Max, (3, 3), (2, 2), 1, 1, True),
        (P.Avg, (2, 2), (2, 2), 0, 1, False),
        (P.Avg, (3, 3), (2, 2), 1, 1, False),  # padding counts in the window size
        (P.Sum, (3, 2), (1, 2), 0, 1, False),
    ],
)
def test_pool2d(device, kind, k, stride, padding, dilation, ceil_mode):
    n, c, h, w = 2, 5, 11, 9
    x = torch.randn(n, c, h, w)
    if kind == P.Max:
        golden = F.max_pool2d(x, k, stride, padding, dilation, ceil_mode)
    else:
        golden = F.avg_pool2d(x, k, stride, padding, ceil_mode, count_include_pad=True)
        if kind == P.Sum:
            golden = golden * (k[0] * k[1])
    expected = to_flat_nhwc(golden)

    def make(bld, refs):
        out = bld.like(refs[0], shape=expected.shape)
        bld.op(
            fb.Pool2dOpT(
                type=kind,
                in_=refs[0],
                out=out,
                batchSize=n,
                inputHeight=h,
                inputWidth=w,
                channels=c,
                kernelSize=list(k),
                stride=list(stride),
                padding=[padding] * 4,
                dilation=[dilation, dilation],
                ceilMode=ceil_mode,
            )
        )
        return out

    (out,) = run(device, [to_flat_nhwc(x)], make)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


# --- reductions ---------------------------------------------------------------------------

R = fb.ReductionOpType
REDUCTIONS = {
    R.Sum: lambda x, d, k: torch.sum(x, d, keepdim=k),
    R.Mean: lambda x, d, k: torch.mean(x, d, keepdim=k),
    R.Max: lambda x, d, k: torch.amax(x, d, keepdim=k),
    R.Min: lambda x, d, k: torch.amin(x, d, keepdim=k),
    R.Prod: lambda x, d, k: prod(x, d, k),
}


def prod(x, dims, keep):
    for d in sorted(dims, reverse=True):
        x = torch.prod(x, d, keepdim=keep)
    return x


def reduction_op(kind, dims, keep, out_shape, out_dtype=None):
    def make(b, refs):
        out = b.like(refs[0], shape=out_shape, dtype=out_dtype)
        b.op(fb.ReductionOpT(type=kind, in_=refs[0], out=out, dimArg=list(dims), keepDim=keep))
        return out

    return make


@pytest.mark.parametrize("kind", list(REDUCTIONS), ids=lambda k: fb_name(R, k))
@pytest.mark.parametrize(("dims", "keep"), [([1], False), ([0, -1], True), ([], False)])
def test_reduction(device, kind, dims, keep):
    x = torch.rand(3, 4, 5) + 0.5
    expected = REDUCTIONS[kind](x, dims or [0, 1, 2], keep)
    (out,) = run(device, [x], reduction_op(kind, dims, keep, expected.shape))
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("kind", "fn"), [(R.ArgMax, torch.argmax), (R.ArgMin, torch.argmin)])
@pytest.mark.parametrize("keep", [False, True])
def test_arg_reduction(device, kind, fn, keep):
    x = torch.randn(3, 7, 4)
    expected = fn(x, 1, keepdim=keep).to(torch.int32)
    (out,) = run(device, [x], reduction_op(kind, [1], keep, expected.shape, out_dtype=I32))
    check(out, expected)


def test_integer_sum(device):
    x = torch.randint(-100, 100, (6, 9), dtype=torch.int32)
    (out,) = run(device, [x], reduction_op(R.Sum, [0], False, [9]))
    check(out, x.sum(0).to(torch.int32))


# --- data movement ------------------------------------------------------------------------


def test_reshape(device):
    x = torch.randn(2, 3, 4)

    def make(b, refs):
        out = b.like(refs[0], shape=[6, 4])
        b.op(fb.ReshapeOpT(in_=refs[0], out=out, shape=[6, 4]))
        return out

    (out,) = run(device, [x], make)
    check(out, x.reshape(6, 4))


def test_permute(device):
    x = torch.randn(2, 3, 4)

    def make(b, refs):
        out = b.like(refs[0], shape=[4, 2, 3])
        b.op(fb.PermuteOpT(in_=refs[0], out=out, permutation=[2, 0, 1]))
        return out

    (out,) = run(device, [x], make)
    check(out, x.permute(2, 0, 1))
    assert out.is_contiguous()


def test_slice_with_step(device):
    x = torch.randn(5, 9, 6)
    expected = x[1:5:2, 0:9:3, 2:4]

    def make(b, refs):
        out = b.like(refs[0], shape=expected.shape)
        b.op(fb.SliceOpT(in_=refs[0], out=out, begins=[1, 0, 2], ends=[5, 9, 4], step=[2, 3, 1]))
        return out

    (out,) = run(device, [x], make)
    check(out, expected)


def test_concat(device):
    xs = [torch.randn(2, n, 3) for n in (1, 4, 2)]

    def make(b, refs):
        out = b.like(refs[0], shape=[2, 7, 3])
        b.op(fb.ConcatOpT(inputs=refs, out=out, dim=-2))
        return out

    (out,) = run(device, xs, make)
    check(out, torch.cat(xs, 1))


def test_repeat(device):
    x = torch.randn(2, 3)

    def make(b, refs):
        out = b.like(refs[0], shape=[4, 9])
        b.op(fb.RepeatOpT(in_=refs[0], out=out, repeatDims=[2, 3]))
        return out

    (out,) = run(device, [x], make)
    check(out, x.repeat(2, 3))


def test_pad(device):
    x = torch.randn(2, 3, 4)

    def make(b, refs):
        out = b.like(refs[0], shape=[3, 5, 5])
        b.op(fb.PadOpT(in_=refs[0], out=out, padding=[0, 1, 2, 0, 1, 0], value=-2.5))
        return out

    (out,) = run(device, [x], make)
    check(out, F.pad(x, (1, 0, 2, 0, 0, 1), value=-2.5))


def test_embedding(device):
    ids = torch.tensor([[0, 3, 9], [9, 1, 1]], dtype=torch.int32)
    table = torch.randn(10, 16).bfloat16()

    def make(b, refs):
        out = b.like(refs[1], shape=[2, 3, 16])
        b.op(fb.EmbeddingOpT(input=refs[0], weight=refs[1], out=out))
        return out

    (out,) = run(device, [ids, table], make)
    check(out, F.embedding(ids.long(), table))


# --- layout and typecast ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("src", "dst", "convert"),
    [
        (torch.float32, torch.bfloat16, lambda x: x.bfloat16()),
        (torch.bfloat16, torch.float32, lambda x: x.float()),
        (torch.float32, torch.int32, lambda x: x.to(torch.int32)),  # truncates toward zero
        (torch.int32, torch.float32, lambda x: x.float()),
        (torch.int32, torch.bfloat16, lambda x: x.bfloat16()),
    ],
)
def test_typecast(device, src, dst, convert):
    x = (torch.randn(4, 33) * 50).to(src)

    def make(b, refs):
        out = b.like(refs[0], dtype=tb.DTYPES[dst])
        b.op(fb.TypecastOpT(in_=refs[0], out=out, dtype=tb.DTYPES[dst]))
        return out

    (out,) = run(device, [x], make)
    check(out, convert(x))


def test_to_layout_changes_dtype(device):
    x = torch.randn(3, 5)

    def make(b, refs):
        return b.to_layout(refs[0], fb.TensorLayout.RowMajor, dtype=BF16)

    (out,) = run(device, [x], make)
    check(out, x.bfloat16())


def test_to_memory_config_keeps_values(device):
    x = torch.randn(3, 5)

    def make(b, refs):
        out = b.like(refs[0])
        out.desc.layout.memoryConfig = fb.MemoryConfigT(bufferType=fb.BufferType.L1)
        b.op(fb.ToMemoryConfigOpT(in_=refs[0], out=out, memoryConfig=fb.MemoryConfigT(bufferType=fb.BufferType.L1)))
        return out

    (out,) = run(device, [x], make)
    check(out, x)
    assert device.peak_l1_bytes >= 32 * 32 * 4


# --- creation -----------------------------------------------------------------------------


def creation_binary(make_out) -> bytes:
    b = tb.ProgramBuilder()
    b.output(make_out(b))
    return tb.binary_bytes([b.program()])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int32, torch.uint8])
def test_constant(device, dtype):
    value = (torch.randn(3, 4) * 10).to(dtype)

    def make(b):
        out = b.ref([3, 4], tb.DTYPES[dtype], fb.TensorLayout.Tile, fb.BufferType.DRAM)
        b.op(fb.ConstantOpT(out=out, data=tb.constant_data(value)))
        return out

    (out,) = runtime.submit(device, runtime.load_binary(creation_binary(make)), 0, [])
    check(out, value)


def test_full(device):
    def make(b):
        out = b.ref([2, 40], BF16, fb.TensorLayout.Tile, fb.BufferType.DRAM)
        b.op(fb.FullOpT(out=out, fillValue=0.1))
        return out

    (out,) = runtime.submit(device, runtime.load_binary(creation_binary(make)), 0, [])
    check(out, torch.full((2, 40), 0.1, dtype=torch.bfloat16))


@pytest.mark.parametrize(("dtype", "start", "step"), [(F32, 1.5, 0.5), (I32, 3.0, -2.0)])
def test_arange_broadcasts_over_other_dims(device, dtype, start, step):
    def make(b):
        out = b.ref([2, 5, 3], dtype, fb.TensorLayout.Tile, fb.BufferType.DRAM)
        b.op(fb.ArangeOpT(out=out, start=start, step=step, dim=1))
        return out

    (out,) = runtime.submit(device, runtime.load_binary(creation_binary(make)), 0, [])
    torch_dtype = torch.float32 if dtype == F32 else torch.int32
    expected = (start + step * torch.arange(5, dtype=torch.float64)).reshape(1, 5, 1).expand(2, 5, 3).to(torch_dtype)
    check(out, expected)


def fb_name(enum_class, value) -> str:
    return next(k for k, v in vars(enum_class).items() if v == value and not k.startswith("_"))
