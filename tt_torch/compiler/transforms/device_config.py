"""TTNN passes that apply the compile options of the emulated device.

- ``set_compute_config``: every matrix-unit op (matmul, linear, conv2d, multiply) gets
  ``compute_config = {math_fidelity, fp32_dest_acc_en}`` (tt-mlir's compute kernel
  config; its defaults are HiFi4 with fp32 accumulation).
- ``set_weight_dtype``: the weights of matmul and linear (operand b, when it comes from
  a parameter or constant argument through layout and shape changes only) are cast to a
  block-float format (``experimental_weight_dtype``: bfp_bf8 or bfp_bf4) by a
  ``ttnn.typecast`` in front of the op; the runtime rounds them once and caches them.
- ``place_in_l1``: at optimization level >= 1, intermediate device tensors move from DRAM
  to L1 while the live L1 tensors fit in half of the chip's L1 (the rest is left to the
  kernels' circular buffers); level 0 keeps everything in DRAM, as tt-mlir does.
"""

from __future__ import annotations

from torch_mlir import ir

from ..dialects import ttnn
from ..dialects._define import build
from ..dialects.ttnn_layout import decode, device_type, is_device
from ..ir_helpers import argument_tags, as_operation, ops_named
from ..options import DEFAULT_MATH_FIDELITY
from ..target.cost_model import MATRIX_OPS, device_bytes
from .deallocation import last_user, program_order

# Ops whose operands pass the matrix unit's SrcA/SrcB registers and so take a compute kernel
# config: the cost model's matrix ops, and the multiply, which is costed as a vector op.
COMPUTE_CONFIG_OPS = (*MATRIX_OPS, "ttnn.multiply")
_PASS_THROUGH = ("ttnn.to_layout", "ttnn.to_device", "ttnn.reshape", "ttnn.permute")
_BLOCK_FLOAT = ("bfp_bf8", "bfp_bf4", "bfp_bf2")


def set_compute_config(
    module: ir.Module, math_fidelity: str = DEFAULT_MATH_FIDELITY, fp32_dest_acc_en: bool = True
) -> int:
    """Returns how many ops got a compute config."""
    count = 0
    with module.context:
        config = ir.DictAttr.get(
            {
                "math_fidelity": ir.StringAttr.get(math_fidelity),
                "fp32_dest_acc_en": ir.BoolAttr.get(fp32_dest_acc_en),
            }
        )
        for _, op in ops_named(module, *COMPUTE_CONFIG_OPS):
            op.attributes["compute_config"] = config
            count += 1
    return count


def _argument_kind(func_op, value: ir.Value) -> str | None:
    """'parameter'/'constant'/... when `value` is a function argument (through layout and
    shape changes), else None."""
    while isinstance(value, ir.OpResult) and value.owner.name in _PASS_THROUGH:
        value = value.owner.operands[0]
    if not isinstance(value, ir.BlockArgument):
        return None
    return argument_tags(func_op, value.arg_number)[0]


def set_weight_dtype(module: ir.Module, data_format: str) -> int:
    """Casts matmul/linear weights to `data_format`; returns how many were cast."""
    if not data_format:
        return 0
    if data_format not in _BLOCK_FLOAT:
        raise ValueError(f"unknown weight data format {data_format!r}; expected one of {', '.join(_BLOCK_FLOAT)}")
    count = 0
    with module.context:
        for func_op, op in ops_named(module, "ttnn.matmul", "ttnn.linear"):
            weight = op.operands[1]
            t = ir.RankedTensorType(weight.type)
            if t.encoding is None or not isinstance(t.element_type, ir.FloatType):
                continue
            if _argument_kind(func_op, weight) not in ("parameter", "buffer", "constant"):
                continue
            buffer = decode(t).buffer
            with ir.InsertionPoint(op), op.location:
                cast_type = device_type(
                    ir.RankedTensorType.get(list(t.shape), ir.BF16Type.get()), "tile", buffer, data_format
                )
                cast = build(
                    ttnn.OPS["typecast"], [weight], {"dtype": ir.StringAttr.get(data_format)}, cast_type, op.location
                )
            op.operands[1] = cast.result
            count += 1
    return count


def place_in_l1(module: ir.Module, l1_budget_bytes: int) -> int:
    """Moves intermediate device tensors to L1 while the live ones fit in `l1_budget_bytes`;
    returns how many moved. Program inputs (to_device) and outputs (towards from_device)
    stay in DRAM."""
    moved = 0
    with module.context:
        for ops, position in program_order(module):
            live: list[tuple[int, int]] = []  # (last use, bytes) of tensors in L1
            for i, op in enumerate(ops):
                live = [(end, size) for end, size in live if end >= i]
                if op.name in ("ttnn.to_device", "ttnn.from_device", "ttnn.deallocate", "func.return"):
                    continue
                for value in op.results:
                    if not is_device(value):
                        continue
                    last = last_user(value, position)
                    if last is None or any(
                        as_operation(u.owner).name in ("func.return", "ttnn.from_device") for u in value.uses
                    ):
                        continue
                    size = device_bytes(value)
                    if sum(s for _, s in live) + size > l1_budget_bytes:
                        continue
                    enc = decode(value.type)
                    with op.location:
                        value.set_type(device_type(value.type, enc.layout, "l1", enc.data_format))
                    live.append((position[last], size))
                    moved += 1
    return moved
