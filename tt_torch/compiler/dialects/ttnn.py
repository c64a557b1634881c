"""TTNN: the Tenstorrent op-library dialect, one op per device kernel.

Device tensors carry a ``#ttnn.layout<layout, buffer, memory_layout>``
encoding (layout: "tile" | "row_major"; buffer: "dram" | "l1"); a tensor
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


LAYOUTS = ("tile", "row_major")
BUFFERS = ("dram", "l1")

OPS = OpTable()

# --- elementwise (same operands as TTIR) -------------------------------------
for _name in ttir.UNARY:
    OPS.add(TTNN, _name, "input")
for _name in ttir.BINARY:
    OPS.add(TTNN, _name, "lhs rhs")
OPS.add(TTNN, "where", "condition true_value false_value")
OPS.add(TTNN, "clamp_tensor", "input min max")

# --- matmul ----------------------------------------------------------------
OPS.add(TTNN, "matmul", "a b", "transpose_a transpose_b")
OPS.add(TTNN, "linear", "a b bias?", "transpose_a transpose_b")

# --- convolution and pooling (flattened NHWC) -------------------------------------
OPS.add(
    TTNN,
    "conv2d",
    "input weight bias?",
    "in_channels out_channels batch_size input_height input_width kernel_size stride padding dilation groups",
)
for _name in ttir.POOLS:
    OPS.add(
        TTNN,
        _name,
        "input",
        "batch_size input_height input_width channels kernel_size stride padding dilation ceil_mode",
    )

# --- reductions --------------------------------------------------------------
for _name in ttir.REDUCTIONS:
    OPS.add(TTNN, _name, "input", "dim_arg keep_dim")

# --- data movement -------------------------------------------------------------
OPS.add(TTNN, "reshape", "input", "shape")
OPS.add(TTNN, "permute", "input", "permutation")
OPS.add(TTNN, "slice_static", "input", "begins ends step")
OPS.add(TTNN, "concat", "inputs*", "dim")
OPS.add(TTNN, "repeat", "input", "repeat_dims")
OPS.add(TTNN, "pad", "input", "padding value")
OPS.add(TTNN, "embedding", "input weight")

# --- creation -------------------------------------------------------------------
OPS.add(TTNN, "constant", "", "value")
OPS.add(TTNN, "full", "", "fill_value")
OPS.add(TTNN, "arange", "", "start step arange_dimension")

# --- host/device, layout and memory ---------------------------------------------
OPS.add(TTNN, "to_device", "input", "memory_config")
OPS.add(TTNN, "from_device", "input")
OPS.add(TTNN, "to_layout", "input", "layout")
OPS.add(TTNN, "typecast", "input", "dtype")
OPS.add(TTNN, "deallocate", "input", "force", result=False)
