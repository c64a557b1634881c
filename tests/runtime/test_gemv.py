"""A one-row product with a device weight (a decode step's linear): the weight cached as column
panels of 64 (the last one zero-padded) that the intra-op threads stream, with the bias in the
sums. It matches eager whatever N's remainder, with and without a bias, in both numerics."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import compile_tt


@pytest.mark.parametrize("threads", [1, 2])
# 10: less than one panel; 256: whole panels (a grouped-query key/value projection); 1003 and
# 2731: a last panel part padding; 1000 across two threads, 2731 over more than one panel each
@pytest.mark.parametrize("out_features", [10, 256, 1003, 2731])
@pytest.mark.parametrize("bias", [True, False])
def test_one_row_linear_matches_eager(threads, out_features, bias):
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        model = torch.nn.Linear(768, out_features, bias=bias).eval()
        compiled, _ = compile_tt(model, numerics="fast")
        with torch.no_grad():
            for rows in ([1, 1, 768], [1, 768], [768]):  # a decode step's shapes, and a vector
                x = torch.randn(rows)
                got, expected = compiled(x), model(x)
                assert got.shape == expected.shape
                torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
            # the weight (and the bias) changed in place: the cached panels and padded bias follow
            model.weight.data.mul_(-1.0)
            if bias:
                model.bias.data.add_(1.0)
            x = torch.randn(1, 1, 768)
            torch.testing.assert_close(compiled(x), model(x), rtol=1e-5, atol=1e-5)
    finally:
        torch.set_num_threads(saved)


@pytest.mark.parametrize("numerics", ["fast", "emulated"])
def test_one_row_with_activation_matches_the_many_row_product(numerics):
    """The linear's fused gelu after the panel product, and in emulated numerics the register
    rounding and the bias outside the sums: row 0 alone equals row 0 of a four-row call (another
    kernel), and eager up to the emulation's rounding."""
    saved = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(768, 1003), torch.nn.GELU()).eval()
        compiled, _ = compile_tt(model, numerics=numerics)
        x = torch.randn(4, 768)
        with torch.no_grad():
            one, many, expected = compiled(x[:1]), compiled(x), model(x)
        torch.testing.assert_close(one, many[:1], rtol=1e-5, atol=1e-5)
        tolerance = 1e-5 if numerics == "fast" else 2e-2
        torch.testing.assert_close(one, expected[:1], rtol=tolerance, atol=tolerance)
    finally:
        torch.set_num_threads(saved)
