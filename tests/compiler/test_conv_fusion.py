"""Convolutions of residual networks: the residual sum and its relu fused into the conv2d
(oneDNN's binary-add post-op in fast numerics, the separate ops' arithmetic when emulated),
the NHWC <-> NCHW permutes between consecutive convs cancelled; every result against eager
PyTorch. Channel counts are large enough (32) that the oneDNN kernel runs (its threshold is
about 4M multiply-adds), except where a test says otherwise."""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F

from tests.helpers import assert_matches, compile_tt


def _bn(channels: int) -> torch.nn.BatchNorm2d:
    bn = torch.nn.BatchNorm2d(channels)
    bn.running_mean.uniform_(-0.5, 0.5)
    bn.running_var.uniform_(0.5, 1.5)
    bn.weight.data.uniform_(0.5, 1.5)
    return bn


class Bottleneck(torch.nn.Module):
    """ResNet's bottleneck: 1x1, 3x3 (strided, grouped or dilated), 1x1, batch norms, a
    projection shortcut where the shape changes, relu(main + shortcut)."""

    def __init__(self, cin: int, cout: int, stride: int = 1, groups: int = 1, dilation: int = 1):
        super().__init__()
        mid = cout // 2
        self.conv1, self.bn1 = torch.nn.Conv2d(cin, mid, 1, bias=False), _bn(mid)
        self.conv2 = torch.nn.Conv2d(
            mid, mid, 3, stride=stride, padding=dilation, dilation=dilation, groups=groups, bias=False
        )
        self.bn2 = _bn(mid)
        self.conv3, self.bn3 = torch.nn.Conv2d(mid, cout, 1, bias=False), _bn(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 1, stride=stride, bias=False), _bn(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.shortcut is None else self.shortcut(x)))


def _compile(model, numerics: str):
    compiled, artifacts = compile_tt(model, numerics=numerics)
    return compiled, artifacts


def _ttnn_ops(artifacts) -> dict:
    return artifacts.last.report["op_counts"]["ttnn"]


@pytest.mark.parametrize("numerics", ["fast", "emulated"])
@pytest.mark.parametrize(
    "config",
    [
        {"cin": 32, "cout": 32},  # identity shortcut
        {"cin": 32, "cout": 64, "stride": 2},  # strided 3x3 and a strided 1x1 projection
        {"cin": 32, "cout": 64, "groups": 4},  # grouped 3x3
        {"cin": 32, "cout": 32, "dilation": 2},  # dilated 3x3
    ],
    ids=["identity", "strided", "grouped", "dilated"],
)
def test_residual_block_fuses_add_and_relu_into_the_conv(config, numerics):
    torch.manual_seed(0)
    model = Bottleneck(**config).eval()
    x = torch.randn(1, 32, 16, 16)
    compiled, artifacts = _compile(model, numerics)
    with torch.no_grad():
        assert_matches(model(x), compiled(x), pcc=0.999, atol=1e-3 if numerics == "fast" else 5e-2)
    fused = artifacts.last.report["fused"]
    assert fused.get("conv2d-residual") == 1
    ops = _ttnn_ops(artifacts)
    # the sum and every relu live in the convs: no separate add or relu op is left
    assert "ttnn.add" not in ops and "ttnn.relu" not in ops
    assert ops["ttnn.conv2d"] == (3 if model.shortcut is None else 4)
    # each conv's NHWC result goes straight into the next: no NCHW round trip, no reshape between them
    assert fused.get("permute-pair", 0) >= 2
    assert _convs_reading_a_conv(artifacts.last.ttnn) == 2


def _convs_reading_a_conv(ttnn_text: str) -> int:
    """How many ttnn.conv2d ops take another conv2d's result itself as their input."""
    conv_results, count = set(), 0
    for m in re.finditer(r'(%\w+) = "ttnn\.conv2d"\((%\w+)', ttnn_text):
        count += m.group(2) in conv_results
        conv_results.add(m.group(1))
    return count


