"""Grouped-query attention as Hugging Face writes it (``repeat_kv``: each key/value head
repeated for its group of query heads by reshape -> repeat -> reshape, then SDPA over equal head
counts) runs as one attention op over the unrepeated heads, with what eager computes; the RMS
norm's one-pass kernel over many rows (threaded) as eager's."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import compile_tt, outputs_of

TOLERANCE = {"fast": 1e-5, "emulated": 3e-2}


def repeat_kv(x: torch.Tensor, n: int) -> torch.Tensor:
    b, kv, s, d = x.shape
    return x[:, :, None, :, :].expand(b, kv, n, s, d).reshape(b, kv * n, s, d)


class GroupedAttention(torch.nn.Module):
    def __init__(self, heads: int = 6, kv_heads: int = 2, tile: bool = False):
        super().__init__()
        self.heads, self.kv_heads, self.tile = heads, kv_heads, tile
        self.q = torch.nn.Linear(48, 48, bias=False)
        self.kv = torch.nn.Linear(48, 2 * 8 * kv_heads, bias=False)

    def forward(self, x, mask):
        b, n, _ = x.shape
        q = self.q(x).view(b, n, self.heads, 8).transpose(1, 2)
        k, v = (t.view(b, n, self.kv_heads, 8).transpose(1, 2) for t in self.kv(x).chunk(2, dim=-1))
        group = self.heads // self.kv_heads
        if self.tile:  # heads repeated as a whole block (not each head in place): not grouped-query
            k, v = k.repeat(1, group, 1, 1), v.repeat(1, group, 1, 1)
        else:
            k, v = repeat_kv(k, group), repeat_kv(v, group)
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return out.transpose(1, 2).reshape(b, n, 48), k  # the repeated key is also read


def run(model, numerics, *inputs):
    compiled, artifacts = compile_tt(model, numerics=numerics)
    with torch.no_grad():
        got, want = outputs_of(compiled(*inputs)), outputs_of(model(*inputs))
    tol = TOLERANCE[numerics]
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=tol, atol=tol)
    return artifacts.last


@pytest.mark.parametrize("numerics", ["fast", "emulated"])
def test_repeated_key_value_heads_go_to_attention_unrepeated(numerics):
    torch.manual_seed(0)
    model = GroupedAttention().eval()
    x, mask = torch.randn(2, 5, 48), torch.randn(2, 1, 5, 5)
    graph = run(model, numerics, x, mask)
    assert graph.report["fused"]["attention-shared-heads"] == 1
    assert "tensor<2x2x5x8xf32" in graph.ttnn.split('"ttnn.scaled_dot_product_attention"')[1].split("\n")[0]
    # the key's repeat stays for the second output only; the value's is gone
    assert graph.report["op_counts"]["ttnn"].get("ttnn.repeat") == 1


def test_a_decode_step_over_a_cache():
    """One query row against a longer key/value cache (a decode step), heads 4 of 1 group."""
    torch.manual_seed(1)

    class Step(torch.nn.Module):
        def forward(self, q, k, v):
            return torch.nn.functional.scaled_dot_product_attention(q, repeat_kv(k, 4), repeat_kv(v, 4))

    q, k, v = torch.randn(1, 4, 1, 16), torch.randn(1, 1, 12, 16), torch.randn(1, 1, 12, 16)
    graph = run(Step().eval(), "fast", q, k, v)
    assert "ttnn.repeat" not in graph.report["op_counts"]["ttnn"]


def test_heads_repeated_as_a_block_are_left_alone():
    torch.manual_seed(2)
    model = GroupedAttention(tile=True).eval()
    x, mask = torch.randn(2, 5, 48), torch.randn(2, 1, 5, 5)
    graph = run(model, "fast", x, mask)
    assert "attention-shared-heads" not in graph.report["fused"]


@pytest.mark.parametrize("numerics", ["fast", "emulated"])
@pytest.mark.parametrize("weighted", [True, False])
def test_rms_norm_over_many_rows(numerics, weighted):
    torch.manual_seed(3)
    norm = torch.nn.RMSNorm(512, eps=1e-6, elementwise_affine=weighted).eval()
    if weighted:
        with torch.no_grad():
            norm.weight.normal_()
    x = torch.randn(300, 512) * 4 + 1  # 153,600 elements: rows shared between threads
    graph = run(norm, numerics, x)
    assert graph.report["op_counts"]["ttnn"].get("ttnn.rms_norm") == 1
