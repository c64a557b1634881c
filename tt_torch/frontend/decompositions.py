"""The aten decompositions applied while tracing, before torch-mlir import.

Core ATen plus torch-mlir's own table, and tt-torch's rules (``CUSTOM``) for ops
that torch-mlir's StableHLO lowering does not take or gets wrong: each is written in
ops that lower, and tested against eager (tests/frontend/test_decompositions.py).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import torch
from torch._decomp import core_aten_decompositions
from torch_mlir.extras.fx_decomp_util import get_decomposition_table

from tt_torch import composite

aten = torch.ops.aten


def _batch_norm_inference(x, weight, bias, running_mean, running_var, training, momentum, eps):
    if training:  # batch statistics: core ATen's decomposition
        return NotImplemented
    shape = [1, -1] + [1] * (x.dim() - 2)
    scale = torch.rsqrt(running_var + eps)
    if weight is not None:
        scale = scale * weight
    y = (x - running_mean.reshape(shape)) * scale.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    empty = x.new_zeros((0,))
    return y, empty, empty


def _batch_norm_no_training(x, weight, bias, running_mean, running_var, momentum, eps):
    return _batch_norm_inference(x, weight, bias, running_mean, running_var, False, momentum, eps)


def _transformer_encoder_layer_fwd(
    src,
    embed_dim,
    num_heads,
    qkv_weight,
    qkv_bias,
    proj_weight,
    proj_bias,
    use_gelu,
    norm_first,
    eps,
    norm_weight_1,
    norm_bias_1,
    norm_weight_2,
    norm_bias_2,
    ffn_weight_1,
    ffn_bias_1,
    ffn_weight_2,
    ffn_bias_2,
    mask=None,
    mask_type=None,
):
    """nn.TransformerEncoderLayer's inference fast path (batch-first), in plain ops."""
    F = torch.nn.functional

    def self_attention(x):
        b, n, e = x.shape
        d = e // num_heads
        q, k, v = F.linear(x, qkv_weight, qkv_bias).chunk(3, dim=-1)
        q, k, v = (t.reshape(b, n, num_heads, d).transpose(1, 2) for t in (q, k, v))
        scores = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / d**0.5)
        if mask is not None:
            m = mask
            if m.dtype == torch.bool:
                m = torch.zeros(m.shape, dtype=scores.dtype).masked_fill(m, float("-inf"))
            if mask_type == 1:  # key padding mask [B, N]
                m = m.reshape(b, 1, 1, n)
            scores = scores + m
        out = torch.matmul(torch.softmax(scores, dim=-1), v).transpose(1, 2).reshape(b, n, e)
        return F.linear(out, proj_weight, proj_bias)

    def feed_forward(x):
        h = F.linear(x, ffn_weight_1, ffn_bias_1)
        h = F.gelu(h) if use_gelu else F.relu(h)
        return F.linear(h, ffn_weight_2, ffn_bias_2)

    def norm1(x):
        return F.layer_norm(x, (embed_dim,), norm_weight_1, norm_bias_1, eps)

    def norm2(x):
        return F.layer_norm(x, (embed_dim,), norm_weight_2, norm_bias_2, eps)

    if norm_first:
        x = src + self_attention(norm1(src))
        return x + feed_forward(norm2(x))
    x = norm1(src + self_attention(src))
    return norm2(x + feed_forward(x))


def _adaptive_avg_pool1d(x, output_size):
    """One averaging-matrix product (the 1-D op's own decomposition leaves an in-place view
    torch-mlir rejects)."""
    return _adaptive_avg_pool(1)(x, output_size)


def _remainder(a, b):
    """Python's modulo (the divisor's sign), from fmod: torch-mlir lowers it as C's fmod.

    A Python-number divisor's sign is read here: torch-mlir folds ``full_like(r, b) < 0``
    to a wrong constant (``true`` for b = 0.7), which inverted the result."""
    r = torch.fmod(a, b)
    if isinstance(b, torch.Tensor):
        fix = (r != 0) & ((r < 0) != (b < 0))
    else:
        fix = r < 0 if b > 0 else r > 0
    return torch.where(fix, r + b, r)


def _isfinite(x):
    """|x| < inf is false for inf and NaN; torch-mlir folds the NaN test of its own rule away."""
    if not x.dtype.is_floating_point:
        return torch.ones_like(x, dtype=torch.bool)
    return torch.abs(x) < float("inf")


def _fmod(a, b):
    """In fp32 for 16-bit floats: torch-mlir's a - b * trunc(a / b) would round a / b first."""
    if isinstance(a, torch.Tensor) and a.dtype in (torch.bfloat16, torch.float16):
        b32 = b.float() if isinstance(b, torch.Tensor) else b
        return torch.fmod(a.float(), b32).to(a.dtype)
    if not isinstance(b, torch.Tensor):
        return _fmod_scalar(a, b)
    return NotImplemented


def _scalar_operand(a, b):
    """``b`` as a 0-d tensor of the op's result type when it is a Python number: torch-mlir
    lowers fmod only between tensors (a scalar operand stays an illegal torch constant)."""
    if isinstance(b, torch.Tensor):
        return a, b
    dtype = torch.result_type(a, b)
    return a.to(dtype), torch.full((), b, dtype=dtype)


def _fmod_scalar(a, b):
    return torch.fmod(*_scalar_operand(a, b))


def _shift(shift):
    """``a << b`` and ``a >> b`` (and a Python-number amount) as bitwise_left/right_shift of two
    tensors: torch-mlir lowers those, not the operator overloads nor a scalar operand. A number
    becomes ``a * 0 + b``: a tensor of a's dtype made without a dtype argument, which torch-mlir
    aborts on for uint16."""

    def decomposed(a, b):
        return shift(a, b if isinstance(b, torch.Tensor) else a * 0 + b)

    return decomposed


def _flags(x: torch.Tensor, value: bool) -> torch.Tensor:
    """1 where ``x`` is (non)zero as ``value`` asks, else 0, as int32 (an aten op, no prims cast)."""
    hit = (x != 0) if value else (x == 0)
    return torch.where(hit, torch.ones((), dtype=torch.int32), torch.zeros((), dtype=torch.int32))


def _any(x, dim=None, keepdim=False):
    """Through a max over 0/1 values: torch-mlir lowers ``any`` over one dim only (``any.dim``,
    left to it)."""
    dims = [] if dim is None else list(dim)
    return _flags(x, True).amax(dim=dims, keepdim=keepdim) > 0


def _all(x, dim=None, keepdim=False):
    dims = [] if dim is None else list(dim)
    return _flags(x, False).amax(dim=dims, keepdim=keepdim) == 0


def _prefixes(x, dim, neutral):
    """``x`` along ``dim`` as rows of its prefixes, moved last: out[..., i, j] = x[..., j] for
    j <= i, else ``neutral``; a reduction over the last dim then gives the prefix's value."""
    moved = x.movedim(dim, -1)
    n = moved.shape[-1]
    rows = moved.unsqueeze(-2).expand(*moved.shape[:-1], n, n)
    keep = torch.ones(n, n, dtype=torch.bool, device=x.device).tril()
    return torch.where(keep, rows, neutral)


def _cumprod(x, dim, dtype=None):
    """Products over prefixes: out[..., i] = prod of x[..., j] for j <= i."""
    if dtype is not None:
        x = x.to(dtype)
    if x.dim() == 0:
        return x.clone()
    return _prefixes(x, dim, torch.ones((), dtype=x.dtype)).prod(-1).movedim(-1, dim)


def _logcumsumexp(x, dim):
    """A log-sum-exp over prefixes (exact for any range of values): torch-mlir's lowering of
    ATen's own rule gave infinities."""
    if x.dim() == 0:
        return x.clone()
    return torch.logsumexp(_prefixes(x, dim, -math.inf), -1).movedim(-1, dim)


def _erfc(x):
    return 1 - torch.erf(x)


def _addmv(self, mat, vec, beta=1, alpha=1):
    out = torch.matmul(mat, vec)
    if alpha != 1:
        out = out * alpha
    if beta == 0:  # self is ignored, NaN included, as ATen does
        return out
    return out + (self if beta == 1 else self * beta)


def _diagonal(x, offset=0, dim1=0, dim2=1):
    """The diagonal as a strided slice of the two dims flattened into one."""
    y = x.movedim((dim1, dim2), (-2, -1))
    y = y[..., :, offset:] if offset >= 0 else y[..., -offset:, :]
    n = max(min(y.shape[-2], y.shape[-1]), 0)
    y = y[..., :n, :n].reshape(*y.shape[:-2], n * n)
    return y[..., :: n + 1] if n else y