def test_fused_sum_matches_the_unfused_ops_exactly_in_fast_numerics():
    """relu(conv(x) + bias + r) in one oneDNN kernel against the same sum by ATen."""
    torch.manual_seed(1)
    conv = torch.nn.Conv2d(32, 32, 3, padding=1).eval()

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = conv

        def forward(self, x, r):
            return F.relu(r + self.conv(x))  # the residual on the left: operands in either order

    x, r = torch.randn(1, 32, 24, 24), torch.randn(1, 32, 24, 24)
    compiled, artifacts = _compile(Block().eval(), "fast")
    with torch.no_grad():
        out = compiled(x, r)
        expected = F.relu(conv(x) + r)
    assert artifacts.last.report["fused"].get("conv2d-residual") == 1
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("numerics", ["fast", "emulated"])
def test_residual_then_an_activation_onednn_cannot_fuse(numerics):
    """silu(conv(x) + x): oneDNN's binary post-op takes relu only; the silu follows it."""
    torch.manual_seed(2)

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(32, 32, 3, padding=1)

        def forward(self, x):
            return F.silu(self.conv(x) + x)

    model = Block().eval()
    x = torch.randn(1, 32, 16, 16)
    compiled, artifacts = _compile(model, numerics)
    with torch.no_grad():
        assert_matches(model(x), compiled(x), pcc=0.999, atol=1e-3 if numerics == "fast" else 5e-2)
    assert artifacts.last.report["fused"].get("conv2d-residual") == 1
    assert "ttnn.add" not in _ttnn_ops(artifacts) and "ttnn.silu" not in _ttnn_ops(artifacts)


def test_small_conv_below_onednn_threshold_adds_the_residual_too():
    """8 channels on 8x8: ATen's convolution, then the residual and relu."""
    torch.manual_seed(3)
    model = Bottleneck(8, 8).eval()
    x = torch.randn(2, 8, 8, 8)
    compiled, artifacts = _compile(model, "fast")
    with torch.no_grad():
        assert_matches(model(x), compiled(x), pcc=0.999, atol=1e-4)
    assert artifacts.last.report["fused"].get("conv2d-residual") == 1


class ChainWithAnOpBetween(torch.nn.Module):
    """conv -> relu -> conv -> (a non-conv op: x * sigmoid(x), a transpose of H and W) -> conv
    + residual -> relu -> max pool -> conv: the layout kept NHWC along the convs, converted at
    the op that needs NCHW."""

    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(3, 32, 7, stride=2, padding=3)  # a first layer of 3 channels
        self.c2 = torch.nn.Conv2d(32, 32, 3, padding=1)
        self.c3 = torch.nn.Conv2d(32, 32, 1)
        self.c4 = torch.nn.Conv2d(32, 32, 3, padding=1, bias=False)

    def forward(self, x):
        y = F.relu(self.c1(x))
        z = self.c2(y)
        z = (z * torch.sigmoid(z)).transpose(2, 3)
        z = F.relu(self.c3(z) + y.transpose(2, 3))
        return self.c4(F.max_pool2d(z, 3, stride=2, padding=1))


@pytest.mark.parametrize("numerics", ["fast", "emulated"])
def test_chain_with_a_non_conv_op_between_convs(numerics):
    torch.manual_seed(4)
    model = ChainWithAnOpBetween().eval()
    x = torch.randn(1, 3, 40, 40)
    compiled, artifacts = _compile(model, numerics)
    with torch.no_grad():
        assert_matches(model(x), compiled(x), pcc=0.999, atol=1e-3 if numerics == "fast" else 5e-2)
    assert artifacts.last.report["fused"].get("conv2d-residual") == 1
    assert _ttnn_ops(artifacts)["ttnn.conv2d"] == 4


def test_a_conv_with_its_own_activation_keeps_the_sum_outside():
    """relu(conv(x)) + r: the relu comes before the sum, so the add stays a separate op."""
    torch.manual_seed(5)

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(32, 32, 3, padding=1)

        def forward(self, x):
            return F.relu(self.conv(x)) + x

    model = Block().eval()
    x = torch.randn(1, 32, 16, 16)
    compiled, artifacts = _compile(model, "fast")
    with torch.no_grad():
        assert_matches(model(x), compiled(x), pcc=0.999, atol=1e-4)
    assert "conv2d-residual" not in artifacts.last.report["fused"]
    assert _ttnn_ops(artifacts).get("ttnn.add") == 1


def test_intermediate_verification_compares_the_fused_convs():
    """The convs' results exist only in flattened NHWC (no permute back to NCHW between
    them): intermediate verification compares them in that form, each at its FX node."""
    torch.manual_seed(6)
    model = Bottleneck(32, 64, stride=2).eval()
    compiled, artifacts = compile_tt(model, numerics="fast", enable_intermediate_verification=True)
    with torch.no_grad():
        compiled(torch.randn(1, 32, 16, 16))
    table = artifacts.last.intermediate_verification
    assert table.passed
    # conv1 (its relu), conv2 (its relu), the shortcut conv and the block's output
    assert [r.type for r in table.rows].count("Conv2dOp") == 3 and len(table.rows) == 4
