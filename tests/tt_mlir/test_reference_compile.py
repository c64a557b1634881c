"""The real tt-mlir as a reference compiler: descriptors, compile-only results, contained failures.

Needs jax-tt-plugin (env/requirements.txt); skipped with the reason when it is absent.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.helpers import MLP, SmallCNN, compile_tt, small_bert
from tt_torch.tools.utils import CompileDepth
from tt_torch.tt_mlir import compile_many, compile_stablehlo, fused_activations, prepare, ttsys, unavailable_reason

pytestmark = pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))
REPO = Path(__file__).resolve().parents[2]


def stablehlo_of(model, *inputs) -> str:
    compiled, artifacts = compile_tt(model.eval(), CompileDepth.STABLEHLO)
    with torch.no_grad():
        compiled(*inputs)
    return artifacts.last.stablehlo


@pytest.fixture(scope="module")
def models():
    """The MLP, small CNN and small BERT, each compiled by tt-mlir (one worker for all three)."""
    torch._dynamo.reset()
    torch.manual_seed(0)
    texts = [
        stablehlo_of(MLP(), torch.randn(4, 32)),
        stablehlo_of(SmallCNN(), torch.randn(1, 3, 16, 16)),
        stablehlo_of(small_bert(), torch.randint(0, 128, (1, 16))),
    ]
    return dict(zip(("mlp", "cnn", "bert"), compile_many(texts)))


def test_ttsys_round_trip_and_targets():
    for target, arch, chips in (("n150", "wormhole_b0", 1), ("n300", "wormhole_b0", 2), ("p150", "blackhole", 1)):
        desc = ttsys.read(ttsys.build(target))
        assert desc["chip_descs"][0]["arch"] == arch and desc["num_chips"] == chips
    assert ttsys.read(ttsys.build("n150"))["chip_descs"][0]["l1_size"] == 1_499_136


@pytest.mark.parametrize("target,grid", [("n300", "8x8"), ("p150", "10x13")])
def test_other_targets_compile(target, grid):
    text = "func.func @main(%a: tensor<32x32xf32>) -> tensor<32x32xf32> {\n  %0 = stablehlo.tanh %a : tensor<32x32xf32>\n  return %0 : tensor<32x32xf32>\n}"
    result = compile_stablehlo(text, target=target)
    assert result.ok, result.error
    assert f"grid = {grid}" in result.ttnn and result.ttnn_ops()["ttnn.tanh"] == 1


def test_mlp_real_program(models):
    """torch-mlir's addmm arrives as dot_general * alpha + bias: tt-mlir keeps the multiply by one
    (tt-torch folds it and fuses a linear) and fuses each relu into the add as an activation."""
    r = models["mlp"]
    assert r.ok, r.error
    ops = r.ttnn_ops()
    assert ops["ttnn.matmul"] == 3 and ops["ttnn.multiply"] == 3 and ops["ttnn.add"] == 3
    assert ops["ttnn.relu"] == 0 and ops["ttnn.linear"] == 0
    assert fused_activations(r.ttnn) == {"ttnn.add+relu": 2}
    assert r.ttir and "ttir." in r.ttir
    assert r.flatbuffer[8:12] == b"TTNN"  # tt-mlir's own (size-prefixed) binary


def test_cnn_and_bert_compile(models):
    cnn, bert = models["cnn"], models["bert"]
    assert cnn.ok, cnn.error
    assert cnn.ttnn_ops()["ttnn.conv2d"] == 2 and cnn.ttnn_ops()["ttnn.max_pool2d"] == 1
    assert bert.ok, bert.error
    ops = bert.ttnn_ops()
    assert ops["ttnn.matmul"] + ops["ttnn.linear"] == 13  # q, k, v, out, 2 FFN per layer, 2 layers, pooler
    assert ops["ttnn.softmax"] + ops["ttnn.exp"] >= 2


def test_arith_constant_becomes_stablehlo_constant():
    text = '%c = arith.constant dense<1> : tensor<i64>\n%d = "arith.constant"() <{value = dense<2> : tensor<i64>}>'
    out = prepare(text)
    assert "arith" not in out and out.count("stablehlo.constant") == 2


PLANTED = {
    "if": (
        "func.func @main(%p: tensor<i1>, %a: tensor<4xf32>) -> tensor<4xf32> {\n"
        '  %0 = "stablehlo.if"(%p) ({\n    stablehlo.return %a : tensor<4xf32>\n  }, {\n'
        "    %1 = stablehlo.negate %a : tensor<4xf32>\n    stablehlo.return %1 : tensor<4xf32>\n"
        "  }) : (tensor<i1>) -> tensor<4xf32>\n  return %0 : tensor<4xf32>\n}",
        "stablehlo.if",
    ),
    "rng": (
        "func.func @main(%a: tensor<f32>) -> tensor<4xf32> {\n  %s = stablehlo.constant dense<4> : tensor<1xi64>\n"
        "  %0 = stablehlo.rng %a, %a, %s, distribution = UNIFORM : (tensor<f32>, tensor<f32>, tensor<1xi64>) -> tensor<4xf32>\n"
        "  return %0 : tensor<4xf32>\n}",
        "stablehlo.rng",
    ),
    "argmax": (
        "func.func @main(%a: tensor<4x8xf32>, %i: tensor<4x8xi32>) -> tensor<4xi32> {\n"
        "  %z = stablehlo.constant dense<0xFF800000> : tensor<f32>\n  %zi = stablehlo.constant dense<0> : tensor<i32>\n"
        "  %0:2 = stablehlo.reduce(%a init: %z), (%i init: %zi) across dimensions = [1] : (tensor<4x8xf32>, tensor<4x8xi32>, tensor<f32>, tensor<i32>) -> (tensor<4xf32>, tensor<4xi32>)\n"
        "   reducer(%x: tensor<f32>, %y: tensor<f32>) (%xi: tensor<i32>, %yi: tensor<i32>) {\n"
        "    %c = stablehlo.compare GE, %x, %y : (tensor<f32>, tensor<f32>) -> tensor<i1>\n"
        "    %m = stablehlo.select %c, %x, %y : tensor<i1>, tensor<f32>\n"
        "    %n = stablehlo.select %c, %xi, %yi : tensor<i1>, tensor<i32>\n"
        "    stablehlo.return %m, %n : tensor<f32>, tensor<i32>\n  }\n  return %0#1 : tensor<4xi32>\n}",
        "stablehlo.reduce",
    ),
    "dynamic": (
        "func.func @main(%a: tensor<?x4xf32>) -> tensor<?x4xf32> {\n  %0 = stablehlo.tanh %a : tensor<?x4xf32>\n"
        "  return %0 : tensor<?x4xf32>\n}",
        "Dynamic",
    ),
}


def test_planted_rejections_are_recorded():
    results = compile_many([text for text, _ in PLANTED.values()])
    for (name, (_, expected)), r in zip(PLANTED.items(), results):
        assert r.status == "rejected", (name, r.status, r.error)
        assert expected in r.error, (name, r.error)


def test_plugin_crash_is_contained(monkeypatch):
    """A corrupt descriptor kills the plugin's process; the caller gets a recorded crash and goes on."""
    from tt_torch.tt_mlir import compile as tt_compile

    good = ttsys.build("n150")
    monkeypatch.setattr(tt_compile.ttsys, "build", lambda target: good[:200] + b"\xff" * (len(good) - 200))
    text = "func.func @main(%a: tensor<32x32xf32>) -> tensor<32x32xf32> {\n  return %a : tensor<32x32xf32>\n}"
    results = compile_many([text, text], timeout=30)
    assert [r.status for r in results] == ["crash", "crash"]
    assert "died" in results[0].error


