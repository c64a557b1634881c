"""Corrections to the StableHLO torch-mlir emits, for both frontends (FX and ONNX).

- A right shift of an unsigned integer: torch-mlir lowers ``aten.bitwise_right_shift`` (and
  ONNX's ``BitShift`` with ``direction="RIGHT"``, defined on unsigned types only) to
  ``stablehlo.shift_right_arithmetic`` whatever the element type; StableHLO fills an
  arithmetic shift with the top bit, so a uint8 200 >> 1 would give 228. PyTorch and ONNX
  shift unsigned values logically (100): such shifts become ``shift_right_logical``.
"""

from __future__ import annotations

from torch_mlir import ir


def _unsigned(t: ir.Type) -> bool:
    if not isinstance(t, ir.RankedTensorType):
        return False
    el = ir.RankedTensorType(t).element_type
    return isinstance(el, ir.IntegerType) and ir.IntegerType(el).is_unsigned


def logical_unsigned_right_shifts(module: ir.Module) -> int:
    """Makes every arithmetic right shift of unsigned integers in ``module`` logical; returns how many."""
    found: list[ir.Operation] = []

    def walk(op: ir.Operation) -> None:
        for region in op.regions:
            for block in region.blocks:
                for inner in block.operations:
                    inner = inner.operation
                    if inner.name == "stablehlo.shift_right_arithmetic" and _unsigned(inner.results[0].type):
                        found.append(inner)
                    walk(inner)

    walk(module.operation)
    for op in found:
        with ir.InsertionPoint(op), op.location:
            logical = ir.Operation.create(
                "stablehlo.shift_right_logical", results=[op.results[0].type], operands=list(op.operands)
            )
        op.results[0].replace_all_uses_with(logical.results[0])
        op.erase()
    return len(found)


__all__ = ["logical_unsigned_right_shifts"]
