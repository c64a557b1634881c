"""A one-row product with a device weight (a decode step's linear): MKL's GEMV over the cached
[K, N] weight on one thread, and on more threads column blocks [B, K, N / B] (the last one
zero-padded) multiplied as one batched product. Both match eager, whatever N's remainder."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import compile_tt


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("out_features", [1000, 1003])  # 768 x 1003: a last block narrower than the others
def test_one_row_linear_matches_eager(threads, out_features):
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        model = torch.nn.Linear(768, out_features).eval()  # 768 x 1000 weights: over the 2^19 split bound
        compiled, _ = compile_tt(model, numerics="fast")
        with torch.no_grad():
            for rows in ([1, 1, 768], [1, 768], [768]):  # a decode step's shapes, and a vector
                x = torch.randn(rows)
                got, expected = compiled(x), model(x)
                assert got.shape == expected.shape
                torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
            # the weight changed in place: the cached blocks follow it
            model.weight.data.mul_(-1.0)
            x = torch.randn(1, 1, 768)
            torch.testing.assert_close(compiled(x), model(x), rtol=1e-5, atol=1e-5)
    finally:
        torch.set_num_threads(saved)
