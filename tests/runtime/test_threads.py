"""Small memory-bound kernels (elementwise ops, reductions, normalizations under 128K
elements) run on the calling thread alone: the thread count the runtime lowers for them is
restored, and their results are eager PyTorch's on either side of the size bound."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import compile_tt


class Block(torch.nn.Module):
    """A transformer block's memory-bound part: residual add, layer norm, softmax, a reduction."""

    def __init__(self, width: int):
        super().__init__()
        self.norm = torch.nn.LayerNorm(width)

    def forward(self, x: torch.Tensor, r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.norm(x + r)
        return torch.softmax(h, dim=-1) * 2.0, torch.where(h > 0, h, -h).sum(dim=-1)


@pytest.mark.parametrize("rows", [64, 512])  # 64 x 768 on the calling thread, 512 x 768 on the pool
@pytest.mark.parametrize("numerics", ["fast", "emulated"])
def test_small_ops_match_eager_and_keep_the_thread_count(rows, numerics):
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        model = Block(768).eval()
        x, r = torch.randn(1, rows, 768), torch.randn(1, rows, 768)
        compiled, _ = compile_tt(model, numerics=numerics)
        with torch.no_grad():
            got = compiled(x, r)
            expected = model(x, r)
        # the kernels left this thread's count as it was
        assert torch.get_num_threads() == 2
        tolerance = {"fast": 1e-5, "emulated": 2e-2}[numerics]
        for g, e in zip(got, expected):
            torch.testing.assert_close(g, e, rtol=tolerance, atol=tolerance)
    finally:
        torch.set_num_threads(threads)
