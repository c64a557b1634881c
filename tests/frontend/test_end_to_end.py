"""The whole path, model to device: compile with backend="tt", run, compare with eager."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import MLP, SmallCNN, assert_matches, compile_tt, small_bert
from tt_torch.tools.utils import CompileDepth

MODELS = {
    "mlp": (MLP, lambda: (torch.randn(4, 32),)),
    "cnn": (SmallCNN, lambda: (torch.randn(2, 3, 16, 16),)),
    "transformer_encoder_layer": (
        lambda: torch.nn.TransformerEncoderLayer(32, 4, 64, batch_first=True),
        lambda: (torch.randn(2, 8, 32),),
    ),
    "bert": (small_bert, lambda: (torch.randint(0, 128, (1, 16)),)),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_model_runs_on_device_and_matches_eager(name):
    make_model, make_inputs = MODELS[name]
    model = make_model().eval()
    inputs = make_inputs()
    with torch.no_grad():
        golden = model(*inputs)
        compiled, artifacts = compile_tt(model)
        first = compiled(*inputs)
        second = compiled(*inputs)
    assert_matches(golden, first)
    assert_matches(golden, second)
    # the second call reuses the compiled program
    assert len(artifacts.graphs) == 1
    graph = artifacts.last
    assert graph.flatbuffer is not None and graph.ttnn is not None
    assert "ttnn.from_device" in graph.ttnn


def test_other_input_shape_recompiles():
    model = MLP().eval()
    compiled, artifacts = compile_tt(model)
    with torch.no_grad():
        for batch in (4, 4, 7, 4):
            x = torch.randn(batch, 32)
            assert_matches(model(x), compiled(x))
    shapes = {g.input_signature for g in artifacts.graphs}
    assert len(artifacts.graphs) == 2 and len(shapes) == 2


def test_dynamic_dynamo_graphs_are_specialized_per_shape():
    # with dynamic=None dynamo generalizes the batch dim after a second shape;
    # the executor still compiles one static program per concrete shape
    model = MLP().eval()
    compiled, artifacts = compile_tt(model, dynamic=None)
    with torch.no_grad():
        for batch in (4, 7, 9, 7):
            x = torch.randn(batch, 32)
            assert_matches(model(x), compiled(x))
    compiled_batches = [g.input_signature for g in artifacts.graphs]
    assert len(compiled_batches) == len(set(compiled_batches))  # never the same signature twice


@pytest.mark.parametrize(
    "depth,stages",
    [
        (CompileDepth.TORCH_FX, ("fx_graph",)),
        (CompileDepth.STABLEHLO, ("fx_graph", "stablehlo")),
        (CompileDepth.TTNN_IR, ("fx_graph", "stablehlo", "ttir", "ttnn")),
        (CompileDepth.EXECUTE, ("fx_graph", "stablehlo", "ttir", "ttnn", "flatbuffer")),
    ],
)
def test_compile_depth_stops_at_its_stage_and_results_stay_correct(depth, stages):
    model = SmallCNN().eval()
    x = torch.randn(1, 3, 16, 16)
    compiled, artifacts = compile_tt(model, depth)
    with torch.no_grad():
        assert_matches(model(x), compiled(x))
    graph = artifacts.last
    for stage in ("fx_graph", "stablehlo", "ttir", "ttnn", "flatbuffer"):
        assert (getattr(graph, stage) is not None) == (stage in stages), stage
    if "stablehlo" in stages:
        assert "stablehlo.convolution" in graph.stablehlo
    if "ttir" in stages:
        assert "ttir.conv2d" in graph.ttir and "ttnn.conv2d" in graph.ttnn


def test_consteval_moves_parameter_only_work_out_of_the_program():
    model = SmallCNN().eval()
    x = torch.randn(1, 3, 16, 16)
    with_ce, art_ce = compile_tt(model, CompileDepth.TTNN_IR, enable_consteval=True)
    without, art = compile_tt(model, CompileDepth.TTNN_IR, enable_consteval=False)
    with torch.no_grad():
        assert_matches(model(x), with_ce(x))
        assert_matches(model(x), without(x))
    # batch-norm folding (rsqrt of running_var) is parameter-only: gone from the device program
    assert "stablehlo.rsqrt" not in art_ce.last.stablehlo
    assert "stablehlo.rsqrt" in art.last.stablehlo
    assert "consteval_0" in art_ce.last.fx_graph


def test_consteval_results_follow_parameter_updates():
    model = MLP().eval()
    compiled, artifacts = compile_tt(model)
    x = torch.randn(3, 32)
    with torch.no_grad():
        assert_matches(model(x), compiled(x))
        model.fc1.weight.mul_(-2.0)  # in-place update bumps the parameter's version
        assert_matches(model(x), compiled(x))


def test_locations_name_fx_node_and_source_line():
    model = MLP().eval()
    compiled, artifacts = compile_tt(model, CompileDepth.TTNN_IR)
    with torch.no_grad():
        compiled(torch.randn(2, 32))
    text = artifacts.last.ttnn
    assert "helpers.py" in text  # the model's source file
    assert 'loc("' in text


def test_batch_norm_is_folded_into_the_convolution():
    model = SmallCNN().eval()
    x = torch.randn(2, 3, 16, 16)
    compiled, artifacts = compile_tt(model)
    with torch.no_grad():
        assert_matches(model(x), compiled(x))
    ttnn_ops = artifacts.last.report["op_counts"]["ttnn"]
    # each conv + batch-norm is one conv2d with a bias; no per-call normalization arithmetic is left
    assert ttnn_ops.get("ttnn.conv2d") == 2 and "ttnn.subtract" not in ttnn_ops and "ttnn.rsqrt" not in ttnn_ops
