"""The accuracy measures: PCC (ttrt's definition), its stand-in for tiny outputs, atol and relative error."""

from __future__ import annotations

import torch

from tt_torch.accuracy import MIN_PCC_ELEMENTS, compute_atol, compute_pcc, compute_relative_error


def test_a_two_value_output_is_not_a_perfect_correlation_by_construction():
    golden = torch.tensor([10.0, -2.0])
    off = torch.tensor([10.5, -1.8])  # 5 % of the largest magnitude; a correlation of two values is 1
    assert torch.corrcoef(torch.stack([golden, off]))[0, 1] > 0.999999
    assert abs(compute_pcc(golden, off) - 0.95) < 1e-9
    assert compute_pcc(golden, golden * (1 + 1e-4)) > 0.99
    assert abs(compute_relative_error(golden, off) - 0.05) < 1e-9
    assert abs(compute_atol(golden, off) - 0.5) < 1e-6


def test_large_outputs_keep_the_correlation():
    torch.manual_seed(0)
    golden = torch.randn(MIN_PCC_ELEMENTS * 4)
    noisy = golden + 0.1 * torch.randn_like(golden)
    expected = torch.corrcoef(torch.stack([golden, noisy]).double())[0, 1].item()
    assert abs(compute_pcc(golden, noisy) - expected) < 1e-12


def test_relative_error_edge_cases():
    assert compute_relative_error(torch.zeros(3), torch.zeros(3)) == 0.0
    assert compute_relative_error(torch.zeros(3), torch.ones(3)) == float("inf")
    nan = float("nan")
    assert compute_relative_error(torch.tensor([nan, 2.0]), torch.tensor([nan, 1.0])) == 0.5
