"""What a compiled op is called and where it says it comes from: linears as `linear`, never a
location inside tt-torch or PyTorch, and `model_name` apart from the graph index."""

from __future__ import annotations

import pytest
import torch

import tt_torch
from tests.helpers import compile_tt
from tt_torch import runtime

pytestmark = pytest.mark.usefixtures("fast_numerics")


def test_an_exported_sequential_names_its_linears_and_points_at_no_library_file(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)).eval()
    result = tt_torch.export(model, (torch.randn(2, 8),), tmp_path / "seq.ttnn")
    ops = runtime.load_binary(result.path).program_ops(0)
    linears = [op["loc"] for op in ops if op["type"] == "LinearOp"]
    # the second linear is located at itself; the first computes the relu too (a fused activation)
    assert linears == ['"relu"', '"linear_1"'], linears
    assert not any("tt_torch/" in op["loc"] or "/torch/" in op["loc"] for op in ops)


def test_model_name_and_graph_index_are_apart():
    model = torch.nn.Linear(4, 4).eval()
    compiled, artifacts = compile_tt(model, model_name="resnet50")
    with torch.no_grad():
        compiled(torch.randn(2, 4))
    assert artifacts.last.name == "resnet50_graph0_0"
