"""TTNN: the Tenstorrent op-library dialect, one op per device kernel.

Device tensors carry a ``#ttnn.layout<layout, buffer, memory_layout, data_format>``
encoding (layout: "tile" | "row_major"; buffer: "dram" | "l1"; data_format: "" for
the element type itself, or a block-float format "bfp_bf8" | "bfp_bf4" | "bfp_bf2"
whose values the bf16 element type holds exactly); a tensor
without an encoding lives in host memory, row-major. Moving data between the
two, and between layouts and data types, is always an explicit op.
Convolution and pooling use TTNN's flattened NHWC activations [1, 1, N*H*W, C].
"""

# No `from __future__ import annotations`: ext reads the class annotations as types.

from torch_mlir import ir
from torch_mlir.dialects.ext import Dialect

from . import ttir
from ._define import OpTable


class TTNN(Dialect, name="ttnn"):
    pass


class LayoutAttr(TTNN.Attribute, name="layout"):
    layout: ir.StringAttr
    buffer: ir.StringAttr
    memory_layout: ir.StringAttr
    data_format: ir.StringAttr


OPS = OpTable()

# --- ops with the same operands and attributes as in TTIR ---------------------
# elementwise, matmul, reductions, data movement (but repeat), creation
OPS.copy_from(
    TTNN,
    ttir.OPS,
    [
        *ttir.UNARY,
        *ttir.BINARY,
        "where",
        "clamp_tensor",
        "matmul",
        "linear",
        *ttir.REDUCTIONS,
        "softmax",
        *ttir.NORMS,
        "scaled_dot_product_attention",
        "reshape",
        "permute",
        "slice_static",
        "concat",
        "pad",
        "embedding",
        "scatter",
        "sort",
        "constant",
        "full",
        "arange",
    ],
)
OPS.add(TTNN, "repeat", "input", "repeat_dims")

# --- collectives (CCL), as in TTIR; mesh_shard moves host tensors, the others device
# tensors over ``num_links`` ethernet links between neighbouring chips ---------------------
OPS.copy_from(TTNN, ttir.OPS, ["mesh_shard"])
OPS.add(TTNN, "all_gather", "input", "all_gather_dim cluster_axis num_links")
OPS.add(TTNN, "all_reduce", "input", "reduce_type cluster_axis num_links")
OPS.add(TTNN, "reduce_scatter", "input", "reduce_type scatter_dim cluster_axis num_links")

# --- convolution and pooling (flattened NHWC) -------------------------------------
OPS.add(
    TTNN,
    "conv2d",
    "input weight bias? residual?",
    "in_channels out_channels batch_size input_height input_width kernel_size stride padding dilation groups",
)
for _name in ttir.POOLS:
    OPS.add(
        TTNN,
        _name,
        "input",
        "batch_size input_height input_width channels kernel_size stride padding dilation ceil_mode",
    )

# --- in place: the row written into the cache operand's own buffer; no result (every later
# reader reads the cache operand), as in tt-mlir's TTNN --------------------------------
OPS.add(TTNN, "update_cache", "cache input update_index", "batch_offset", result=False)

# --- host/device, layout and memory ---------------------------------------------
OPS.add(TTNN, "to_device", "input", "memory_config")
OPS.add(TTNN, "from_device", "input")
OPS.add(TTNN, "to_layout", "input", "layout")
OPS.add(TTNN, "typecast", "input", "dtype")
OPS.add(TTNN, "deallocate", "input", "force", result=False)
