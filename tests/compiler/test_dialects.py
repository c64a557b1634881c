"""TTIR and TTNN are real MLIR dialects: ops verify, print and parse back."""

from __future__ import annotations

import pytest
from torch_mlir import ir

from tt_torch.compiler import context
from tt_torch.compiler.dialects import ttir, ttnn

TTIR_TEXT = """
func.func @main(%a: tensor<4x8xf32>, %b: tensor<8x16xf32>) -> tensor<4x16xf32> {
  %0 = "ttir.matmul"(%a, %b) {transpose_a = false, transpose_b = false} : (tensor<4x8xf32>, tensor<8x16xf32>) -> tensor<4x16xf32>
  %1 = "ttir.relu"(%0) : (tensor<4x16xf32>) -> tensor<4x16xf32>
  %2 = "ttir.concat"(%1, %1) {dim = 0 : i64, operandSegmentSizes = array<i32: 2>} : (tensor<4x16xf32>, tensor<4x16xf32>) -> tensor<8x16xf32>
  %3 = "ttir.slice_static"(%2) {begins = array<i64: 0, 0>, ends = array<i64: 4, 16>, step = array<i64: 1, 1>} : (tensor<8x16xf32>) -> tensor<4x16xf32>
  return %3 : tensor<4x16xf32>
}
"""


def test_ttir_parses_verifies_and_prints_back():
    with context.new_context():
        module = ir.Module.parse(TTIR_TEXT)
        assert module.operation.verify()
        ops = list(module.body.operations[0].regions[0].blocks[0].operations)
        assert isinstance(ops[0], ttir.OPS["matmul"])
        assert [op.operation.name for op in ops] == [
            "ttir.matmul",
            "ttir.relu",
            "ttir.concat",
            "ttir.slice_static",
            "func.return",
        ]
        assert len(ops[2].inputs) == 2
        text = str(module)
        again = ir.Module.parse(text)
        assert str(again) == text


def test_missing_attribute_fails_verification():
    bad = TTIR_TEXT.replace("{transpose_a = false, transpose_b = false}", "{transpose_a = false}")
    with context.new_context(), pytest.raises(ir.MLIRError, match="transpose_b"):
        ir.Module.parse(bad)


def test_wrong_operand_count_fails_verification():
    bad = TTIR_TEXT.replace('"ttir.relu"(%0)', '"ttir.relu"(%0, %0)').replace(
        "(tensor<4x16xf32>) -> tensor<4x16xf32>\n  %2", "(tensor<4x16xf32>, tensor<4x16xf32>) -> tensor<4x16xf32>\n  %2"
    )
    with context.new_context(), pytest.raises(ir.MLIRError, match="operand"):
        ir.Module.parse(bad)


def test_ttnn_layout_encoding_round_trips():
    text = """
func.func @main(%a: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %0 = "ttnn.to_device"(%a) {memory_config = "dram_interleaved"} : (tensor<4x8xf32>) -> tensor<4x8xf32, #ttnn.layout<"row_major", "dram", "interleaved", "">>
  %1 = "ttnn.to_layout"(%0) {layout = "tile"} : (tensor<4x8xf32, #ttnn.layout<"row_major", "dram", "interleaved", "">>) -> tensor<4x8xf32, #ttnn.layout<"tile", "dram", "interleaved", "">>
  "ttnn.deallocate"(%0) {force = false} : (tensor<4x8xf32, #ttnn.layout<"row_major", "dram", "interleaved", "">>) -> ()
  %2 = "ttnn.from_device"(%1) : (tensor<4x8xf32, #ttnn.layout<"tile", "dram", "interleaved", "">>) -> tensor<4x8xf32>
  return %2 : tensor<4x8xf32>
}
"""
    with context.new_context():
        module = ir.Module.parse(text)
        assert module.operation.verify()
        to_layout = list(module.body.operations[0].regions[0].blocks[0].operations)[1]
        enc = ir.RankedTensorType(to_layout.result.type).encoding
        assert isinstance(enc, ttnn.LayoutAttr)
        assert ir.StringAttr(enc.layout).value == "tile"


def test_op_class_lookups_import_nothing():
    """Looking up an op's Python class (what every pass does on every op) finds the dialect's
    module at once: the bindings retry a failed import on each lookup."""
    import sys

    tried = []

    class Recorder:
        def find_spec(self, name, path=None, target=None):
            tried.append(name)
            return None

    with context.new_context():
        module = ir.Module.parse(TTIR_TEXT)
        sys.meta_path.insert(0, Recorder())
        try:
            ops = [op.opview for op in module.body.operations[0].regions[0].blocks[0].operations]
        finally:
            sys.meta_path.pop(0)
    assert isinstance(ops[0], ttir.OPS["matmul"])
    assert tried == []
