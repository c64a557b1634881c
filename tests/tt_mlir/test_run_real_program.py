"""CompilerConfig(compiler="tt-mlir"): the real tt-mlir's TTNN program runs on the emulated device,
checked against eager PyTorch."""

from __future__ import annotations

import pytest
import torch
from helpers import MLP, SmallCNN, assert_matches, compile_tt

from tt_torch.tools.utils import CompileDepth
from tt_torch.tt_mlir import unavailable_reason
from tt_torch.tt_mlir.importer import TTNNImportError

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


def test_an_op_without_import_is_named():
    """tt-mlir's conv2d (weights prepared by its const-eval) has no import yet: the error names it and the model line."""
    with pytest.raises(TTNNImportError, match=r"'ttnn\.conv2d' \(at .*helpers\.py.*\) has no import"):
        run_with_tt_mlir(SmallCNN(), torch.randn(1, 3, 16, 16))
