"""The small models the tensor-parallel and multi-process tests split over meshes, with their
sharding plans (Megatron style: column-parallel then row-parallel Linears)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn
from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel


class MLP(nn.Module):
    def __init__(self, d: int = 64, hidden: int = 256):
        super().__init__()
        self.fc1 = nn.Linear(d, hidden)
        self.fc2 = nn.Linear(hidden, d)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """A GPT-2 style pre-norm transformer block (causal attention, GELU MLP), small."""

    def __init__(self, d: int = 64, heads: int = 8):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.mlp = MLP(d, 4 * d)

    def forward(self, x):
        b, s, d = x.shape
        y = self.ln1(x)
        q, k, v = (p(y).view(b, s, self.heads, d // self.heads).transpose(1, 2) for p in (self.q, self.k, self.v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, s, d)
        x = x + self.o(a)
        return x + self.mlp(self.ln2(x))


MLP_PLAN = {"fc1": ColwiseParallel(), "fc2": RowwiseParallel()}
BLOCK_PLAN = {
    **{p: ColwiseParallel() for p in ("q", "k", "v", "mlp.fc1")},
    **{p: RowwiseParallel() for p in ("o", "mlp.fc2")},
}
