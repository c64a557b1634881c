"""An OpInfo-style table of torch ops: sample inputs, the torch reference, tolerances, expected failures.

Each ``OpEntry`` names a torch callable, makes samples (several shapes, edge
values, a non-contiguous input) per dtype, and lists the dtypes it is expected
to fail on, each with a reason. The test compiles every sample with the tt
backend and compares it with eager PyTorch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

FLOAT = (torch.float32, torch.bfloat16)
F32 = (torch.float32,)
INT = (torch.int32, torch.int64)

# (pcc, atol) per dtype: bf16 holds 8 mantissa bits
TOLERANCE = {torch.float32: (0.99, 1e-2), torch.bfloat16: (0.98, 0.1), torch.int32: (1.0, 0), torch.int64: (1.0, 0)}

SHAPES = [(32, 32), (3, 17), (2, 4, 8)]


def _rand(shape, dtype, low=-2.0, high=2.0):
    if dtype.is_floating_point:
        return (torch.rand(shape) * (high - low) + low).to(dtype)
    if dtype == torch.bool:
        return torch.rand(shape) > 0.5
    return torch.randint(int(low), int(high) + 1, shape, dtype=dtype)


def _noncontig(shape, dtype, low=-2.0, high=2.0):
    """A transposed view: same values, non-contiguous strides."""
    t = _rand(tuple(reversed(shape)), dtype, low, high)
    return t.transpose(0, -1) if t.dim() > 1 else t


def unary(low=-2.0, high=2.0, edge=()):
    """Samples for one-input ops on [low, high], plus edge values."""

    def make(dtype):
        samples = [(_rand(s, dtype, low, high),) for s in SHAPES[:2]]
        samples.append((_noncontig(SHAPES[2], dtype, low, high),))
        if edge:
            samples.append((torch.tensor(list(edge), dtype=dtype),))
        return samples

    return make


def binary(low=-2.0, high=2.0, rhs_low=None, rhs_high=None):
    rl = low if rhs_low is None else rhs_low
    rh = high if rhs_high is None else rhs_high

    def make(dtype):
        return [
            (_rand((32, 32), dtype, low, high), _rand((32, 32), dtype, rl, rh)),
            (_rand((3, 17), dtype, low, high), _rand((17,), dtype, rl, rh)),  # broadcast
            (_noncontig((2, 4, 8), dtype, low, high), _rand((2, 4, 8), dtype, rl, rh)),
        ]

    return make


def shapes(*builders):
    """Samples from explicit builders: each takes a dtype and returns an argument tuple."""
    return lambda dtype: [b(dtype) for b in builders]


@dataclass
class OpEntry:
    name: str
    op: Callable
    samples: Callable[[torch.dtype], list[tuple]]
    dtypes: tuple = FLOAT
    xfail: dict = field(default_factory=dict)  # dtype -> reason


OPS: list[OpEntry] = [
    # --- elementwise unary --------------------------------------------------------------
    OpEntry("abs", torch.abs, unary(edge=(-0.0, 0.0, -3.5))),
    OpEntry("neg", torch.neg, unary()),
    OpEntry("exp", torch.exp, unary(edge=(-80.0, 0.0, 10.0))),
    OpEntry("exp2", torch.exp2, unary()),
    OpEntry("expm1", torch.expm1, unary()),
    OpEntry("log", torch.log, unary(0.01, 10.0)),
    OpEntry("log2", torch.log2, unary(0.01, 10.0)),
    OpEntry("log10", torch.log10, unary(0.01, 10.0)),
    OpEntry("log1p", torch.log1p, unary(-0.5, 5.0)),
    OpEntry("sqrt", torch.sqrt, unary(0.0, 10.0, edge=(0.0, 1.0, 4.0))),
    OpEntry("rsqrt", torch.rsqrt, unary(0.1, 10.0)),
    OpEntry("reciprocal", torch.reciprocal, unary(0.5, 4.0)),
    OpEntry("square", torch.square, unary()),
    OpEntry("tanh", torch.tanh, unary(-5.0, 5.0)),
    OpEntry("sigmoid", torch.sigmoid, unary(-8.0, 8.0)),
    OpEntry("relu", torch.relu, unary(edge=(-1.0, 0.0, 1.0))),
    OpEntry("relu6", F.relu6, unary(-8.0, 8.0)),
    OpEntry("leaky_relu", F.leaky_relu, unary()),
    OpEntry("elu", F.elu, unary()),
    OpEntry("selu", F.selu, unary()),
    OpEntry("celu", F.celu, unary()),
    OpEntry("gelu", F.gelu, unary(-4.0, 4.0)),
    OpEntry("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), unary(-4.0, 4.0)),
    OpEntry("silu", F.silu, unary(-6.0, 6.0)),
    OpEntry("mish", F.mish, unary()),
    OpEntry("softplus", F.softplus, unary(-5.0, 5.0)),
    OpEntry("softsign", F.softsign, unary()),
    OpEntry("hardtanh", F.hardtanh, unary()),
    OpEntry("hardsigmoid", F.hardsigmoid, unary(-4.0, 4.0)),
    OpEntry("hardswish", F.hardswish, unary(-4.0, 4.0)),
    OpEntry("logsigmoid", F.logsigmoid, unary()),
    OpEntry("erf", torch.erf, unary()),
    OpEntry("sin", torch.sin, unary(-3.0, 3.0)),
    OpEntry("cos", torch.cos, unary(-3.0, 3.0)),
    OpEntry("tan", torch.tan, unary(-1.0, 1.0)),
    OpEntry("atan", torch.atan, unary()),
    OpEntry("asin", torch.asin, unary(-0.9, 0.9)),
    OpEntry("acos", torch.acos, unary(-0.9, 0.9)),
    OpEntry("sinh", torch.sinh, unary()),
    OpEntry("cosh", torch.cosh, unary()),
    OpEntry("asinh", torch.asinh, unary()),
    OpEntry("atanh", torch.atanh, unary(-0.9, 0.9)),
    OpEntry("floor", torch.floor, unary(-5.0, 5.0, edge=(-1.5, -0.5, 0.5, 2.0))),
    OpEntry("ceil", torch.ceil, unary(-5.0, 5.0, edge=(-1.5, -0.5, 0.5, 2.0))),
    OpEntry("trunc", torch.trunc, unary(-5.0, 5.0)),
    OpEntry("frac", torch.frac, unary(-5.0, 5.0)),
    OpEntry("round", torch.round, unary(-5.0, 5.0, edge=(0.5, 1.5, 2.5, -0.5))),
    OpEntry("sign", torch.sign, unary(edge=(-2.0, 0.0, 3.0))),
    OpEntry("clamp", lambda x: torch.clamp(x, -0.5, 0.75), unary()),
    OpEntry("clamp_min", lambda x: torch.clamp_min(x, 0.1), unary()),
    OpEntry("clamp_max", lambda x: torch.clamp_max(x, 0.1), unary()),
    OpEntry("nan_to_num", torch.nan_to_num, unary(edge=(float("nan"), float("inf"), -float("inf"), 1.0)), dtypes=F32),
    OpEntry("isfinite", torch.isfinite, unary(edge=(float("inf"), 1.0, float("nan"))), dtypes=F32),
    OpEntry("logical_not", torch.logical_not, unary(edge=(0.0, 1.0, -2.0))),
    OpEntry("deg2rad", torch.deg2rad, unary(-180.0, 180.0)),
    OpEntry("logit", lambda x: torch.logit(x, eps=1e-3), unary(0.05, 0.95)),
    OpEntry("pow_scalar", lambda x: torch.pow(x, 3), unary()),
    OpEntry("mul_scalar", lambda x: x * 0.5 + 1.0, unary()),
    # --- elementwise binary ---------------------------------------------------------------
    OpEntry("add", torch.add, binary()),
    OpEntry("add_int", torch.add, binary(-100, 100), dtypes=INT),
    OpEntry("sub", torch.sub, binary()),
    OpEntry("rsub", lambda a, b: torch.rsub(a, b, alpha=2), binary()),
    OpEntry("mul", torch.mul, binary()),
    OpEntry("mul_int", torch.mul, binary(-100, 100), dtypes=INT),
    OpEntry("div", torch.div, binary(rhs_low=0.5, rhs_high=3.0)),
    OpEntry("div_floor", lambda a, b: torch.div(a, b, rounding_mode="floor"), binary(rhs_low=0.5, rhs_high=3.0)),
    OpEntry("div_trunc", lambda a, b: torch.div(a, b, rounding_mode="trunc"), binary(rhs_low=0.5, rhs_high=3.0)),
    OpEntry("maximum", torch.maximum, binary()),
    OpEntry("minimum", torch.minimum, binary()),
    OpEntry("pow", torch.pow, binary(0.5, 2.0, -2.0, 2.0)),
    OpEntry("remainder", torch.remainder, binary(-5.0, 5.0, 0.5, 2.0)),
    OpEntry("fmod", torch.fmod, binary(-5.0, 5.0, 0.5, 2.0)),
    OpEntry("atan2", torch.atan2, binary()),
    OpEntry("hypot", torch.hypot, binary()),
    OpEntry("copysign", torch.copysign, binary()),
    OpEntry("lerp", lambda a, b: torch.lerp(a, b, 0.3), binary()),
    OpEntry("eq", torch.eq, binary(-2, 2)),
    OpEntry("ne", torch.ne, binary(-2, 2)),
    OpEntry("lt", torch.lt, binary()),
    OpEntry("le", torch.le, binary()),
    OpEntry("gt", torch.gt, binary()),
    OpEntry("ge", torch.ge, binary()),
    OpEntry("eq_int", torch.eq, binary(-2, 2), dtypes=INT),
    OpEntry("logical_and", torch.logical_and, binary(-1, 1)),
    OpEntry("logical_or", torch.logical_or, binary(-1, 1)),
    OpEntry("logical_xor", torch.logical_xor, binary(-1, 1)),
    OpEntry("where", lambda a, b: torch.where(a > 0, a, b), binary()),
    OpEntry("masked_fill", lambda a, b: a.masked_fill(b > 0, -1.5), binary()),
    OpEntry("addcmul", lambda a, b: torch.addcmul(a, a, b, value=0.5), binary()),
    OpEntry("addcdiv", lambda a, b: torch.addcdiv(a, a, b, value=0.5), binary(rhs_low=0.5, rhs_high=2.0)),
    OpEntry("floor_divide", torch.floor_divide, binary(-20, 20, 1, 5), dtypes=INT),
    # --- reductions -------------------------------------------------------------------------
    OpEntry("sum", lambda x: x.sum(), unary()),
    OpEntry("sum_dim", lambda x: x.sum(-1), unary()),
    OpEntry("sum_keepdim", lambda x: x.sum(0, keepdim=True), unary()),
    OpEntry("mean", lambda x: x.mean(-1), unary()),
    OpEntry("amax", lambda x: x.amax(-1), unary()),
    OpEntry("amin", lambda x: x.amin(0), unary()),
    OpEntry("max_dim", lambda x: x.max(-1).values, unary()),
    OpEntry("min_dim", lambda x: x.min(-1).values, unary()),
    OpEntry("prod", lambda x: x.prod(-1), unary(0.5, 1.5)),
    OpEntry("var", lambda x: x.var(-1), unary()),
    OpEntry("std", lambda x: x.std(-1), unary()),
    OpEntry("norm", lambda x: torch.linalg.vector_norm(x, dim=-1), unary()),
    OpEntry("logsumexp", lambda x: torch.logsumexp(x, -1), unary()),
    OpEntry("softmax", lambda x: torch.softmax(x, -1), unary(-5.0, 5.0)),
    OpEntry("log_softmax", lambda x: torch.log_softmax(x, -1), unary(-5.0, 5.0)),
    OpEntry("cumsum", lambda x: torch.cumsum(x, -1), unary()),
    OpEntry("any", lambda x: (x > 1.5).any(-1), unary()),
    OpEntry("all", lambda x: (x > -1.5).all(-1), unary()),
    OpEntry("sum_int", lambda x: x.sum(-1), unary(-100, 100), dtypes=INT),
    OpEntry("argmax", lambda x: x.argmax(-1), unary(), xfail={}),
    OpEntry("argmin", lambda x: x.argmin(-1), unary(), xfail={}),
    # --- matmul -----------------------------------------------------------------------------
    OpEntry(
        "matmul",
        torch.matmul,
        shapes(
            lambda d: (_rand((8, 16), d), _rand((16, 4), d)),
            lambda d: (_rand((2, 3, 8), d), _rand((8, 5), d)),
            lambda d: (_rand((2, 4, 8), d), _rand((2, 8, 3), d)),
        ),
    ),
    OpEntry(
        "mm",
        torch.mm,
        shapes(
            lambda d: (_rand((8, 16), d), _rand((16, 4), d)),
            lambda d: (_rand((1, 7), d), _rand((7, 3), d)),
            lambda d: (_noncontig((8, 16), d), _rand((16, 4), d)),
        ),
    ),
    OpEntry(
        "bmm",
        torch.bmm,
        shapes(
            lambda d: (_rand((2, 8, 16), d), _rand((2, 16, 4), d)),
            lambda d: (_rand((3, 1, 5), d), _rand((3, 5, 2), d)),
            lambda d: (_rand((1, 4, 4), d), _rand((1, 4, 4), d)),
        ),
    ),
    OpEntry(
        "addmm",
        torch.addmm,
        shapes(
            lambda d: (_rand((4,), d), _rand((8, 16), d), _rand((16, 4), d)),
            lambda d: (_rand((2, 3), d), _rand((2, 5), d), _rand((5, 3), d)),
            lambda d: (_rand((1,), d), _rand((1, 2), d), _rand((2, 6), d)),
        ),
    ),
    OpEntry(
        "linear",
        F.linear,
        shapes(
            lambda d: (_rand((4, 8), d), _rand((16, 8), d), _rand((16,), d)),
            lambda d: (_rand((2, 3, 8), d), _rand((5, 8), d), _rand((5,), d)),
            lambda d: (_rand((1, 8), d), _rand((3, 8), d), None),
        ),
    ),
    OpEntry(
        "einsum",
        lambda a, b: torch.einsum("bij,bjk->bik", a, b),
        shapes(
            lambda d: (_rand((2, 4, 8), d), _rand((2, 8, 3), d)),
            lambda d: (_rand((1, 3, 3), d), _rand((1, 3, 3), d)),
            lambda d: (_rand((3, 2, 5), d), _rand((3, 5, 1), d)),
        ),
    ),
    OpEntry(
        "baddbmm",
        lambda c, a, b: torch.baddbmm(c, a, b, alpha=0.5),
        shapes(
            lambda d: (_rand((2, 4, 3), d), _rand((2, 4, 8), d), _rand((2, 8, 3), d)),
            lambda d: (_rand((1, 1, 1), d), _rand((1, 2, 2), d), _rand((1, 2, 1), d)),
            lambda d: (_rand((3, 2, 2), d), _rand((3, 2, 4), d), _rand((3, 4, 2), d)),
        ),
    ),
    OpEntry(
        "outer",
        torch.outer,
        shapes(
            lambda d: (_rand((8,), d), _rand((4,), d)),
            lambda d: (_rand((1,), d), _rand((5,), d)),
            lambda d: (_rand((3,), d), _rand((3,), d)),
        ),
    ),
    # --- shape and data movement ----------------------------------------------------------------
    OpEntry(
        "reshape",
        lambda x: x.reshape(-1, 2),
        shapes(lambda d: (_rand((4, 8), d),), lambda d: (_rand((2, 3, 4), d),), lambda d: (_noncontig((6, 4), d),)),
    ),
    OpEntry("transpose", lambda x: x.transpose(0, 1), unary()),
    OpEntry("permute", lambda x: x.permute(*reversed(range(x.dim()))), unary()),
    OpEntry(
        "t",
        lambda x: x.t(),
        shapes(lambda d: (_rand((4, 8), d),), lambda d: (_rand((1, 5), d),), lambda d: (_noncontig((3, 3), d),)),
    ),
    OpEntry("flatten", lambda x: x.flatten(), unary()),
    OpEntry("unsqueeze", lambda x: x.unsqueeze(1), unary()),
    OpEntry("squeeze", lambda x: x.unsqueeze(0).squeeze(0), unary()),
    OpEntry("expand", lambda x: x.unsqueeze(0).expand(3, *x.shape), unary()),
    OpEntry("repeat", lambda x: x.repeat(2, *([1] * (x.dim() - 1))), unary()),
    OpEntry("tile", lambda x: torch.tile(x, (2,)), unary()),
    OpEntry(
        "cat",
        lambda a, b: torch.cat([a, b], dim=0),
        shapes(
            lambda d: (_rand((4, 8), d), _rand((2, 8), d)),
            lambda d: (_rand((1, 3), d), _rand((5, 3), d)),
            lambda d: (_noncontig((3, 2), d), _rand((2, 2), d)),
        ),
    ),
    OpEntry(
        "stack",
        lambda a, b: torch.stack([a, b], dim=1),
        shapes(
            lambda d: (_rand((4, 8), d), _rand((4, 8), d)),
            lambda d: (_rand((3,), d), _rand((3,), d)),
            lambda d: (_noncontig((2, 3), d), _rand((2, 3), d)),
        ),
    ),
    OpEntry("split", lambda x: torch.split(x, 1, dim=-1)[0] * 2, unary()),
    OpEntry("chunk", lambda x: torch.chunk(x, 2, dim=0)[-1], unary()),
    OpEntry("narrow", lambda x: x.narrow(-1, 1, 2), unary()),
    OpEntry("getitem_slice", lambda x: x[..., 1::2], unary()),
    OpEntry("select", lambda x: x[1], unary()),
    OpEntry("flip", lambda x: torch.flip(x, [-1]), unary()),
    OpEntry("roll", lambda x: torch.roll(x, 1, -1), unary()),
    OpEntry("movedim", lambda x: torch.movedim(x, 0, -1), unary()),
    OpEntry(
        "tril",
        torch.tril,
        shapes(lambda d: (_rand((8, 8), d),), lambda d: (_rand((3, 5), d),), lambda d: (_rand((2, 4, 4), d),)),
    ),
    OpEntry(
        "triu",
        torch.triu,
        shapes(lambda d: (_rand((8, 8), d),), lambda d: (_rand((3, 5), d),), lambda d: (_rand((2, 4, 4), d),)),
    ),
    OpEntry("pad", lambda x: F.pad(x, (1, 2), value=0.5), unary()),
    OpEntry(
        "index_select",
        lambda x, i: torch.index_select(x, 0, i),
        shapes(
            lambda d: (_rand((8, 4), d), torch.tensor([0, 3, 7])),
            lambda d: (_rand((5, 2, 3), d), torch.tensor([4])),
            lambda d: (_rand((3, 3), d), torch.tensor([2, 2, 0])),
        ),
    ),
    OpEntry(
        "gather",
        lambda x, i: torch.gather(x, 1, i),
        shapes(
            lambda d: (_rand((4, 8), d), torch.randint(0, 8, (4, 3))),
            lambda d: (_rand((2, 5), d), torch.randint(0, 5, (2, 5))),
            lambda d: (_rand((1, 3), d), torch.tensor([[2, 0]])),
        ),
    ),
    OpEntry(
        "embedding",
        lambda i, w: F.embedding(i, w),
        shapes(
            lambda d: (torch.randint(0, 10, (2, 5)), _rand((10, 8), d)),
            lambda d: (torch.tensor([0, 9]), _rand((10, 3), d)),
            lambda d: (torch.randint(0, 4, (3,)), _rand((4, 16), d)),
        ),
    ),
    OpEntry("repeat_interleave", lambda x: torch.repeat_interleave(x, 2, dim=0), unary()),
    OpEntry("zeros_like", lambda x: torch.zeros_like(x) + x, unary()),
    OpEntry("full_like", lambda x: torch.full_like(x, 2.5) * x, unary()),
    OpEntry("arange", lambda x: x + torch.arange(x.shape[-1], dtype=x.dtype), unary()),
    OpEntry("to_dtype", lambda x: x.to(torch.int32), unary(-50.0, 50.0), dtypes=F32),
    OpEntry("int_to_float", lambda x: x.to(torch.float32) * 0.5, unary(-50, 50), dtypes=INT),
    # --- neural-network ops ----------------------------------------------------------------------
    OpEntry(
        "conv2d",
        F.conv2d,
        shapes(
            lambda d: (_rand((1, 3, 8, 8), d), _rand((4, 3, 3, 3), d)),
            lambda d: (_rand((2, 4, 7, 5), d), _rand((6, 4, 1, 1), d)),
            lambda d: (_rand((1, 2, 6, 6), d), _rand((2, 2, 5, 5), d)),
        ),
    ),
    OpEntry(
        "conv2d_stride_pad",
        lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
        shapes(
            lambda d: (_rand((1, 3, 8, 8), d), _rand((4, 3, 3, 3), d), _rand((4,), d)),
            lambda d: (_rand((1, 2, 9, 9), d), _rand((2, 2, 3, 3), d), _rand((2,), d)),
            lambda d: (_rand((2, 1, 5, 6), d), _rand((3, 1, 2, 2), d), _rand((3,), d)),
        ),
    ),
    OpEntry(
        "conv2d_groups_dilation",
        lambda x, w: F.conv2d(x, w, groups=2, dilation=2, padding=2),
        shapes(
            lambda d: (_rand((1, 4, 8, 8), d), _rand((4, 2, 3, 3), d)),
            lambda d: (_rand((1, 2, 7, 7), d), _rand((2, 1, 3, 3), d)),
            lambda d: (_rand((2, 6, 6, 6), d), _rand((8, 3, 3, 3), d)),
        ),
    ),
    OpEntry(
        "conv1d",
        lambda x, w: F.conv1d(x, w, padding=1),
        shapes(
            lambda d: (_rand((1, 3, 16), d), _rand((4, 3, 3), d)),
            lambda d: (_rand((2, 2, 7), d), _rand((5, 2, 1), d)),
            lambda d: (_rand((1, 4, 9), d), _rand((2, 4, 5), d)),
        ),
    ),
    OpEntry(
        "conv_transpose2d",
        lambda x, w: F.conv_transpose2d(x, w, stride=2),
        shapes(
            lambda d: (_rand((1, 4, 4, 4), d), _rand((4, 2, 2, 2), d)),
            lambda d: (_rand((1, 2, 3, 3), d), _rand((2, 3, 3, 3), d)),
            lambda d: (_rand((2, 1, 2, 2), d), _rand((1, 1, 2, 2), d)),
        ),
    ),
    OpEntry(
        "max_pool2d",
        lambda x: F.max_pool2d(x, 2),
        shapes(
            lambda d: (_rand((1, 3, 8, 8), d),),
            lambda d: (_rand((2, 2, 7, 6), d),),
            lambda d: (_rand((1, 1, 4, 4), d),),
        ),
    ),
    OpEntry(
        "max_pool2d_pad",
        lambda x: F.max_pool2d(x, 3, stride=2, padding=1),
        shapes(
            lambda d: (_rand((1, 3, 8, 8), d),),
            lambda d: (_rand((1, 2, 7, 9), d),),
            lambda d: (_rand((2, 1, 5, 5), d),),
        ),
    ),
    OpEntry(
        "avg_pool2d",
        lambda x: F.avg_pool2d(x, 2),
        shapes(
            lambda d: (_rand((1, 3, 8, 8), d),),
            lambda d: (_rand((2, 2, 6, 6), d),),
            lambda d: (_rand((1, 1, 4, 8), d),),
        ),
    ),
    OpEntry(
        "adaptive_avg_pool2d",
        lambda x: F.adaptive_avg_pool2d(x, 1),
        shapes(
            lambda d: (_rand((1, 3, 8, 8), d),),
            lambda d: (_rand((2, 2, 5, 7), d),),
            lambda d: (_rand((1, 4, 1, 1), d),),
        ),
    ),
    OpEntry(
        "adaptive_avg_pool1d",
        lambda x: F.adaptive_avg_pool1d(x, 1),
        shapes(
            lambda d: (_rand((1, 3, 8), d),), lambda d: (_rand((2, 2, 5), d),), lambda d: (_noncontig((4, 2, 3), d),)
        ),
    ),
    OpEntry(
        "batch_norm",
        lambda x, m, v: F.batch_norm(x, m, v, training=False),
        shapes(
            lambda d: (_rand((2, 3, 4, 4), d), _rand((3,), d), _rand((3,), d, 0.5, 2.0)),
            lambda d: (_rand((1, 2, 5, 5), d), _rand((2,), d), _rand((2,), d, 0.5, 2.0)),
            lambda d: (_rand((4, 3), d), _rand((3,), d), _rand((3,), d, 0.5, 2.0)),
        ),
    ),
    OpEntry("layer_norm", lambda x: F.layer_norm(x, x.shape[-1:]), unary()),
    OpEntry(
        "group_norm",
        lambda x: F.group_norm(x, 2),
        shapes(
            lambda d: (_rand((1, 4, 4, 4), d),), lambda d: (_rand((2, 6, 3), d),), lambda d: (_rand((1, 2, 5, 5), d),)
        ),
    ),
    OpEntry("rms_norm", lambda x: F.rms_norm(x, x.shape[-1:]), unary()),
    OpEntry("normalize", lambda x: F.normalize(x, dim=-1), unary()),
    OpEntry("cosine_similarity", lambda a, b: F.cosine_similarity(a, b, dim=-1), binary()),
    OpEntry(
        "mse_loss",
        F.mse_loss,
        shapes(
            lambda d: (_rand((4, 8), d), _rand((4, 8), d)),
            lambda d: (_rand((3,), d), _rand((3,), d)),
            lambda d: (_rand((2, 2, 2), d), _rand((2, 2, 2), d)),
        ),
    ),
    OpEntry("dropout_eval", lambda x: F.dropout(x, 0.5, training=False), unary()),
    OpEntry(
        "interpolate_nearest",
        lambda x: F.interpolate(x, scale_factor=2, mode="nearest"),
        shapes(
            lambda d: (_rand((1, 3, 4, 4), d),),
            lambda d: (_rand((2, 1, 3, 5), d),),
            lambda d: (_rand((1, 2, 1, 1), d),),
        ),
    ),
    OpEntry(
        "pixel_shuffle",
        lambda x: F.pixel_shuffle(x, 2),
        shapes(
            lambda d: (_rand((1, 8, 3, 3), d),),
            lambda d: (_rand((2, 4, 2, 2), d),),
            lambda d: (_rand((1, 12, 1, 2), d),),
        ),
    ),
    OpEntry(
        "sdpa",
        F.scaled_dot_product_attention,
        shapes(
            lambda d: (_rand((1, 2, 8, 16), d), _rand((1, 2, 8, 16), d), _rand((1, 2, 8, 16), d)),
            lambda d: (_rand((2, 1, 4, 8), d), _rand((2, 1, 6, 8), d), _rand((2, 1, 6, 8), d)),
            lambda d: (_rand((1, 4, 1, 8), d), _rand((1, 4, 3, 8), d), _rand((1, 4, 3, 8), d)),
        ),
    ),
    OpEntry(
        "sdpa_causal",
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        shapes(
            lambda d: (_rand((1, 2, 8, 16), d), _rand((1, 2, 8, 16), d), _rand((1, 2, 8, 16), d)),
            lambda d: (_rand((2, 1, 4, 8), d), _rand((2, 1, 4, 8), d), _rand((2, 1, 4, 8), d)),
            lambda d: (_rand((1, 1, 5, 4), d), _rand((1, 1, 5, 4), d), _rand((1, 1, 5, 4), d)),
        ),
    ),
    # --- sort and selection --------------------------------------------------------------------------
    OpEntry(
        "sort",
        lambda x: torch.sort(x, -1).values,
        unary(),
    ),
    OpEntry(
        "topk",
        lambda x: torch.topk(x, 2, -1).values,
        unary(),
    ),
]