def _linalg_cross(a, b, dim=-1):
    a, b = torch.broadcast_tensors(a, b)
    a0, a1, a2 = (a.narrow(dim, i, 1) for i in range(3))
    b0, b1, b2 = (b.narrow(dim, i, 1) for i in range(3))
    return torch.cat([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], dim)


def _unfold(x, dimension, size, step):
    """Windows as slices: out[..., k, ..., j] = x[..., k * step + j, ...] (a reshape when they tile)."""
    if x.dim() == 0:  # a 0-d tensor has one window of size 1 (PyTorch refuses other sizes)
        return x.reshape(1).clone() if size == 1 else NotImplemented
    dim = dimension % x.dim()
    n = (x.shape[dim] - size) // step + 1
    if step == size:
        y = x.narrow(dim, 0, n * size).reshape(*x.shape[:dim], n, size, *x.shape[dim + 1 :])
    else:
        y = torch.stack([x.narrow(dim, k * step, size) for k in range(n)], dim)
    return y.movedim(dim + 1, -1)


def _bce_with_logits(x, target, weight=None, pos_weight=None, reduction=1):
    """ATen's numerically stable form: (1 - t) x + w_pos (log1p(exp(-|x|)) + max(-x, 0))."""
    soft = torch.log1p(torch.exp(-torch.abs(x))) + torch.clamp(-x, min=0)
    if pos_weight is not None:
        soft = ((pos_weight - 1) * target + 1) * soft
    loss = (1 - target) * x + soft
    if weight is not None:
        loss = loss * weight
    return loss.mean() if reduction == 1 else loss.sum() if reduction == 2 else loss


def _bce_with_logits_function(
    input, target, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None
):
    """F.binary_cross_entropy_with_logits, before its own decomposition (which allocates with
    empty_permuted, which torch-mlir rejects)."""
    if size_average is not None or reduce is not None:
        reduction = torch.nn.functional._Reduction.legacy_get_string(size_average, reduce)
    codes = {"none": 0, "mean": 1, "sum": 2}
    if reduction not in codes:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return _bce_with_logits(input, target, weight, pos_weight, codes[reduction])


def _clamp_int(x, min=None, max=None):
    """An integer clamp as maximum/minimum with the bounds that can bind.

    torch-mlir fills a missing bound with the int64 extreme, and a user may pass one:
    constants no device tensor holds (the device's integers are 32-bit, and inputs
    outside that range are refused at call time). A bound beyond the 32-bit range
    cannot bind, so it is dropped.
    """
    if x.dtype.is_floating_point or x.dtype == torch.bool:
        return NotImplemented
    low, high = torch.iinfo(torch.int32).min, torch.iinfo(torch.int32).max
    min = None if min is None or min <= low else min
    max = None if max is None or max >= high else max
    y = x.clone()
    if min is not None:
        y = torch.maximum(y, torch.full((), min, dtype=x.dtype))
    if max is not None:
        y = torch.minimum(y, torch.full((), max, dtype=x.dtype))
    return y


def _cdist(x1, x2, p, compute_mode=None):
    diff = (x1.unsqueeze(-2) - x2.unsqueeze(-3)).abs()
    if p == 0:
        return (diff != 0).to(x1.dtype).sum(-1)
    if math.isinf(p):
        return diff.amax(-1)
    if p == 1:
        return diff.sum(-1)
    if p == 2:
        return torch.sqrt((diff * diff).sum(-1))
    return diff.pow(p).sum(-1).pow(1.0 / p)


def _copysign(a, b):
    """|a| with b's sign, -0.0 included (1 / -0.0 is -inf); no bit casts on the device."""
    magnitude = torch.abs(a)
    if not isinstance(b, torch.Tensor):
        return magnitude if math.copysign(1.0, b) > 0 else -magnitude
    negative = (b < 0) | ((b == 0) & (1.0 / b < 0))
    return torch.where(negative, -magnitude, magnitude)


def _pool_output(size: int, k: int, s: int, p: int, d: int) -> int:
    """ATen's pooled size with ceil_mode: the last window must start inside the input or its low padding."""
    out = -(-(size + 2 * p - d * (k - 1) - 1) // s) + 1
    return out - 1 if (out - 1) * s >= size + p else out


def _interpolation_matrix(in_size, out_size, scale, align_corners, cubic, dtype, device):
    """Row i holds the weights of the source positions that output position i reads (ATen's
    source positions: linear clamps them at 0, cubic reads 4 taps, clamped at the borders, with
    the cubic convolution kernel of A = -0.75)."""
    pos = torch.arange(out_size, device=device, dtype=torch.float32)
    if align_corners:
        src = pos * ((in_size - 1) / (out_size - 1)) if out_size > 1 else pos * 0
    else:
        ratio = 1.0 / scale if scale else in_size / out_size
        src = (pos + 0.5) * ratio - 0.5
        if not cubic:
            src = src.clamp(min=0)
    cols = torch.arange(in_size, device=device, dtype=torch.float32).unsqueeze(0)
    lo = src.floor()
    t = (src - lo).unsqueeze(1)

    def tap(offset, weight):
        index = (lo + offset).clamp(0, in_size - 1).unsqueeze(1)
        return (cols == index) * weight

    if not cubic:
        lo = lo.clamp(max=in_size - 1)
        t = (src - lo).unsqueeze(1)
        return (tap(0, 1 - t) + tap(1, t)).to(dtype)
    a = -0.75
    far = lambda d: ((a * d - 5 * a) * d + 8 * a) * d - 4 * a  # noqa: E731 - 1 < |d| < 2
    near = lambda d: ((a + 2) * d - (a + 3)) * d * d + 1  # noqa: E731 - |d| <= 1
    return (tap(-1, far(t + 1)) + tap(0, near(t)) + tap(1, near(1 - t)) + tap(2, far(2 - t))).to(dtype)


def _separable_resize(x, output_size, align_corners, scales, cubic=False):
    """Interpolation along each spatial dim in turn, each a matrix product."""
    if not x.dtype.is_floating_point or x.dim() != 2 + len(output_size):
        return NotImplemented
    scales = list(scales) + [None] * (len(output_size) - len(scales))
    for k, (size, scale) in enumerate(zip(output_size, scales)):
        dim = 2 + k
        a = _interpolation_matrix(x.shape[dim], size, scale, align_corners, cubic, x.dtype, x.device)
        x = torch.matmul(x.movedim(dim, -1), a.transpose(0, 1)).movedim(-1, dim)
    return x


def _antialias_matrix(in_size, out_size, scale_arg, align_corners, dtype, device):
    """ATen's antialiased bilinear weights: output i averages the inputs within ``support`` of
    its centre with a triangle filter stretched by the scale when downsampling, normalized."""
    if align_corners:
        scale = (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
    else:
        scale = 1.0 / scale_arg if scale_arg else in_size / out_size
    support = scale if scale >= 1.0 else 1.0
    inv = 1.0 / scale if scale >= 1.0 else 1.0
    rows = []
    for i in range(out_size):
        center = scale * (i + 0.5)
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), in_size)
        w = [max(0.0, 1.0 - abs((j - center + 0.5) * inv)) if lo <= j < hi else 0.0 for j in range(in_size)]
        total = sum(w)
        rows.append([v / total if total else 0.0 for v in w])
    # an f32 literal, cast: the importer reads back no bf16 literal (torch-mlir's dense_resource)
    return torch.tensor(rows, dtype=torch.float32, device=device).to(dtype)


def _upsample_bilinear2d_aa(x, output_size, align_corners, scales_h=None, scales_w=None):
    """Antialiased bilinear resizing, one weight-matrix product per spatial dim."""
    if x.dim() != 4 or not x.dtype.is_floating_point:
        return NotImplemented
    for k, (size, scale) in enumerate(zip(output_size, (scales_h, scales_w))):
        dim = 2 + k
        a = _antialias_matrix(x.shape[dim], size, scale, align_corners, x.dtype, x.device)
        x = torch.matmul(x.movedim(dim, -1), a.transpose(0, 1)).movedim(-1, dim)
    return x


def _upsample_bilinear2d(x, output_size, align_corners, scales_h=None, scales_w=None):
    """Separable linear interpolation as two matrix products: out = A_h @ x @ A_w^T."""
    return _separable_resize(x, output_size, align_corners, (scales_h, scales_w))


def _upsample_trilinear3d(x, output_size, align_corners, scales_d=None, scales_h=None, scales_w=None):
    return _separable_resize(x, output_size, align_corners, (scales_d, scales_h, scales_w))


