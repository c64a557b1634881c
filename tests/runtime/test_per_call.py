"""The per-call path of a compiled graph: what it skips must not change what a call sees.

Inputs already in the program's dtype go to the runtime without a copy, outputs are handed
over without one where the runtime alone holds them, and a Python scalar is a constant of
the program built without reshapes: the results still follow every change of an input or a
weight between calls, and match eager PyTorch.
"""

from __future__ import annotations

import re

import pytest
import torch

from tests.helpers import compile_tt
from tt_torch import runtime
from tt_torch.errors import TTRuntimeError


class ScalarChain(torch.nn.Module):
    """Python scalars of several kinds met by tensors of several ranks."""

    def forward(self, x: torch.Tensor, n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = (x + 0.5) * 0.999 - 2.0
        y = y / 3.0 + x.sum(dim=-1, keepdim=True) * 0.25
        return y, n * 3 + 7


def test_scalar_constants_are_folded_and_match_eager():
    model = ScalarChain()
    x, n = torch.randn(3, 4, 5), torch.randint(-100, 100, (3, 4), dtype=torch.int32)
    compiled, artifacts = compile_tt(model, numerics="fast")
    with torch.no_grad():
        y, m = compiled(x, n)
        ey, em = model(x, n)
    torch.testing.assert_close(y, ey)
    assert torch.equal(m, em) and m.dtype == em.dtype
    # each scalar is one constant of the rank its reader takes: nothing reshapes it per call
    constants = set(re.findall(r"(%\w+) = \"ttnn\.(?:constant|full)\"", artifacts.last.ttnn))
    reshaped = set(re.findall(r"= \"ttnn\.reshape\"\((%\w+)\)", artifacts.last.ttnn))
    assert len(constants) >= 6 and not constants & reshaped, artifacts.last.ttnn
    assert artifacts.last.report["fused"].get("constant-reshape", 0) >= 6


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode"])
def test_an_input_changed_between_calls_is_seen(mode):
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4)).eval()
    compiled, _ = compile_tt(model, numerics="fast")
    context = torch.no_grad if mode == "no_grad" else torch.inference_mode
    with context():
        x = torch.randn(5, 8)
        first = compiled(x)
        torch.testing.assert_close(first, model(x))
        x.mul_(-2.0).add_(1.0)  # in place: the same tensor object, the same storage
        torch.testing.assert_close(compiled(x), model(x))
        x[1:3] = 7.0  # through a view
        torch.testing.assert_close(compiled(x), model(x))
        # the first call's output is the caller's: later calls do not write into it
        assert not torch.equal(first, compiled(x))
        out = compiled(x)
        out.zero_()
        torch.testing.assert_close(compiled(x), model(x))


def test_inputs_the_device_takes_as_they_are_and_those_it_converts():
    model = torch.nn.Linear(6, 3).eval()
    compiled, _ = compile_tt(model, numerics="fast")
    with torch.no_grad():
        x = torch.randn(6, 4).t()  # not contiguous: copied before the program runs
        torch.testing.assert_close(compiled(x), model(x))
        y = torch.randn(4, 6)
        torch.testing.assert_close(compiled(y), model(y))


def test_a_changed_weight_and_a_new_input_shape_are_seen():
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.GELU()).eval()
    compiled, _ = compile_tt(model, numerics="fast")
    x = torch.randn(2, 8)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))
        model[0].weight.add_(0.5)  # in place: its version counter moves
        torch.testing.assert_close(compiled(x), model(x))
        model[0].bias.data.copy_(torch.randn(8))  # through .data: no version counter of its own
        torch.testing.assert_close(compiled(x), model(x))
        x3 = torch.randn(3, 8)  # a new shape: a program of its own
        torch.testing.assert_close(compiled(x3), model(x3))
        torch.testing.assert_close(compiled(x), model(x))


def test_submitter_reports_a_wrong_input_as_submit_does():
    model = torch.nn.Linear(4, 2).eval()
    compiled, artifacts = compile_tt(model, numerics="fast")
    with torch.no_grad():
        compiled(torch.randn(3, 4))
    binary = runtime.load_binary(artifacts.last.flatbuffer)
    with runtime.open_device(binary, numerics="fast") as device:
        call = runtime.submitter(device, binary, 0)
        inputs = [torch.randn(d["shape"]) for d in binary.program_inputs(0)]
        expected = runtime.submit(device, binary, 0, inputs)
        for got, want in zip(call(inputs), expected):
            assert torch.equal(got, want)
        with pytest.raises(TTRuntimeError, match="expected"):
            call([torch.randn(5, 4)] + inputs[1:])


class NarrowHead(torch.nn.Module):
    """A classifier whose last linear is narrow (10 outputs, below oneDNN's size threshold):
    the runtime multiplies it by a cached [N, K] copy of its weight, with the bias in the product."""

    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(24, 32), torch.nn.ReLU())
        self.head = torch.nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)), self.head(self.body(x).unsqueeze(0) * 2.0)


@pytest.mark.parametrize("numerics", ["fast", "emulated"])
def test_a_narrow_linear_follows_every_change_of_its_weight(numerics):
    torch.manual_seed(0)
    model = NarrowHead().eval()
    compiled, _ = compile_tt(model, numerics=numerics)
    atol = 1e-5 if numerics == "fast" else 5e-2
    x = torch.randn(6, 24)

    def check():
        for got, want in zip(compiled(x), model(x)):
            torch.testing.assert_close(got, want, atol=atol, rtol=atol)

    with torch.no_grad():
        check()
        check()  # the cached weight copy, reused
        model.head.weight.mul_(-1.5)  # in place: the copy is made again
        check()
        model.head.weight.data.copy_(torch.randn(10, 32))  # through .data
        check()
        model.head.bias.add_(3.0)
        check()
        model.head.weight = torch.nn.Parameter(torch.randn(10, 32))  # a new tensor: a new program
        check()


class Fills(torch.nn.Module):
    """Constants of the program (fulls) returned as they are and read by an op."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return torch.full((2, 3), 1.5), x * 0.25 + 1.5, torch.zeros(4, dtype=torch.int32)


@pytest.mark.parametrize("numerics", ["fast", "emulated"])
def test_a_constant_shared_between_calls_is_never_an_output_the_caller_can_change(numerics):
    compiled, artifacts = compile_tt(Fills(), numerics=numerics)
    x = torch.randn(2, 3)
    with torch.no_grad():
        full, y, zeros = compiled(x)
        assert "ttnn.full" in artifacts.last.ttnn or "ttnn.constant" in artifacts.last.ttnn
        full.add_(100.0)  # the caller's tensor: the next call's constant stays as it was
        zeros.fill_(7)
        again, y2, zeros2 = compiled(x)
    torch.testing.assert_close(again, torch.full((2, 3), 1.5))
    assert torch.equal(zeros2, torch.zeros(4, dtype=torch.int32))
    torch.testing.assert_close(y2, x * 0.25 + 1.5, atol=1e-2, rtol=1e-2)
    assert not again.is_set_to(full) and again.data_ptr() != full.data_ptr()