def test_schema_hash_mismatch_is_a_clear_error(monkeypatch):
    from tt_torch.tt_mlir import compile as tt_compile

    bad = ttsys.build("n150", schema_hash="0" * 64)
    monkeypatch.setattr(tt_compile.ttsys, "build", lambda target: bad)
    result = compile_stablehlo("func.func @main(%a: tensor<4xf32>) -> tensor<4xf32> {\n  return %a : tensor<4xf32>\n}")
    assert result.status == "unavailable" and "schema hash mismatch" in result.error and "0.1.3" in result.error


def test_leaves_nothing_behind(tmp_path):
    """The CLI, run from a user's directory, writes only what --out asks for; the repository stays clean."""
    mlir = tmp_path / "m.mlir"
    mlir.write_text(
        "func.func @main(%a: tensor<4x8xf32>, %b: tensor<8x16xf32>) -> tensor<4x16xf32> {\n"
        "  %0 = stablehlo.dot_general %a, %b, contracting_dims = [1] x [0] : (tensor<4x8xf32>, tensor<8x16xf32>) -> tensor<4x16xf32>\n"
        "  return %0 : tensor<4x16xf32>\n}"
    )
    before = subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=REPO, capture_output=True, text=True)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "tt_torch.tools.cli", "tt-mlir", str(mlir), "--out", "out"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.mlir", "out"]
    assert {"ttir.mlir", "ttnn.mlir", "model.ttnn", "result.json"} <= {p.name for p in (tmp_path / "out").iterdir()}
    after = subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=REPO, capture_output=True, text=True)
    assert before.stdout == after.stdout
