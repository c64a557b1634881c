"""CompilerConfig(compiler="tt-mlir"): the real tt-mlir's TTNN program runs on the emulated device,
checked against eager PyTorch."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import MLP, SmallCNN, assert_matches, compile_tt
from tt_torch.tools.utils import CompileDepth
from tt_torch.tt_mlir import compile_stablehlo, unavailable_reason
from tt_torch.tt_mlir.importer import IMPORTS, TTNNImportError, import_program

pytestmark = pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))


def run_with_tt_mlir(model, *inputs):
    model = model.eval()
    with torch.no_grad():
        golden = model(*inputs)
        compiled, artifacts = compile_tt(model, CompileDepth.EXECUTE, compiler="tt-mlir")
        result = compiled(*inputs)
    return golden, result, artifacts.last


def test_mlp():
    golden, result, art = run_with_tt_mlir(MLP(), torch.randn(4, 32))
    assert_matches(golden, result, pcc=0.99)
    assert art.report["compiler"] == "tt-mlir" and art.report["imported_ops"]["ttnn.matmul"] == 3
    assert {c["math_fidelity"] for c in art.report["compute_configs"]} == {"hifi4"}


def test_transformer_encoder_layer():
    layer = torch.nn.TransformerEncoderLayer(d_model=32, nhead=2, dim_feedforward=64, dropout=0.0, batch_first=True)
    golden, result, art = run_with_tt_mlir(layer, torch.randn(2, 8, 32))
    assert_matches(golden, result, pcc=0.99)


def test_cnn():
    golden, result, art = run_with_tt_mlir(SmallCNN(), torch.randn(1, 3, 16, 16))
    assert_matches(golden, result, pcc=0.99)
    assert art.report["imported_ops"]["ttnn.conv2d"] == 2 and art.report["imported_ops"]["ttnn.avg_pool2d"] == 1


SORT = """func.func @main(%a: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %0 = "stablehlo.sort"(%a) ({
  ^bb0(%x: tensor<f32>, %y: tensor<f32>):
    %c = stablehlo.compare GT, %x, %y : (tensor<f32>, tensor<f32>) -> tensor<i1>
    stablehlo.return %c : tensor<i1>
  }) {dimension = 1 : i64, is_stable = false} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}"""


def test_an_op_without_import_is_named():
    theirs = compile_stablehlo(SORT)
    assert theirs.ok, theirs.error
    assert "ttnn.sort" in IMPORTS and theirs.ttnn_ops()["ttnn.sort"] == 1
    unknown = theirs.ttnn.replace('"ttnn.sort"', '"ttnn.sort_of_future"')  # an op tt-mlir may add
    with pytest.raises(TTNNImportError, match=r"'ttnn.sort_of_future' \(at .*\) has no import into tt-torch"):
        import_program(unknown)
