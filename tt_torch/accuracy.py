"""Accuracy metrics of a result against its golden, and the default bars.

PCC is defined as ttrt defines it: two all-NaN tensors agree (1.0), an
all-zero tensor against a nonzero one does not (0.0), and NaN/inf positions
that agree are masked out before the correlation.

A correlation of a handful of values says little (any two 2-element vectors in
the same order correlate perfectly), so for fewer than ``MIN_PCC_ELEMENTS``
finite values :func:`compute_pcc` returns ``1 - relative error`` instead (0.99 at
1 % of the golden's largest magnitude), which keeps the same 0.99 bar meaningful.
:func:`compute_relative_error` is the largest absolute difference over the
golden's largest magnitude: the scale-free companion of atol in reports.
"""

from __future__ import annotations

import torch

# The default bars for fp32 programs (docs: README "Lint and tests").
REQUIRED_PCC = 0.99
REQUIRED_ATOL = 1e-2
MIN_PCC_ELEMENTS = 8  # fewer finite values: 1 - relative error stands in for the correlation


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
    if g.numel() < MIN_PCC_ELEMENTS:
        return max(0.0, 1.0 - _relative(g, c))
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


def compute_relative_error(golden: torch.Tensor, calculated: torch.Tensor) -> float:
    """max |golden - calculated| / max |golden| over the finite positions (0.0 when both are all zero)."""
    g = golden.detach().to(torch.float64).flatten()
    c = calculated.detach().to(torch.float64).flatten()
    finite = torch.isfinite(g) & torch.isfinite(c)
    if not bool(finite.any()):
        return 0.0
    return _relative(g[finite], c[finite])


def _relative(g: torch.Tensor, c: torch.Tensor) -> float:
    diff = float((g - c).abs().max())
    scale = float(g.abs().max())
    if scale == 0.0:
        return 0.0 if diff == 0.0 else float("inf")
    return diff / scale
