"""The fused residual sum written into the residual's own buffer (conv2d's residual_in_place,
oneDNN's sum post-op): only where the residual's buffer is dead after the conv. A residual
read again later (itself or through a view), returned, or a program input keeps its buffer;
every result against eager PyTorch, and the in-place results bit for bit those of the same
program without the pass. Channels and sizes are large enough for oneDNN's kernel (its
threshold is about 4M multiply-adds)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.compiler.test_conv_fusion import Bottleneck
from tests.helpers import assert_matches, compile_tt
from tt_torch.compiler import pipelines

PASS = "ttnn-residual-in-place"


def _run(model, *inputs, numerics: str = "fast"):
    compiled, artifacts = compile_tt(model, numerics=numerics)
    with torch.no_grad():
        out = compiled(*inputs)
    return out, artifacts.last.report


def _marked(report) -> int:
    return report["device"]["residuals_in_place"]


def _check(model, x, marked: int, numerics: str = "fast"):
    """Runs the compiled `model` on `x`: `marked` residuals take the sum in place and the
    result is eager PyTorch's. Returns the result and the compile report."""
    out, report = _run(model, x, numerics=numerics)
    assert _marked(report) == marked
    with torch.no_grad():
        assert_matches(model(x), out, pcc=0.999, atol=1e-3 if numerics == "fast" else 5e-2)
    return out, report


class TwoBlocks(torch.nn.Module):
    """A projection block, then an identity block whose residual is the first block's output
    (a conv2d result that dies in the second block's sum)."""

    def __init__(self):
        super().__init__()
        self.b1 = Bottleneck(32, 64, stride=2)
        self.b2 = Bottleneck(64, 64)

    def forward(self, x):
        return self.b2(self.b1(x))


@pytest.mark.parametrize("numerics", ["fast", "emulated"])
def test_dead_residuals_take_the_sum_in_place(numerics, monkeypatch):
    torch.manual_seed(0)
    model = TwoBlocks().eval()
    x = torch.randn(1, 32, 48, 48)
    # the shortcut conv's output (block 1) and block 1's output (block 2's residual)
    out, _ = _check(model, x, 2, numerics)
    # the same additions as the out-of-place kernel: bit for bit
    torch._dynamo.reset()
    stages = {name: [p for p in passes if p != PASS] for name, passes in pipelines.PIPELINES.items()}
    monkeypatch.setattr(pipelines, "PIPELINES", stages)
    monkeypatch.setenv("TT_TORCH_CACHE_DIR", "off")
    reference, report = _run(model, x, numerics=numerics)
    assert "residuals_in_place" not in report["device"]
    assert torch.equal(out, reference)


def test_a_program_input_as_residual_is_not_overwritten():
    """An identity block on the program's input: the residual is the caller's tensor."""
    torch.manual_seed(1)
    model = Bottleneck(64, 64).eval()
    x = torch.randn(1, 64, 32, 32)
    kept = x.clone()
    _check(model, x, 0)
    assert torch.equal(x, kept)


class ResidualReadAgain(torch.nn.Module):
    """r = conv0(x) is the residual of conv1's sum, then read again: by a later op (`later`),
    through a view (`view`), or returned (`output`); `dead`: read by nothing after the sum."""

    def __init__(self, reader: str):
        super().__init__()
        self.reader = reader
        self.conv0 = torch.nn.Conv2d(32, 64, 3, padding=1)
        self.conv1 = torch.nn.Conv2d(32, 64, 3, padding=1)

    def forward(self, x):
        r = self.conv0(x)
        y = F.relu(self.conv1(x) + r)
        if self.reader == "later":
            return y * r
        if self.reader == "view":
            return y + r.transpose(2, 3)
        if self.reader == "output":
            return y, r
        return y


@pytest.mark.parametrize("numerics", ["fast", "emulated"])
@pytest.mark.parametrize("reader", ["later", "view", "output", "dead"])
def test_a_residual_read_after_the_sum_keeps_its_buffer(reader, numerics):
    torch.manual_seed(2)
    model = ResidualReadAgain(reader).eval()
    x = torch.randn(1, 32, 32, 32)
    _, report = _check(model, x, 1 if reader == "dead" else 0, numerics)
    assert report["fused"].get("conv2d-residual") == 1


def test_the_residual_as_the_convs_own_input_is_not_overwritten():
    """relu(conv1(r) + r) with r = conv0(x): the conv reads the buffer it would write."""
    torch.manual_seed(3)

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv0 = torch.nn.Conv2d(32, 64, 3, padding=1)
            self.conv1 = torch.nn.Conv2d(64, 64, 3, padding=1)

        def forward(self, x):
            r = self.conv0(x)
            return F.relu(self.conv1(r) + r)

    model = Block().eval()
    _check(model, torch.randn(1, 32, 32, 32), 0)


def test_repeated_calls_give_the_same_result():
    """The in-place buffers are the call's own: a second call with another input is right."""
    torch.manual_seed(4)
    model = TwoBlocks().eval()
    compiled, artifacts = compile_tt(model, numerics="fast")
    with torch.no_grad():
        for _ in range(3):
            x = torch.randn(1, 32, 48, 48)
            assert_matches(model(x), compiled(x), pcc=0.999, atol=1e-3)
    assert _marked(artifacts.last.report) == 2


def test_a_pooling_result_as_residual_takes_the_sum_in_place():
    """relu(conv1(x) + max_pool(conv0(x))): the pooling writes a fresh tensor, dead after the sum."""
    torch.manual_seed(5)

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv0 = torch.nn.Conv2d(32, 64, 3, padding=1)
            self.conv1 = torch.nn.Conv2d(32, 64, 3, stride=2, padding=1)

        def forward(self, x):
            return F.relu(self.conv1(x) + F.max_pool2d(self.conv0(x), 3, stride=2, padding=1))

    model = Block().eval()
    _check(model, torch.randn(1, 32, 48, 48), 1)
