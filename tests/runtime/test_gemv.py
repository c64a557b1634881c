"""A one-row product with a device weight (a decode step's linear): MKL's GEMV over the cached
[K, N] weight on one thread, and on more threads column blocks [B, K, N / B] (the last one
zero-padded) multiplied as one batched product. Both match eager, whatever N's remainder."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import compile_tt


@pytest.mark.parametrize("threads", [1, 2])
# 768 x 256: under the 2^19-element split bound (one GEMV on any thread count, as a grouped-query
# key/value projection); 768 x 1003: a last block narrower than the others; 768 x 2731: a wider one
@pytest.mark.parametrize("out_features", [256, 1000, 1003, 2731])
def test_one_row_linear_matches_eager(threads, out_features):
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        model = torch.nn.Linear(768, out_features).eval()
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
