"""TTIR: the device-independent Tenstorrent dialect.

Op names follow tt-mlir's TTIR. Tensors are plain ranked tensors in the
element types the device supports (f32, bf16, f16, si32, ui8...): the
StableHLO -> TTIR conversion narrows i64, f64 and i1 and records it.
Convolution and pooling take NHWC activations and OIHW weights.
"""

from __future__ import annotations

from torch_mlir.dialects.ext import Dialect

from ._define import OpTable


class TTIR(Dialect, name="ttir"):
    pass


OPS = OpTable()

# --- elementwise -----------------------------------------------------------
UNARY = (
    "abs neg exp log sqrt rsqrt reciprocal tanh sigmoid relu gelu erf sin cos floor ceil "
    "sign logical_not log1p expm1 silu isfinite gelu_tanh bitwise_not"
).split()
# The bitwise and shift ops take integers and work on the bit pattern of the result's type;
# a shift amount at or past its width (a negative one included) shifts every bit out.
# right_shift is arithmetic (tt-metal's kernel: ttnn.bitwise_right_shift).
BINARY = (
    "add subtract multiply div maximum minimum pow remainder atan2 eq ne lt le gt ge logical_and logical_or logical_xor "
    "bitwise_and bitwise_or bitwise_xor logical_left_shift logical_right_shift right_shift"
).split()
for _name in UNARY:
    OPS.add(TTIR, _name, "input")
for _name in BINARY:
    OPS.add(TTIR, _name, "lhs rhs")
OPS.add(TTIR, "where", "condition true_value false_value")
OPS.add(TTIR, "clamp_tensor", "input min max")
OPS.add(TTIR, "typecast", "input")

# --- matmul ----------------------------------------------------------------
OPS.add(TTIR, "matmul", "a b", "transpose_a transpose_b")
OPS.add(TTIR, "linear", "a b bias?", "transpose_a transpose_b")
# linear and conv2d may carry a fused ``activation`` attribute: "relu" | "gelu" |
# "gelu_tanh" | "silu" (transforms/fusion.py), applied after the bias
ACTIVATIONS = ("relu", "gelu", "gelu_tanh", "silu")

# --- convolution and pooling (NHWC) ------------------------------------------
# residual: a tensor of the result's shape added after the bias, before a fused activation
OPS.add(TTIR, "conv2d", "input weight bias? residual?", "stride padding dilation groups")
POOLS = ("max_pool2d", "avg_pool2d", "sum_pool2d")
for _name in POOLS:
    OPS.add(TTIR, _name, "input", "kernel_size stride padding dilation ceil_mode")

# --- reductions --------------------------------------------------------------
REDUCTIONS = ("sum", "mean", "max", "min", "prod", "argmax", "argmin")
for _name in REDUCTIONS:
    OPS.add(TTIR, _name, "input", "dim_arg keep_dim")
# fused composites (transforms/composites.py): softmax along one dimension; layer and
# RMS normalization over the last dimension
OPS.add(TTIR, "softmax", "input", "dimension")
NORMS = ("layer_norm", "rms_norm")
for _name in NORMS:
    OPS.add(TTIR, _name, "input weight? bias?", "epsilon")
# softmax(query @ key^T * scale + attention_mask [causal triangle]) @ value; 4-D
# [batch, heads, seq, head_dim], key and value may have fewer heads (grouped-query)
OPS.add(TTIR, "scaled_dot_product_attention", "query key value attention_mask?", "is_causal scale")

# --- data movement -------------------------------------------------------------
OPS.add(TTIR, "reshape", "input", "shape")
OPS.add(TTIR, "permute", "input", "permutation")
OPS.add(TTIR, "slice_static", "input", "begins ends step")
OPS.add(TTIR, "concat", "inputs*", "dim")
OPS.add(TTIR, "repeat", "input", "repeat_dimensions")
OPS.add(TTIR, "pad", "input", "padding value")
OPS.add(TTIR, "embedding", "input weight")
# torch.scatter along ``dim`` (TTNN's form; tt-mlir's ttir.scatter carries StableHLO's
# dimension numbers instead, which StableHLO -> TTIR resolves here): out = input, and each
# source[i] goes to i with i[dim] replaced by index[i]; scatter_reduce_type "none" writes
# it, "sum" adds it
OPS.add(TTIR, "scatter", "input index source", "dim scatter_reduce_type")
SCATTER_REDUCE_TYPES = ("none", "sum")
# a static KV cache's new row (tt-mlir's ttir.update_cache): cache [B, H, S, D] with input
# [B, H, 1, D] written at position update_index[0] of dim 2; the result is the updated cache
OPS.add(TTIR, "update_cache", "cache input update_index", "batch_offset")
# values and indices (si32) of ``input`` sorted along ``dim``; ``stable`` keeps ties in order
OPS.add(TTIR, "sort", "input", "dim descending stable", result="values indices")

# --- collectives (CCL) ---------------------------------------------------------------
# Tensor parallel (tt_torch/frontend/sharding.py): one SPMD program for a mesh, whose
# function carries ``tt.mesh_shape``. mesh_shard moves a whole tensor to each chip's shard
# (shard_direction "full_to_shard") or back ("shard_to_full"); shard_type "devices"
# splits it, shard_shape[d] pieces along dim d, shard_dims naming per mesh axis the dim
# split along it (-1: none); "replicate" gives every chip all of it. The others run over
# the chips of one line of mesh axis ``cluster_axis``; reduce_type "sum" | "max" | "min".
OPS.add(TTIR, "mesh_shard", "input", "shard_type shard_direction shard_shape shard_dims")
OPS.add(TTIR, "all_gather", "input", "all_gather_dim cluster_axis")
OPS.add(TTIR, "all_reduce", "input", "reduce_type cluster_axis")
OPS.add(TTIR, "reduce_scatter", "input", "reduce_type scatter_dim cluster_axis")
CCL_REDUCE_TYPES = ("sum", "max", "min")
SHARD_TYPES = ("identity", "replicate", "maximal", "devices")
SHARD_DIRECTIONS = ("full_to_shard", "shard_to_full")

# --- creation -------------------------------------------------------------------
OPS.add(TTIR, "constant", "", "value")
OPS.add(TTIR, "full", "", "fill_value")
OPS.add(TTIR, "arange", "", "start step arange_dimension")