def _upsample_bicubic2d(x, output_size, align_corners, scales_h=None, scales_w=None):
    return _separable_resize(x, output_size, align_corners, (scales_h, scales_w), cubic=True)


def _hypot(a, b):
    return torch.sqrt(a * a + b * b)


def _roll(x, shifts, dims=()):
    """Slices and a concatenation; torch's own rule builds int64 index arithmetic torch-mlir rejects."""
    shifts = [shifts] if isinstance(shifts, int) else list(shifts)
    dims = [dims] if isinstance(dims, int) else list(dims)
    if not dims:
        return _roll(x.flatten(), shifts, [0]).reshape(x.shape)
    for shift, dim in zip(shifts, dims):
        n = x.shape[dim]
        s = shift % n if n else 0
        if s:
            x = torch.cat([x.narrow(dim, n - s, s), x.narrow(dim, 0, n - s)], dim)
    return x


def _attention(query, key, value, attn_mask, is_causal: bool, scale: float | None, instance: int):
    """Scaled-dot-product attention of 4-D tensors in plain ops, all tagged as one composite.

    Same semantics as ATen's CPU kernel: the scale defaults to 1/sqrt(head size), a
    boolean mask keeps the True positions, ``is_causal`` keeps the lower triangle (top
    left aligned), key/value heads are repeated when the query has more (grouped-query
    attention), and a row whose every score is masked out gives zeros, not NaN. The
    boolean mask becomes an additive one outside the group, as TTNN's op takes it.
    """
    head = query.shape[-1]
    scale = 1.0 / math.sqrt(head) if scale is None else scale
    if attn_mask is not None and attn_mask.dtype == torch.bool:
        attn_mask = torch.zeros_like(attn_mask, dtype=query.dtype).masked_fill(attn_mask.logical_not(), -math.inf)
    kind = "scaled_dot_product_attention_causal" if is_causal else "scaled_dot_product_attention"
    with composite.annotate(kind, instance):
        heads, kv_heads = query.shape[-3], key.shape[-3]
        if heads != kv_heads:
            key = key.repeat_interleave(heads // kv_heads, dim=-3)
            value = value.repeat_interleave(heads // kv_heads, dim=-3)
        scores = torch.matmul(query, key.transpose(-2, -1)) * scale
        if is_causal:
            keep = torch.ones(query.shape[-2], key.shape[-2], dtype=torch.bool, device=query.device).tril()
            scores = scores.masked_fill(keep.logical_not(), -math.inf)
        if attn_mask is not None:
            scores = scores + attn_mask
        weights = torch.softmax(scores, dim=-1)
        weights = torch.where(torch.isneginf(scores).all(dim=-1, keepdim=True), 0.0, weights)
        return torch.matmul(weights, value)


def _no_dropout(dropout_p: float) -> None:
    if dropout_p:
        # Returning a wrong answer silently is worse than refusing.
        raise NotImplementedError(
            f"scaled_dot_product_attention with dropout_p={dropout_p} (training) is not supported by tt-torch; "
            "call model.eval() before compiling, or pass dropout_p=0.0"
        )


def _attention_decompositions() -> dict:
    """The attention decomposition, numbering its instances from 0 within one trace.

    ATen's CPU kernel is what ``F.scaled_dot_product_attention`` becomes for 4-D float
    inputs with equal head sizes; other calls take torch's math decomposition, which stays
    as the ops it writes."""
    instances = itertools.count()

    def flash_for_cpu(query, key, value, dropout_p=0.0, is_causal=False, *, attn_mask=None, scale=None):
        _no_dropout(dropout_p)
        out = _attention(query, key, value, attn_mask, is_causal, scale, next(instances))
        return out, query.new_empty((0,))  # the log-sum-exp, which no inference graph reads

    return {aten._scaled_dot_product_flash_attention_for_cpu.default: flash_for_cpu}


def _scaled_dot_product_attention(
    query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False
):
    """F.scaled_dot_product_attention, refusing dropout (which torch's math decomposition
    would trace as random sampling)."""
    _no_dropout(dropout_p)
    return torch.nn.functional.scaled_dot_product_attention(
        query, key, value, attn_mask=attn_mask, is_causal=is_causal, scale=scale, enable_gqa=enable_gqa
    )


# Torch functions replaced in dynamo's graph before tracing: composite ops whose
# own decomposition runs before the aten table above could intercept it.
TORCH_FUNCTIONS: dict[Callable | str, Callable] = {
    torch.adaptive_avg_pool1d: _adaptive_avg_pool1d,
    torch.nn.functional.adaptive_avg_pool1d: _adaptive_avg_pool1d,
    torch.isfinite: _isfinite,
    "isfinite": _isfinite,  # the Tensor method
    torch.nn.functional.scaled_dot_product_attention: _scaled_dot_product_attention,
    torch.nn.functional.binary_cross_entropy_with_logits: _bce_with_logits_function,
}


def _slice_scatter(base, src, dim=0, start=None, end=None, step=1):
    """``base`` with ``src`` written over ``base[start:end]`` along ``dim`` (in-place slice writes,
    circular padding), as ``cat`` of the untouched parts and ``src``; torch-mlir's lowering is a
    scatter. Strided slices keep their own decomposition."""
    if step != 1:
        return NotImplemented
    dim = dim % base.dim()
    size = base.shape[dim]
    lo, hi, _ = slice(start, end).indices(size)
    hi = max(hi, lo)
    parts = [base.narrow(dim, 0, lo)] if lo > 0 else []
    parts.append(src)
    if hi < size:
        parts.append(base.narrow(dim, hi, size - hi))
    return torch.cat(parts, dim) if len(parts) > 1 else src.clone()


def _fmax(a, b):
    """maximum that takes the other operand where one is NaN."""
    return torch.where(torch.isnan(a), b, torch.where(torch.isnan(b), a, torch.maximum(a, b)))


def _fmin(a, b):
    return torch.where(torch.isnan(a), b, torch.where(torch.isnan(b), a, torch.minimum(a, b)))


def _dist(a, b, p=2):
    return torch.linalg.vector_norm(a - b, ord=float(p))


def _searchsorted(sorted_sequence, values, *, out_int32=False, right=False, side=None, sorter=None):
    """How many entries of each sorted row lie below each value (at or below, with ``right``):
    comparisons summed, no sort or binary search on the device."""
    if sorter is not None:
        return NotImplemented
    right = right or side == "right"
    seq = sorted_sequence
    if seq.dim() == 1:
        below = (seq <= values.unsqueeze(-1)) if right else (seq < values.unsqueeze(-1))
    else:
        below = (seq.unsqueeze(-2) <= values.unsqueeze(-1)) if right else (seq.unsqueeze(-2) < values.unsqueeze(-1))
    dtype = torch.int32 if out_int32 else torch.int64
    return below.to(dtype).sum(-1, dtype=dtype)


def _isin(elements, test_elements, *, assume_unique=False, invert=False):
    """Each element compared with every test element (their number is small in practice)."""
    if not isinstance(elements, torch.Tensor) or not isinstance(test_elements, torch.Tensor):
        return NotImplemented
    hit = (elements.unsqueeze(-1) == test_elements.reshape(-1)).any(-1)
    return ~hit if invert else hit


def _trilinear(i1, i2, i3, expand1, expand2, expand3, sumdim, unroll_dim=1):
    """``F.bilinear``'s kernel: products of the three operands broadcast over the dims each lacks
    (``expand*``), summed over ``sumdim``."""
    x1, x2, x3 = i1, i2, i3
    for d in sorted(expand1):
        x1 = x1.unsqueeze(d)
    for d in sorted(expand2):
        x2 = x2.unsqueeze(d)
    for d in sorted(expand3):
        x3 = x3.unsqueeze(d)
    out = x1 * x2 * x3
    return out.sum(list(sumdim)) if sumdim else out


def _angle(x):
    """The argument of a real number: pi below zero, 0 otherwise, NaN kept."""
    if x.is_complex() or not x.dtype.is_floating_point:
        return NotImplemented
    return torch.where(x < 0, torch.full_like(x, math.pi), torch.where(torch.isnan(x), x, torch.zeros_like(x)))


def _cumulative_extreme(x, dim, largest: bool):
    """cummax / cummin over prefix rows: the value, and the last index holding it (as PyTorch)."""
    if x.dim() == 0:
        return x.clone(), torch.zeros((), dtype=torch.int64, device=x.device)
    dim = dim % x.dim()
    if x.dtype.is_floating_point:
        neutral = torch.tensor(-math.inf if largest else math.inf, dtype=x.dtype)
    else:
        # the device holds integers in 32 bits (a wider value is refused before it gets there)
        info = torch.iinfo(torch.int32 if x.dtype == torch.int64 else x.dtype)
        neutral = torch.tensor(info.min if largest else info.max, dtype=x.dtype)
    rows = _prefixes(x, dim, neutral)  # [..., i, j]: x[j] for j <= i
    values = rows.amax(-1) if largest else rows.amin(-1)
    n = rows.shape[-1]
    positions = torch.arange(n, device=x.device)
    valid = positions <= positions.unsqueeze(-1)  # j <= i
    hit = (rows == values.unsqueeze(-1)) & valid
    if x.dtype.is_floating_point:  # a NaN is the extreme from where it appears on, as in PyTorch
        nan_rows = torch.isnan(rows) & valid
        hit = torch.where(nan_rows.any(-1, keepdim=True), nan_rows, hit)
        values = torch.where(nan_rows.any(-1), torch.full_like(values, math.nan), values)
    # the last position that holds the extreme, through an f32 max (exact below 2**24 positions;
    # an int64 max would start from INT64_MIN, which the device's 32-bit integers cannot hold)
    index = torch.where(hit, positions.to(torch.float32), -1.0).amax(-1).to(torch.int64)
    return values.movedim(-1, dim), index.movedim(-1, dim)


def _cummax(x, dim):
    return _cumulative_extreme(x, dim, largest=True)


def _cummin(x, dim):
    return _cumulative_extreme(x, dim, largest=False)


def _histc(x, bins=100, min=0, max=0):
    """Counts per bin through a comparison with every bin's index (no scatter on the device);
    min = max = 0 takes the data's range, as PyTorch does."""
    lo, hi = float(min), float(max)
    flat = x.reshape(-1).float()
    if lo == hi:
        lo_t, hi_t = flat.amin(), flat.amax()
        same = lo_t == hi_t
        lo_t, hi_t = torch.where(same, lo_t - 1, lo_t), torch.where(same, hi_t + 1, hi_t)
    else:
        lo_t, hi_t = torch.tensor(lo), torch.tensor(hi)
    inside = (flat >= lo_t) & (flat <= hi_t)
    index = ((flat - lo_t) * bins / (hi_t - lo_t)).floor().clamp(0, bins - 1).to(torch.int64)
    one_hot = (index.unsqueeze(-1) == torch.arange(bins, device=x.device)) & inside.unsqueeze(-1)
    return one_hot.to(x.dtype).sum(0)


def _diagonal_scatter(base, src, offset=0, dim1=0, dim2=1):
    """``base`` with ``src`` on its diagonal: a mask of the diagonal selects ``src`` broadcast
    along the dim that does not index it."""
    d1, d2 = dim1 % base.dim(), dim2 % base.dim()
    moved = base.movedim((d1, d2), (-2, -1))
    rows, cols = moved.shape[-2], moved.shape[-1]
    r = torch.arange(rows, device=base.device).unsqueeze(-1)
    c = torch.arange(cols, device=base.device)
    mask = (c - r) == offset
    length = src.shape[-1]
    if offset >= 0:  # row i holds src[i]
        full = torch.nn.functional.pad(src, (0, rows - length)).unsqueeze(-1)
    else:  # column j holds src[j]
        full = torch.nn.functional.pad(src, (0, cols - length)).unsqueeze(-2)
    out = torch.where(mask, full.to(base.dtype), moved)
    return out.movedim((-2, -1), (d1, d2))


def _pdist(x, p=2):
    """The upper triangle of ``cdist(x, x)``, row by row, read through a literal index."""
    n = x.shape[0]
    pairs = [i * n + j for i in range(n) for j in range(i + 1, n)]  # known while tracing
    full = _cdist(x, x, p).reshape(-1)
    return full[torch.tensor(pairs, dtype=torch.int64)] if pairs else torch.zeros(0, dtype=x.dtype, device=x.device)


def _im2col(x, kernel_size, dilation, padding, stride):
    """``F.unfold``: each window's values as a column, through a grouped convolution with one
    one-hot kernel per window position (exact: one product by 1.0 each)."""
    batched = x.dim() == 4
    if not batched:
        x = x.unsqueeze(0)
    c = x.shape[1]
    kh, kw = kernel_size
    eye = torch.eye(kh * kw, dtype=x.dtype, device=x.device).reshape(kh * kw, 1, kh, kw)
    weight = eye.repeat(c, 1, 1, 1)  # channel k's window positions, channel after channel
    cols = torch.nn.functional.conv2d(x, weight, None, stride, padding, dilation, groups=c)
    out = cols.reshape(x.shape[0], c * kh * kw, cols.shape[-2] * cols.shape[-1])
    return out if batched else out.squeeze(0)


# --- special functions: closed-form approximations accurate to float32 ---------------------


def _poly(t, coefficients):
    """Horner's rule: coefficients[0] + coefficients[1] * t + ..."""
    out = torch.full_like(t, coefficients[-1])
    for c in reversed(coefficients[:-1]):
        out = out * t + c
    return out


_LANCZOS_G = 7.0
_LANCZOS = (
    0.99999999999980993,
    676.5203681218851,
    -1259.1392167224028,
    771.32342877765313,
    -176.61502916214059,
    12.507343278686905,
    -0.13857109526572012,
    9.9843695780195716e-6,
    1.5056327351493116e-7,
)


def _lgamma_positive(x):
    """log Gamma(x) for x >= 0.5 (Lanczos, g = 7, 9 terms)."""
    z = x - 1.0
    series = torch.full_like(x, _LANCZOS[0])
    for k, c in enumerate(_LANCZOS[1:], start=1):
        series = series + c / (z + k)
    t = z + _LANCZOS_G + 0.5
    return 0.5 * math.log(2 * math.pi) + (z + 0.5) * torch.log(t) - t + torch.log(series)


def _lgamma(x):
    """log |Gamma(x)|; below 0.5 through the reflection Gamma(x) Gamma(1 - x) = pi / sin(pi x)."""
    if not x.dtype.is_floating_point:
        return NotImplemented
    big = torch.where(x >= 0.5, x, 1.0 - x)  # both branches evaluated where they are finite
    positive = _lgamma_positive(big)
    sin = torch.abs(torch.sin(math.pi * (x - torch.floor(x))))  # sin(pi x) reduced to [0, pi)
    reflected = math.log(math.pi) - torch.log(sin) - positive
    out = torch.where(x >= 0.5, positive, reflected)
    out = torch.where((x <= 0) & (x == torch.floor(x)), math.inf, out)  # poles
    return torch.where(torch.isinf(x), math.inf, out)


def _digamma(x):
    """psi(x): shifted up by 6 with psi(x) = psi(x + 1) - 1 / x, then the asymptotic series; below
    0.5 through psi(1 - x) - psi(x) = pi / tan(pi x). psi(0) is -inf and psi of a negative
    integer NaN, as in PyTorch."""
    if not x.dtype.is_floating_point:
        return NotImplemented
    y = torch.where(x >= 0.5, x, 1.0 - x)
    shift = torch.zeros_like(y)
    for k in range(6):
        shift = shift + 1.0 / (y + k)
    z = y + 6.0
    inv2 = 1.0 / (z * z)
    series = torch.log(z) - 0.5 / z - inv2 * _poly(inv2, (1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132))
    positive = series - shift
    frac = x - torch.floor(x)
    reflected = positive - math.pi / torch.tan(math.pi * frac)
    out = torch.where(x >= 0.5, positive, reflected)
    negative_integer = (x < 0) & (frac == 0)
    out = torch.where(negative_integer, math.nan, out)
    out = torch.where(x == 0, -math.inf, out)
    return torch.where(x == math.inf, math.inf, out)


_ERFINV_SMALL = (
    1.50140941,
    0.246640727,
    -0.00417768164,
    -0.00125372503,
    0.00021858087,
    -4.39150654e-06,
    -3.5233877e-06,
    3.43273939e-07,
    2.81022636e-08,
)
_ERFINV_LARGE = (
    2.83297682,
    1.00167406,
    0.00943887047,
    -0.0076224613,
    0.00573950773,
    -0.00367342844,
    0.00134934322,
    0.000100950558,
    -0.000200214257,
)


def _erfinv(x):
    """Giles' single-precision approximation (2010); +-1 give +-inf, |x| > 1 NaN."""
    if not x.dtype.is_floating_point:
        return NotImplemented
    inside = torch.abs(x) < 1
    xc = torch.where(inside, x, torch.zeros_like(x))
    w = -torch.log((1.0 - xc) * (1.0 + xc))
    small = _poly(w - 2.5, _ERFINV_SMALL)
    large = _poly(torch.sqrt(w) - 3.0, _ERFINV_LARGE)
    out = torch.where(w < 5.0, small, large) * xc
    out = torch.where(torch.abs(x) == 1, torch.sign(x) * math.inf, out)
    return torch.where(torch.abs(x) > 1, math.nan, out)


_I0_SMALL = (1.0, 3.5156229, 3.0899424, 1.2067492, 0.2659732, 0.0360768, 0.0045813)
_I0_LARGE = (
    0.39894228,
    0.01328592,
    0.00225319,
    -0.00157565,
    0.00916281,
    -0.02057706,
    0.02635537,
    -0.01647633,
    0.00392377,
)
_I1_SMALL = (0.5, 0.87890594, 0.51498869, 0.15084934, 0.02658733, 0.00301532, 0.00032411)
_I1_LARGE = (
    0.39894228,
    -0.03988024,
    -0.00362018,
    0.00163801,
    -0.01031555,
    0.02282967,
    -0.02895312,
    0.01787654,
    -0.00420059,
)


def _bessel_i(x, order: int, scaled: bool):
    """Modified Bessel functions I0, I1 (and exp(-|x|) times them), Abramowitz & Stegun 9.8.1-9.8.4
    (relative error below 2e-7)."""
    if not x.dtype.is_floating_point:
        return NotImplemented
    ax = torch.abs(x)
    small_t = (x / 3.75) ** 2
    small = _poly(small_t, _I0_SMALL) if order == 0 else x * _poly(small_t, _I1_SMALL)
    if scaled:
        small = small * torch.exp(-ax)
    big_x = torch.where(ax > 3.75, ax, torch.full_like(ax, 3.75))  # the large branch where it is used
    large = _poly(3.75 / big_x, _I0_LARGE if order == 0 else _I1_LARGE) / torch.sqrt(big_x)
    if not scaled:
        large = large * torch.exp(big_x)
    if order == 1:
        large = large * torch.sign(x)
    return torch.where(ax <= 3.75, small, large)


def _zero_insert(x, dim: int, stride: int):
    """``stride - 1`` zeros between neighbours along ``dim`` (a transposed convolution's input)."""
    if stride == 1:
        return x
    moved = x.movedim(dim, -1)
    spread = torch.nn.functional.pad(moved.unsqueeze(-1), (0, stride - 1))
    spread = spread.reshape(*moved.shape[:-1], moved.shape[-1] * stride)
    return spread[..., : (moved.shape[-1] - 1) * stride + 1].movedim(-1, dim)


def _convolution(x, weight, bias, stride, padding, dilation, transposed, output_padding, groups):
    """Transposed convolutions as convolutions of the zero-spread input with the flipped,
    in/out-swapped kernel; 3-D convolutions as sums of 2-D ones over the kernel's depth (the
    device convolves in 2-D). Others are left to torch-mlir."""
    nd = weight.dim() - 2
    if not transposed and nd != 3:
        return NotImplemented
    if x.dim() != nd + 2:
        return NotImplemented  # unbatched: the caller's own decomposition adds the batch dim
    stride, padding, dilation = list(stride), list(padding), list(dilation)
    if transposed:
        k = weight.shape[2:]
        spread = x
        for i in range(nd):
            spread = _zero_insert(spread, 2 + i, stride[i])
        pads = []
        for i in reversed(range(nd)):  # F.pad lists the last dim first; negative amounts crop
            edge = dilation[i] * (k[i] - 1) - padding[i]
            pads += [edge, edge + output_padding[i]]
        spread = torch.nn.functional.pad(spread, pads)
        cin, cout_g = weight.shape[0], weight.shape[1]
        w = (
            weight.reshape(groups, cin // groups, cout_g, *k)
            .transpose(1, 2)
            .reshape(groups * cout_g, cin // groups, *k)
        )
        w = w.flip(list(range(2, 2 + nd)))
        return aten.convolution.default(spread, w, bias, [1] * nd, [0] * nd, dilation, False, [0] * nd, groups)
    # 3-D: out[:, :, z] = sum over kd of conv2d(x[:, :, z * s + kd * d], w[:, :, kd])
    pd = padding[0]
    if pd:
        x = torch.nn.functional.pad(x, (0, 0, 0, 0, pd, pd))
    n, _, depth = x.shape[:3]
    kd = weight.shape[2]
    out_depth = (depth - dilation[0] * (kd - 1) - 1) // stride[0] + 1
    total = None
    for j in range(kd):
        start = j * dilation[0]
        planes = x[:, :, start : start + (out_depth - 1) * stride[0] + 1 : stride[0]]  # (N, C, Dout, H, W)
        planes = planes.transpose(1, 2).reshape(n * out_depth, x.shape[1], *x.shape[3:])
        part = aten.convolution.default(
            planes, weight[:, :, j], None, stride[1:], padding[1:], dilation[1:], False, [0, 0], groups
        )
        total = part if total is None else total + part
    out = total.reshape(n, out_depth, *total.shape[1:]).transpose(1, 2)
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1, 1)
    return out


def _tuple(v, n: int, default=None) -> tuple:
    if v is None or (isinstance(v, (list, tuple)) and len(v) == 0):
        v = default
    if isinstance(v, int):
        return (v,) * n
    v = tuple(v)
    return v * n if len(v) == 1 else v


def _pool_geometry(x, nd, kernel_size, stride, padding, dilation, ceil_mode):
    """(kernel, stride, padding, dilation, output sizes, extra high padding) of an N-d pool."""
    k = _tuple(kernel_size, nd)
    s = _tuple(stride, nd, k)
    p, d = _tuple(padding, nd), _tuple(dilation, nd, 1)
    sizes = x.shape[-nd:]
    out, extra = [], []
    for i in range(nd):
        if ceil_mode:
            o = _pool_output(sizes[i], k[i], s[i], p[i], d[i])
        else:
            o = (sizes[i] + 2 * p[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1
        out.append(o)
        # high padding for the offsets that reach the input (see _windows), not the whole kernel
        extent = sizes[i] + 2 * p[i]
        useful = min(k[i], -(-extent // d[i]))
        extra.append(max((o - 1) * s[i] + d[i] * (useful - 1) + 1 - extent, 0))
    return k, s, p, d, out, extra


def _windows(padded, nd, k, s, d, out, extent):
    """Each kernel offset's strided slice of ``padded``: (offset, the values it puts in each window).

    Offsets whose slice lies wholly in the high padding ceil_mode adds (at or past ``extent``, the
    input with its own padding) are left out: they hold only that padding, which neither sum nor
    max takes. A ceil_mode window far larger than its input (a global pool written as a kernel of
    1280) so costs as many slices as the input has positions, not as the kernel has."""
    ranges = [range(min(k[i], -(-extent[i] // d[i]))) for i in range(nd)]
    for offset in itertools.product(*ranges):
        view = padded
        for i in range(nd):
            dim = padded.dim() - nd + i
            start = offset[i] * d[i]
            view = view.narrow(dim, start, (out[i] - 1) * s[i] + 1)
            if s[i] > 1:
                view = view[(slice(None),) * dim + (slice(None, None, s[i]),)]
        yield offset, view


def _pad_spatial(x, nd, p, extra, value):
    pads = []
    for i in reversed(range(nd)):
        pads += [p[i], p[i] + extra[i]]
    return torch.nn.functional.pad(x, pads, value=value) if any(pads) else x


_POOL_GUARD = [False]  # set while a pool decomposition calls the device's own 2-D pool


def _max_pool_with_indices(nd: int):
    """Max pooling over ``nd`` dims with its indices, from the strided slices of each kernel
    offset: the values are the slices' maximum, the index the first offset holding it (a NaN
    wins, as in ATen), as a flat index into the input's spatial dims. 2-D values of a batched
    input without ceil_mode come from the device's pool op (the index computation is dropped as
    dead code when nothing reads it)."""

    def decomposition(x, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
        if x.dtype in (torch.int8, torch.uint8):
            # torch-mlir's max pooling of 8-bit integers has no init value and crashes the
            # process (a null operand): pooled in int32, exactly
            op = aten.max_pool2d_with_indices.default if nd == 2 else aten.max_pool3d_with_indices.default
            values, indices = op(x.to(torch.int32), kernel_size, stride, padding, dilation, ceil_mode)
            return values.to(x.dtype), indices
        if _POOL_GUARD[0] or not x.dtype.is_floating_point:
            return NotImplemented
        batched = x.dim() == nd + 2
        xb = x if batched else x.unsqueeze(0)
        k, s, p, d, out, extra = _pool_geometry(xb, nd, kernel_size, stride, padding, dilation, ceil_mode)
        padded = _pad_spatial(xb, nd, p, extra, -math.inf)
        sizes = xb.shape[-nd:]
        best = best_index = None
        extent = [size + 2 * pad for size, pad in zip(sizes, p)]
        for offset, view in _windows(padded, nd, k, s, d, out, extent):
            flat = None
            for i in range(nd):  # the input coordinate along dim i of every window's element
                coord = torch.arange(out[i], device=x.device) * s[i] - p[i] + offset[i] * d[i]
                coord = coord.reshape([-1] + [1] * (nd - 1 - i))
                flat = coord if flat is None else flat * sizes[i] + coord
            flat = flat.expand(view.shape)
            if best is None:
                best, best_index = view, flat
            else:
                take = (view > best) | torch.isnan(view)
                best = torch.where(take, view, best)
                best_index = torch.where(take, flat, best_index)
        values = best
        if nd == 2 and batched and not ceil_mode:
            _POOL_GUARD[0] = True
            try:
                values = aten.max_pool2d_with_indices.default(xb, list(k), list(s), list(p), list(d), False)[0]
            finally:
                _POOL_GUARD[0] = False
        if not batched:
            values, best_index = values.squeeze(0), best_index.squeeze(0)
        return values, best_index

    return decomposition


def _avg_pool_nd(nd: int):
    """Average pooling over ``nd`` dims as the sum of each kernel offset's strided slice, divided
    as ATen divides: by ``divisor_override``, else by the window's part inside the padded input
    (``count_include_pad``) or inside the input."""

    def decomposition(
        x, kernel_size, stride=(), padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None
    ):
        if not x.dtype.is_floating_point:
            return NotImplemented
        if nd == 2 and not ceil_mode and divisor_override is None:
            return NotImplemented  # the device's own 2-D pool
        batched = x.dim() == nd + 2
        xb = x if batched else x.unsqueeze(0)
        k, s, p, d, out, extra = _pool_geometry(xb, nd, kernel_size, stride, padding, 1, ceil_mode)
        padded = _pad_spatial(xb, nd, p, extra, 0.0)
        extent = [size + 2 * pad for size, pad in zip(xb.shape[-nd:], p)]
        total = sum(view for _, view in _windows(padded, nd, k, s, d, out, extent))
        if divisor_override is not None:
            result = total / divisor_override
        else:
            ones = torch.ones(xb.shape[-nd:], dtype=x.dtype, device=x.device)
            region = _pad_spatial(ones, nd, p, [0] * nd, 1.0 if count_include_pad else 0.0)
            region = _pad_spatial(region, nd, [0] * nd, extra, 0.0)
            count = sum(view for _, view in _windows(region, nd, k, s, d, out, extent))
            result = total / count
        return result if batched else result.squeeze(0)

    return decomposition


def _adaptive_bounds(size: int, out: int) -> list[tuple[int, int]]:
    """ATen's adaptive windows: output i reads [floor(i * size / out), ceil((i + 1) * size / out))."""
    return [((i * size) // out, -(-((i + 1) * size) // out)) for i in range(out)]


def _adaptive_avg_pool(nd: int):
    """Adaptive average pooling as one averaging-matrix product per spatial dim (the mean over a
    window's box is the mean of the means along each of its dims)."""

    def decomposition(x, output_size):
        if not x.dtype.is_floating_point:
            return NotImplemented
        sizes = _tuple(output_size, nd)
        for i, out in enumerate(sizes):
            dim = x.dim() - nd + i
            n = x.shape[dim]
            rows = [[1.0 / (hi - lo) if lo <= j < hi else 0.0 for j in range(n)] for lo, hi in _adaptive_bounds(n, out)]
            a = torch.tensor(rows, dtype=torch.float32, device=x.device).to(x.dtype)  # f32 literal: see above
            x = torch.matmul(x.movedim(dim, -1), a.transpose(0, 1)).movedim(-1, dim)
        return x

    return decomposition


def _adaptive_max_pool(nd: int):
    """Adaptive max pooling one spatial dim after the other (the max over a box is the max of
    the maxima along each dim); the index is the first maximum in row-major order, as ATen's,
    carried along as a flat index into the input's spatial dims."""

    def decomposition(x, output_size):
        if not x.dtype.is_floating_point:
            return NotImplemented
        sizes = _tuple(output_size, nd)
        spatial = x.shape[-nd:]
        flat = None
        for i in range(nd):  # each element's flat spatial index
            coord = torch.arange(spatial[i], device=x.device).reshape([-1] + [1] * (nd - 1 - i))
            flat = coord if flat is None else flat * spatial[i] + coord
        flat = flat.expand(x.shape)
        for i in reversed(range(nd)):  # the last dim first: first-maximum order is row-major
            dim = x.dim() - nd + i
            values, indices = [], []
            for lo, hi in _adaptive_bounds(x.shape[dim], sizes[i]):
                seg, seg_index = x.narrow(dim, lo, hi - lo), flat.narrow(dim, lo, hi - lo)
                top = seg.amax(dim, keepdim=True)
                top = torch.where(torch.isnan(seg).any(dim, keepdim=True), math.nan, top)
                hit = (seg == top) | (torch.isnan(seg) & torch.isnan(top))
                order = torch.arange(hi - lo, device=x.device, dtype=torch.float32)
                order = order.reshape([-1] + [1] * (x.dim() - 1 - dim))
                first = torch.where(hit, order, float(hi - lo)).amin(dim, keepdim=True).to(torch.int64)
                values.append(top)
                indices.append(torch.gather(seg_index, dim, first))
            x, flat = torch.cat(values, dim), torch.cat(indices, dim)
        return x, flat

    return decomposition


def _frexp(x):
    """Mantissa in [0.5, 1) and exponent with x = mantissa * 2 ** exponent, from log2 corrected
    by one step either way; 0, inf and NaN give (x, 0) as in PyTorch."""
    if not x.dtype.is_floating_point:
        return NotImplemented
    ax = torch.abs(x)
    regular = (ax > 0) & torch.isfinite(x)
    safe = torch.where(regular, ax, torch.ones_like(ax))
    e = torch.floor(torch.log2(safe)) + 1
    m = safe * torch.pow(2.0, -e)
    high, low = m >= 1, m < 0.5
    m = torch.where(high, m * 0.5, torch.where(low, m * 2, m))
    e = torch.where(high, e + 1, torch.where(low, e - 1, e))
    mantissa = torch.where(regular, torch.sign(x) * m, x)
    exponent = torch.where(regular, e, torch.zeros_like(e)).to(torch.int32)
    return mantissa, exponent


def _nonzero_static(x, *, size, fill_value=-1):
    """The first ``size`` nonzero positions in row-major order (``fill_value`` after the last), by
    each nonzero's rank among them: row r gathers the position whose rank is r."""
    n = x.numel()
    flat = (x.reshape(-1) != 0).to(torch.int32)
    rank = _prefixes(flat, 0, torch.zeros((), dtype=torch.int32)).sum(-1, dtype=torch.int32) - 1
    rows = torch.arange(size, device=x.device, dtype=torch.int32).unsqueeze(-1)
    pick = (rank.unsqueeze(0) == rows) & (flat.unsqueeze(0) == 1)  # (size, n)
    found = pick.any(-1, keepdim=True)
    coords, step = [], 1
    positions = torch.arange(n, device=x.device, dtype=torch.int64)
    for dim_size in reversed(x.shape):
        coords.append(positions // step % dim_size)
        step *= dim_size
    cols = [torch.where(pick, c.unsqueeze(0), 0).sum(-1, keepdim=True) for c in reversed(coords)]
    out = torch.cat(cols, -1) if cols else torch.zeros(size, 0, dtype=torch.int64, device=x.device)
    return torch.where(found, out, fill_value)


def _order_statistic(x, dim, keepdim, position):
    """Values and indices at ``position`` (an int, or a tensor of per-row positions with the
    dim kept) of ``x`` sorted along ``dim``; NaN sorts last, as in PyTorch."""
    values, indices = torch.sort(x, dim=dim)  # the device's sort is stable
    if isinstance(position, int):
        v, i = values.narrow(dim, position, 1), indices.narrow(dim, position, 1)
    else:
        v, i = torch.gather(values, dim, position), torch.gather(indices, dim, position)
    if keepdim:
        return v, i
    shape = [n for d, n in enumerate(v.shape) if d != dim]  # a reshape: squeeze's rule leaves a prims op
    return v.reshape(shape), i.reshape(shape)


def _median_dim(x, dim=0, keepdim=False):
    """The lower median; a row holding NaN gives NaN at its first NaN, as in PyTorch."""
    if x.dim() == 0:
        return x.clone(), torch.zeros((), dtype=torch.int64, device=x.device)
    dim = dim % x.dim()
    n = x.shape[dim]
    nans = torch.isnan(x).sum(dim, keepdim=True) if x.dtype.is_floating_point else None
    if nans is None:
        return _order_statistic(x, dim, keepdim, (n - 1) // 2)
    position = torch.where(nans > 0, n - nans, (n - 1) // 2)  # NaNs sort last, in their order
    return _order_statistic(x, dim, keepdim, position)


def _median(x):
    return _median_dim(x.reshape(-1), 0)[0]


def _nanmedian_dim(x, dim=0, keepdim=False):
    """The lower median of the values that are not NaN (NaN where a row has none)."""
    if x.dim() == 0:
        return x.clone(), torch.zeros((), dtype=torch.int64, device=x.device)
    if not x.dtype.is_floating_point:
        return _median_dim(x, dim, keepdim)
    dim = dim % x.dim()
    count = (~torch.isnan(x)).sum(dim, keepdim=True)
    position = torch.clamp((count - 1) // 2, min=0)
    return _order_statistic(x, dim, keepdim, position)


def _nanmedian(x):
    return _nanmedian_dim(x.reshape(-1), 0)[0]


def _kthvalue(x, k, dim=-1, keepdim=False):
    if x.dim() == 0:
        return x.clone(), torch.zeros((), dtype=torch.int64, device=x.device)
    return _order_statistic(x, dim % x.dim(), keepdim, k - 1)


def _sort_stable(x, *, stable=None, dim=-1, descending=False):
    """The device's sort is stable whatever is asked: the plain sort, which torch-mlir lowers."""
    return torch.sort(x, dim, descending)


_J0_SMALL = (1.0, -2.2499997, 1.2656208, -0.3163866, 0.0444479, -0.0039444, 0.0002100)
_Y0_SMALL = (0.36746691, 0.60559366, -0.74350384, 0.25300117, -0.04261214, 0.00427916, -0.00024846)
_F0 = (0.79788456, -0.00000077, -0.00552740, -0.00009512, 0.00137237, -0.00072805, 0.00014476)
_T0 = (-0.78539816, -0.04166397, -0.00003954, 0.00262573, -0.00054125, -0.00029333, 0.00013558)
_J1_SMALL = (0.5, -0.56249985, 0.21093573, -0.03954289, 0.00443319, -0.00031761, 0.00001109)
_Y1_SMALL = (-0.6366198, 0.2212091, 2.1682709, -1.3164827, 0.3123951, -0.0400976, 0.0027873)
_F1 = (0.79788456, 0.00000156, 0.01659667, 0.00017105, -0.00249511, 0.00113653, -0.00020033)
_T1 = (-2.35619449, 0.12499612, 0.00005650, -0.00637879, 0.00074348, 0.00079824, -0.00029166)
_K0_SMALL = (-0.57721566, 0.42278420, 0.23069756, 0.03488590, 0.00262698, 0.00010750, 0.00000740)
_K0_LARGE = (1.25331414, -0.07832358, 0.02189568, -0.01062446, 0.00587872, -0.00251540, 0.00053208)
_K1_SMALL = (1.0, 0.15443144, -0.67278579, -0.18156897, -0.01919402, -0.00110404, -0.00004686)
_K1_LARGE = (1.25331414, 0.23498619, -0.03655620, 0.01504268, -0.00780353, 0.00325614, -0.00068245)


def _bessel_jy(x, order: int, second_kind: bool):
    """Bessel functions J0, J1, Y0, Y1 (Abramowitz & Stegun 9.4.1-9.4.6: polynomials up to
    |x| = 3, amplitude and phase beyond; absolute error below 1e-7). Y of x < 0 is NaN, of 0 -inf."""
    if not x.dtype.is_floating_point:
        return NotImplemented
    ax = torch.abs(x)
    small_x = torch.where(ax <= 3, ax, torch.full_like(ax, 3.0))
    big_x = torch.where(ax > 3, ax, torch.full_like(ax, 3.0))
    u = (small_x / 3) ** 2
    t = 3 / big_x
    amplitude = _poly(t, _F0 if order == 0 else _F1) / torch.sqrt(big_x)
    phase = big_x + _poly(t, _T0 if order == 0 else _T1)
    if order == 0:
        j_small = _poly(u, _J0_SMALL)
    else:
        j_small = small_x * _poly(u, _J1_SMALL)
    if not second_kind:
        j = torch.where(ax <= 3, j_small, amplitude * torch.cos(phase))
        return j if order == 0 else torch.sign(x) * j
    log_term = (2 / math.pi) * torch.log(small_x / 2) * j_small
    if order == 0:
        y_small = log_term + _poly(u, _Y0_SMALL)
    else:
        y_small = log_term + _poly(u, _Y1_SMALL) / small_x
    y = torch.where(ax <= 3, y_small, amplitude * torch.sin(phase))
    y = torch.where(x == 0, -math.inf, y)
    return torch.where(x < 0, math.nan, y)


def _bessel_k(x, order: int, scaled: bool):
    """Modified Bessel functions K0, K1 (and exp(x) times them), Abramowitz & Stegun 9.8.5-9.8.8
    (relative error below 2e-7). x < 0 gives NaN, 0 gives inf."""
    if not x.dtype.is_floating_point:
        return NotImplemented
    small_x = torch.where((x > 0) & (x <= 2), x, torch.full_like(x, 2.0))
    big_x = torch.where(x > 2, x, torch.full_like(x, 2.0))
    u = (small_x / 2) ** 2
    if order == 0:
        small = -torch.log(small_x / 2) * _bessel_i(small_x, 0, scaled=False) + _poly(u, _K0_SMALL)
    else:
        small = (small_x * torch.log(small_x / 2) * _bessel_i(small_x, 1, scaled=False) + _poly(u, _K1_SMALL)) / small_x
    large = _poly(2 / big_x, _K0_LARGE if order == 0 else _K1_LARGE) / torch.sqrt(big_x)
    if scaled:
        small = small * torch.exp(small_x)
    else:
        large = large * torch.exp(-big_x)
    out = torch.where(x <= 2, small, large)
    out = torch.where(x == 0, math.inf, out)
    return torch.where(x < 0, math.nan, out)


def _spherical_bessel_j0(x):
    """sin(x) / x, 1 at 0."""
    safe = torch.where(x == 0, torch.ones_like(x), x)
    return torch.where(x == 0, torch.ones_like(x), torch.sin(safe) / safe)


def _ndtri(p):
    """The standard normal quantile: sqrt(2) erfinv(2p - 1)."""
    return math.sqrt(2.0) * _erfinv(2 * p - 1)


def _signbit(x):
    """x < 0, and -0.0 (whose reciprocal is -inf); NaN counts as positive."""
    if not x.dtype.is_floating_point:
        return x < 0
    return (x < 0) | ((x == 0) & (1.0 / x < 0))


def _chebyshev(kind: str, shifted: bool):
    """Chebyshev polynomials T_n and U_n (and the shifted ones, of 2x - 1) in closed form: cos and
    sin of multiples of acos(x) inside [-1, 1], cosh and sinh of acosh |x| outside; n is
    truncated to an integer and n < 0 gives 0, as in PyTorch."""

    def decomposition(x, n):
        if not isinstance(x, torch.Tensor) or not x.dtype.is_floating_point:
            return NotImplemented
        if shifted:
            x = 2 * x - 1
        n = torch.trunc(n.to(x.dtype)) if isinstance(n, torch.Tensor) else torch.tensor(float(int(n)), dtype=x.dtype)
        inside = torch.abs(x) <= 1
        theta = torch.acos(torch.clamp(x, -1, 1))
        a = torch.acosh(torch.clamp(torch.abs(x), min=1))
        odd = torch.remainder(n, 2) == 1
        sign = torch.where((x < 0) & odd, -1.0, 1.0)
        if kind == "t":
            value = torch.where(inside, torch.cos(n * theta), sign * torch.cosh(n * a))
        else:
            sin_theta, sinh_a = torch.sin(theta), torch.sinh(a)
            at_edge = (sin_theta.abs() < 1e-6) & inside
            inner = torch.sin((n + 1) * theta) / torch.where(at_edge, torch.ones_like(sin_theta), sin_theta)
            edge = (n + 1) * torch.where((x < 0) & odd, -1.0, 1.0)
            outer = sign * torch.sinh((n + 1) * a) / torch.where(sinh_a == 0, torch.ones_like(sinh_a), sinh_a)
            value = torch.where(at_edge, edge, torch.where(inside, inner, outer))
        return torch.where(n < 0, torch.zeros_like(value), value)

    return decomposition


def _scatter_reduce(x, dim, index, src, reduce, *, include_self=True):
    """sum and mean through scatter_add (the device's scatter adds); others are left as they are."""
    if reduce not in ("sum", "mean"):
        return NotImplemented
    base = x if include_self else x.scatter(dim, index, torch.zeros_like(src))
    total = base.scatter_add(dim, index, src)
    if reduce == "sum":
        return total
    count = torch.ones_like(x) if include_self else torch.zeros_like(x)
    count = count.scatter_add(dim, index, torch.ones_like(src))
    mean = total / torch.clamp(count, min=1)
    return mean if x.dtype.is_floating_point else torch.div(total, torch.clamp(count, min=1), rounding_mode="floor")


def _put(x, index, source, accumulate=False):
    """Writes into the flattened tensor through index_put (negative indices wrap)."""
    flat = x.reshape(-1)
    return torch.index_put(flat, (index.reshape(-1),), source.reshape(-1), accumulate).reshape(x.shape)


CUSTOM: dict[torch._ops.OpOverload, Callable] = {
    aten.special_bessel_j0.default: lambda x: _bessel_jy(x, 0, second_kind=False),
    aten.special_bessel_j1.default: lambda x: _bessel_jy(x, 1, second_kind=False),
    aten.special_bessel_y0.default: lambda x: _bessel_jy(x, 0, second_kind=True),
    aten.special_bessel_y1.default: lambda x: _bessel_jy(x, 1, second_kind=True),
    aten.special_modified_bessel_i0.default: lambda x: _bessel_i(x, 0, scaled=False),
    aten.special_modified_bessel_i1.default: lambda x: _bessel_i(x, 1, scaled=False),
    aten.special_modified_bessel_k0.default: lambda x: _bessel_k(x, 0, scaled=False),
    aten.special_modified_bessel_k1.default: lambda x: _bessel_k(x, 1, scaled=False),
    aten.special_scaled_modified_bessel_k0.default: lambda x: _bessel_k(x, 0, scaled=True),
    aten.special_scaled_modified_bessel_k1.default: lambda x: _bessel_k(x, 1, scaled=True),
    aten.special_spherical_bessel_j0.default: _spherical_bessel_j0,
    aten.special_ndtri.default: _ndtri,
    aten.signbit.default: _signbit,
    **{
        getattr(getattr(aten, f"special_{prefix}chebyshev_polynomial_{kind}"), overload): _chebyshev(kind, bool(prefix))
        for prefix in ("", "shifted_")
        for kind in ("t", "u")
        for overload in ("default", "n_scalar")  # n a tensor, or a Python number
    },
    aten.scatter_reduce.two: _scatter_reduce,
    aten.put.default: _put,
    aten.sort.stable: _sort_stable,
    aten.median.default: _median,
    aten.median.dim: _median_dim,
    aten.nanmedian.default: _nanmedian,
    aten.nanmedian.dim: _nanmedian_dim,
    aten.kthvalue.default: _kthvalue,
    aten.frexp.Tensor: _frexp,
    aten.nonzero_static.default: _nonzero_static,
    aten._adaptive_avg_pool3d.default: _adaptive_avg_pool(3),
    aten.adaptive_max_pool1d.default: _adaptive_max_pool(1),
    aten.adaptive_max_pool2d.default: _adaptive_max_pool(2),
    aten.adaptive_max_pool3d.default: _adaptive_max_pool(3),
    aten.max_pool2d_with_indices.default: _max_pool_with_indices(2),
    aten.max_pool3d_with_indices.default: _max_pool_with_indices(3),
    aten.avg_pool3d.default: _avg_pool_nd(3),
    aten.convolution.default: _convolution,
    aten.lgamma.default: _lgamma,
    aten.digamma.default: _digamma,
    aten.polygamma.default: lambda n, x: _digamma(x) if n == 0 else NotImplemented,
    aten.erfinv.default: _erfinv,
    aten.i0.default: lambda x: _bessel_i(x, 0, scaled=False),
    aten.special_i0e.default: lambda x: _bessel_i(x, 0, scaled=True),
    aten.special_i1.default: lambda x: _bessel_i(x, 1, scaled=False),
    aten.special_i1e.default: lambda x: _bessel_i(x, 1, scaled=True),
    aten.angle.default: _angle,
    aten.cummax.default: _cummax,
    aten.cummin.default: _cummin,
    aten.histc.default: _histc,
    aten.diagonal_scatter.default: _diagonal_scatter,
    aten._pdist_forward.default: _pdist,
    aten.im2col.default: _im2col,
    aten.fmax.default: _fmax,
    aten.fmin.default: _fmin,
    aten.dist.default: _dist,
    aten.searchsorted.Tensor: _searchsorted,
    aten.isin.Tensor_Tensor: _isin,
    aten._trilinear.default: _trilinear,
    aten.view_copy.default: lambda x, size: x.reshape(size).clone(),
    aten.permute_copy.default: lambda x, dims: x.permute(dims).clone(),
    aten.narrow_copy.default: lambda x, dim, start, length: x.narrow(dim, start, length).clone(),
    aten.unbind_copy.int: lambda x, dim=0: [t.clone() for t in x.unbind(dim)],
    aten.unfold_copy.default: lambda x, dimension, size, step: x.unfold(dimension, size, step).clone(),
    aten.slice_scatter.default: _slice_scatter,
    aten.native_batch_norm.default: _batch_norm_inference,
    aten._native_batch_norm_legit_no_training.default: _batch_norm_no_training,
    aten._transformer_encoder_layer_fwd.default: _transformer_encoder_layer_fwd,
    aten.avg_pool2d.default: _avg_pool_nd(2),
    aten.remainder.Tensor: _remainder,
    aten.remainder.Scalar: _remainder,
    aten.isfinite.default: _isfinite,
    aten.hypot.default: _hypot,
    aten.fmod.Tensor: _fmod,
    aten.fmod.Scalar: _fmod,
    aten.__lshift__.Tensor: _shift(torch.bitwise_left_shift),
    aten.__lshift__.Scalar: _shift(torch.bitwise_left_shift),
    aten.bitwise_left_shift.Tensor_Scalar: _shift(torch.bitwise_left_shift),
    aten.__rshift__.Tensor: _shift(torch.bitwise_right_shift),
    aten.__rshift__.Scalar: _shift(torch.bitwise_right_shift),
    aten.bitwise_right_shift.Tensor_Scalar: _shift(torch.bitwise_right_shift),
    aten.roll.default: _roll,
    aten.any.default: _any,
    aten.any.dims: _any,
    aten.all.default: _all,
    aten.all.dims: _all,
    aten.cumprod.default: _cumprod,
    aten.erfc.default: _erfc,
    aten.logcumsumexp.default: _logcumsumexp,
    aten.addmv.default: _addmv,
    aten.diagonal.default: _diagonal,
    aten.linalg_cross.default: _linalg_cross,
    aten.unfold.default: _unfold,
    aten.binary_cross_entropy_with_logits.default: _bce_with_logits,
    aten.clamp.default: _clamp_int,
    aten._cdist_forward.default: _cdist,
    aten.copysign.Tensor: _copysign,
    aten.copysign.Scalar: _copysign,
    aten.upsample_bilinear2d.default: _upsample_bilinear2d,
    aten.upsample_trilinear3d.default: _upsample_trilinear3d,
    aten.upsample_bicubic2d.default: _upsample_bicubic2d,
    aten._upsample_bilinear2d_aa.default: _upsample_bilinear2d_aa,
    aten.new_empty_strided.default: lambda x, size, stride, dtype=None, layout=None, device=None, pin_memory=None: (
        aten.empty.memory_format(size, dtype=dtype or x.dtype, device=x.device)
    ),
}


# Composite ops kept whole through tracing: torch-mlir decomposes each into StableHLO
# under the one FX node's location, and the compiler folds that group back into one
# fused op (compiler/transforms/composites.py). Decomposed here, their parts would
# carry unrelated node names.
KEPT_COMPOSITES = (aten.native_layer_norm.default, aten.rms_norm.default, aten.silu.default)


# What functionalization itself writes (a copy_ into a slice becomes slice_scatter), for the
# second, functionalizing trace (frontend/trace.py).
FUNCTIONALIZED = {aten.slice_scatter.default: _slice_scatter}


def decomposition_table() -> dict:
    table = dict(core_aten_decompositions())
    table.update(get_decomposition_table())
    table.update(CUSTOM)
    table.update(_attention_decompositions())
    for op in KEPT_COMPOSITES:
        table.pop(op, None)
    return table
