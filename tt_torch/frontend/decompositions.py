"""The aten decompositions applied while tracing, before torch-mlir import.

Core ATen plus torch-mlir's own table, and tt-torch's rules for ops that
torch-mlir's StableHLO lowering does not take (batch-norm in eval mode).
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
    if training:
        # Returning a wrong answer silently is worse than refusing.
        raise NotImplementedError(
            "batch_norm in training mode is not supported by tt-torch; call model.eval() before compiling"
        )
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


def _avg_pool2d(x, kernel_size, stride=(), padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    """A window that covers the whole input is a mean (torch-mlir mislowers it with ceil_mode)."""
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    pads = (padding, padding) if isinstance(padding, int) else tuple(padding)
    if divisor_override is None and not any(pads) and kh >= x.shape[-2] and kw >= x.shape[-1] and ceil_mode:
        return x.mean(dim=(-2, -1), keepdim=True)
    return NotImplemented


def _adaptive_avg_pool1d(x, output_size):
    """Through the 2-D pool: the 1-D op's own decomposition leaves an in-place view torch-mlir rejects."""
    size = output_size if isinstance(output_size, int) else output_size[0]
    # contiguous: else the 2-D decomposition restrides its result in place (as_strided_)
    return torch.nn.functional.adaptive_avg_pool2d(x.contiguous().unsqueeze(-2), (1, size)).squeeze(-2)


def _remainder(a, b):
    """Python's modulo (the divisor's sign), from fmod: torch-mlir lowers it as C's fmod."""
    r = torch.fmod(a, b)
    b_t = b if isinstance(b, torch.Tensor) else torch.full_like(r, b)
    fix = (r != 0) & ((r < 0) != (b_t < 0))
    return torch.where(fix, r + b_t, r)


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
    return NotImplemented


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
}


CUSTOM: dict[torch._ops.OpOverload, Callable] = {
    aten.native_batch_norm.default: _batch_norm_inference,
    aten._native_batch_norm_legit_no_training.default: _batch_norm_no_training,
    aten._transformer_encoder_layer_fwd.default: _transformer_encoder_layer_fwd,
    aten.avg_pool2d.default: _avg_pool2d,
    aten.remainder.Tensor: _remainder,
    aten.remainder.Scalar: _remainder,
    aten.isfinite.default: _isfinite,
    aten.hypot.default: _hypot,
    aten.fmod.Tensor: _fmod,
    aten.fmod.Scalar: _fmod,
    aten.roll.default: _roll,
}


# Composite ops kept whole through tracing: torch-mlir decomposes each into StableHLO
# under the one FX node's location, and the compiler folds that group back into one
# fused op (compiler/transforms/composites.py). Decomposed here, their parts would
# carry unrelated node names.
KEPT_COMPOSITES = (aten.native_layer_norm.default, aten.rms_norm.default, aten.silu.default)


def decomposition_table() -> dict:
    table = dict(core_aten_decompositions())
    table.update(get_decomposition_table())
    table.update(CUSTOM)
    table.update(_attention_decompositions())
    for op in KEPT_COMPOSITES:
        table.pop(op, None)
    return table
