"""Each pass runs alone on an .mlir file through the opt driver."""

from __future__ import annotations

import subprocess
import sys

from tt_torch.compiler import opt

STABLEHLO = """
func.func @main(%x: tensor<2x8xf32>, %w: tensor<16x8xf32>, %b: tensor<16xf32>) -> tensor<2x16xf32> {
  %0 = stablehlo.transpose %w, dims = [1, 0] : (tensor<16x8xf32>) -> tensor<8x16xf32>
  %1 = stablehlo.dot_general %x, %0, contracting_dims = [1] x [0] : (tensor<2x8xf32>, tensor<8x16xf32>) -> tensor<2x16xf32>
  %2 = stablehlo.broadcast_in_dim %b, dims = [1] : (tensor<16xf32>) -> tensor<2x16xf32>
  %3 = stablehlo.add %1, %2 : tensor<2x16xf32>
  %cst = stablehlo.constant dense<0.000000e+00> : tensor<2x16xf32>
  %4 = stablehlo.maximum %3, %cst : tensor<2x16xf32>
  %5 = stablehlo.convert %4 : (tensor<2x16xf32>) -> tensor<2x16xf64>
  %6 = stablehlo.convert %5 : (tensor<2x16xf64>) -> tensor<2x16xf32>
  return %6 : tensor<2x16xf32>
}
"""


def _run(tmp_path, args, text):
    src = tmp_path / "in.mlir"
    src.write_text(text)
    out = tmp_path / "out.mlir"
    assert opt.main([str(src), *args, "-o", str(out)]) == 0
    return out.read_text() if not str(args).count("--to-flatbuffer") else out.read_bytes()


def test_stablehlo_to_ttir_alone(tmp_path):
    ttir = _run(tmp_path, ["--pass", "stablehlo-to-ttir", "--verify-each"], STABLEHLO)
    assert "stablehlo." not in ttir
    for op in ("ttir.permute", "ttir.matmul", "ttir.repeat", "ttir.add", "ttir.maximum", "ttir.constant"):
        assert op in ttir, op
    # f64 is narrowed to f32 on the device: the convert pair disappears
    assert "f64" not in ttir


def test_ttir_to_ttnn_then_flatbuffer(tmp_path):
    ttir = _run(tmp_path, ["--pass", "stablehlo-to-ttir"], STABLEHLO)
    ttnn = _run(tmp_path, ["--pipeline", "ttir-to-ttnn-pipeline", "--verify-each"], ttir)
    assert "ttir." not in ttnn
    assert ttnn.count("ttnn.to_device") == 3 and ttnn.count("ttnn.from_device") == 1
    assert "ttnn.deallocate" in ttnn and '#ttnn.layout<"tile", "dram", "interleaved", "">' in ttnn
    data = _run(tmp_path, ["--to-flatbuffer"], ttnn)
    assert data[8:12] == b"TTNB"  # size prefix, root offset, then the file identifier


def test_unsupported_op_is_reported_by_the_cli(tmp_path):
    text = STABLEHLO.replace(
        "%6 = stablehlo.convert %5 : (tensor<2x16xf64>) -> tensor<2x16xf32>",
        "%6 = stablehlo.cbrt %4 : tensor<2x16xf32>",
    )
    src = tmp_path / "bad.mlir"
    src.write_text(text)
    proc = subprocess.run(
        [sys.executable, "-m", "tt_torch.compiler.opt", str(src), "--pass", "stablehlo-to-ttir"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "cannot lower 'stablehlo.cbrt'" in proc.stderr


def test_fusion_turns_matmul_plus_bias_into_linear(tmp_path):
    ttir = _run(tmp_path, ["--pass", "stablehlo-to-ttir", "--pass", "ttir-fusion", "--verify-each"], STABLEHLO)
    assert "ttir.linear" in ttir and "ttir.matmul" not in ttir and "ttir.add" not in ttir
    # the bias enters linear unbroadcast: no repeat left
    assert "ttir.repeat" not in ttir


def test_fused_models_keep_their_results():
    import torch

    from tests.helpers import MLP, SmallCNN, assert_matches, compile_tt

    for model, x in ((MLP().eval(), torch.randn(4, 32)), (SmallCNN().eval(), torch.randn(2, 3, 16, 16))):
        compiled, artifacts = compile_tt(model)
        with torch.no_grad():
            assert_matches(model(x), compiled(x))
        fused = artifacts.last.report["fused"]
        if isinstance(model, MLP):
            assert fused.get("linear") == 3 and artifacts.last.report["op_counts"]["ttnn"].get("ttnn.linear") == 3
        else:
            # both convs carry a bias: conv1 its own, and each the folded batch-norm's
            assert fused.get("conv2d-bias") == 2
