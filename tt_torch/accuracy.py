"""Accuracy metrics of a result against its golden, and the default bars.

PCC is defined as ttrt defines it: two all-NaN tensors agree (1.0), an
all-zero tensor against a nonzero one does not (0.0), and NaN/inf positions
that agree are masked out before the correlation.
"""

from __future__ import annotations

import torch

# The default bars for fp32 programs (docs: README "Lint and tests").
REQUIRED_PCC = 0.99
REQUIRED_ATOL = 1e-2


def compute_pcc(golden: torch.Tensor, calculated: torch.Tensor) -> float:
    g = golden.detach().to(torch.float64).flatten()
    c = calculated.detach().to(torch.float64).flatten()
    if g.shape != c.shape:
        raise ValueError(f"shape mismatch: golden {tuple(golden.shape)} vs calculated {tuple(calculated.shape)}")
    g_nan, c_nan = torch.isnan(g), torch.isnan(c)
    if bool(g_nan.all()) and bool(c_nan.all()):
        return 1.0
    if bool(g_nan.any()) != bool(c_nan.any()) or not torch.equal(g_nan, c_nan):
        return 0.0
    g_inf, c_inf = torch.isinf(g), torch.isinf(c)
    if not torch.equal(g_inf, c_inf) or not torch.equal(g[g_inf], c[c_inf]):
        return 0.0
    keep = ~(g_nan | g_inf)
    g, c = g[keep], c[keep]
    if g.numel() == 0:
        return 1.0
    g_zero, c_zero = bool((g == 0).all()), bool((c == 0).all())
    if g_zero and c_zero:
        return 1.0
    if g_zero != c_zero:
        return 0.0
    if torch.equal(g, c):
        return 1.0
    if g.numel() == 1:
        return 1.0 if torch.isclose(g, c).all() else 0.0
    g_std, c_std = g.std(), c.std()
    if g_std == 0 or c_std == 0:
        # a constant tensor has no correlation to speak of: compare values
        return 1.0 if torch.allclose(g, c, rtol=1e-3, atol=1e-3) else 0.0
    pcc = torch.corrcoef(torch.stack([g, c]))[0, 1].item()
    return float(pcc)


def compute_atol(golden: torch.Tensor, calculated: torch.Tensor) -> float:
    g = golden.detach().to(torch.float64)
    c = calculated.detach().to(torch.float64)
    finite = torch.isfinite(g) & torch.isfinite(c)
    if not bool(finite.any()):
        return 0.0
    return float((g[finite] - c[finite]).abs().max())
