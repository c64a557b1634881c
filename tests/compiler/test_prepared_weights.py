"""Weights enter the program prepared (ttnn-prepared-weights): a weight's to_device, to_layout
and reshape are folded into its argument, which the runtime places on the device when it
binds the inputs. What a call computes must not change: results follow every change of a
weight (in place, through .data, a new Parameter) in both numerics, a cast weight keeps its
cast, and a weight of another shape (size-1 dimensions aside) is refused by name."""

from __future__ import annotations

import re

import pytest
import torch

from tests.helpers import compile_tt
from tt_torch import runtime
from tt_torch.errors import TTRuntimeError


class ConvHead(torch.nn.Module):
    """A conv with a bias (reshaped to [1, 1, 1, C] for the device) and a linear head."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.head = torch.nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def _weight_reads(ttnn: str) -> list[str]:
    """The ops that read a weight argument through to_device (none once weights enter prepared)."""
    header = ttnn.split("func.func @main(", 1)[1].split(") -> ", 1)[0]
    weights = re.findall(r'(%arg\d+): tensor<[^{]*\{tt\.argument_type = "(?:parameter|buffer|constant)"', header)
    return [w for w in weights if re.search(rf'"ttnn\.to_device"\({w}\)', ttnn)]


@pytest.mark.parametrize("numerics", ["fast", "emulated"])
def test_prepared_weights_follow_every_change(numerics):
    torch.manual_seed(0)
    model = ConvHead().eval()
    compiled, artifacts = compile_tt(model, numerics=numerics)
    tol = 1e-4 if numerics == "fast" else 5e-2
    x = torch.randn(2, 3, 6, 6)

    def check():
        torch.testing.assert_close(compiled(x), model(x), atol=tol, rtol=tol)

    with torch.no_grad():
        check()
        ttnn = artifacts.last.ttnn
        assert artifacts.last.report["op_counts"]["ttnn"].get("ttnn.to_device", 0) >= 1  # the user input
        assert not _weight_reads(ttnn), ttnn
        # each weight is an argument on the device, the conv bias in the [1, 1, 1, C] it is read as
        assert re.search(
            r'tensor<1x1x1x8xf32, #ttnn\.layout<[^>]*>> \{tt\.argument_type = "(?:parameter|constant)"', ttnn
        )
        check()
        model.conv.weight.mul_(-1.5)  # in place
        check()
        model.conv.bias.data.copy_(torch.randn(8))  # through .data
        check()
        model.head.bias.add_(2.0)
        check()
        model.head.weight = torch.nn.Parameter(torch.randn(5, 8))  # a new tensor
        check()


def test_a_weight_cast_on_the_device_keeps_its_cast():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 8)).eval()
    compiled, artifacts = compile_tt(model, numerics="emulated", experimental_weight_dtype="bfp_bf8")
    x = torch.randn(4, 64)
    with torch.no_grad():
        first = compiled(x)
        ttnn = artifacts.last.ttnn
        assert ttnn.count('"ttnn.typecast"') >= 2, ttnn  # the casts stay in the program
        assert not _weight_reads(ttnn), ttnn
        torch.testing.assert_close(first, model(x), atol=0.1, rtol=0.1)
        model[0].weight.mul_(2.0)  # the cast weight is made again
        torch.testing.assert_close(compiled(x), model(x), atol=0.2, rtol=0.1)


def test_a_prepared_weight_of_the_wrong_size_is_refused_by_name():
    model = torch.nn.Linear(6, 3).eval()
    compiled, artifacts = compile_tt(model, numerics="fast")
    x = torch.randn(2, 6)
    with torch.no_grad():
        compiled(x)
    binary = runtime.load_binary(artifacts.last.flatbuffer)
    descs = binary.program_inputs(0)
    assert [d["on_device"] for d in descs if d["arg_type"] != "Input"] == [True, True]
    assert [d["on_device"] for d in descs if d["arg_type"] == "Input"] == [False]
    # a weight is taken in its declared shape with or without size-1 dimensions (the bias [3] for [1, 3])
    inputs = [x if d["arg_type"] == "Input" else torch.randn([n for n in d["shape"] if n != 1]) for d in descs]
    weights = [i for i, d in enumerate(descs) if d["arg_type"] != "Input"]
    matrix = next(i for i in weights if sorted(descs[i]["shape"]) == [3, 6])
    with runtime.open_device(binary, numerics="fast") as device:
        assert runtime.submit(device, binary, 0, inputs)[0].shape == (2, 3)
        for k, bad in (
            (weights[0], torch.randn(inputs[weights[0]].numel() + 1)),  # another size
            (matrix, inputs[matrix].t().contiguous()),  # the same elements, transposed
            (matrix, inputs[matrix].flatten()),  # the same elements, flattened
        ):
            wrong = list(inputs)
            wrong[k] = bad
            with pytest.raises(TTRuntimeError, match=rf"input {k} \('{descs[k]['name']}'\).*size-1 dimensions aside"):
                runtime.submit(device, binary, 0, wrong)


def test_intermediate_verification_with_prepared_weights():
    torch.manual_seed(0)
    model = ConvHead().eval()
    compiled, artifacts = compile_tt(model, numerics="fast", enable_intermediate_verification=True)
    x = torch.randn(1, 3, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), atol=1e-4, rtol=1e-4)
    report = artifacts.last.intermediate_verification
    assert report.rows and report.passed, report
