"""A ResNet-style CNN and a BERT-style encoder, exported with torch.onnx.export, compiled from
the .onnx file: they match ONNX Runtime, export to .ttnn and run from the CLI with the same
outputs."""

from __future__ import annotations

import pytest
import torch

from tests.onnx.models import bert_style, resnet_style
from tt_torch import runtime
from tt_torch.accuracy import compute_pcc
from tt_torch.onnx_compile import compile_onnx
from tt_torch.tools import cli


@pytest.fixture(autouse=True)
def _no_compile_cache(monkeypatch):
    monkeypatch.setenv("TT_TORCH_CACHE_DIR", "off")


@pytest.mark.parametrize("build", [resnet_style, bert_style], ids=["resnet", "bert"])
def test_model_matches_onnx_runtime_and_runs_from_the_cli(build, tmp_path, capsys):
    onnx_path = str(tmp_path / "model.onnx")
    inputs = build(onnx_path)
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    model = compile_onnx(onnx_path)
    assert set(model.prepared.arg_kinds[len(inputs) :]) == {"parameter"}  # the weights are program inputs
    ours = model(*inputs)
    golden = model.run_reference(inputs)
    assert ours.names == ("last_hidden_state", "pooler_output")
    for name, g, o in zip(ours.names, golden, ours):
        assert o.shape == g.shape and o.dtype == g.dtype, name
        assert compute_pcc(g, o) >= 0.99, name
    path = tmp_path / "model.ttnn"
    model.export(path, inputs)
    model.close()
    loaded = runtime.load(path)
    for a, b in zip(loaded(*inputs), ours):
        assert torch.equal(a, b)  # the file's program, on the file's weights
    loaded.close()
    assert cli.main(["run", str(path), "--golden"]) == 0  # the CLI against ONNX Runtime's outputs
    out = capsys.readouterr().out
    assert out.count(" ok") == 2, out
