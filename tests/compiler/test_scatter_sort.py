"""Indexed writes (stablehlo.scatter: index_put, scatter, scatter_add, index_add) and sorts
(stablehlo.sort: sort, argsort, topk) on the device against eager PyTorch.

Every case compiles strictly (no CPU fallback), so a pass means the op ran on the device;
with fast numerics, results match eager to fp32 rounding.
"""

from __future__ import annotations

import pytest
import torch

from tests.helpers import check_on_device, compile_tt
from tt_torch.errors import TTRuntimeError

pytestmark = pytest.mark.usefixtures("fast_numerics")


def check(fn, *inputs, atol: float = 1e-5, device_op: str = "ttnn.scatter"):
    check_on_device(fn, *inputs, atol=atol, device_op=device_op)


x54 = torch.randn(5, 4)


def test_index_put_rows():
    check(lambda x, i, v: torch.index_put(x, (i,), v), x54, torch.tensor([3, 0]), torch.randn(2, 4))


def test_index_put_accumulates_duplicate_indices():
    idx = torch.tensor([1, 4, 1, 1])
    check(lambda x, i, v: torch.index_put(x, (i,), v, accumulate=True), x54, idx, torch.randn(4, 4))


def test_index_put_points_and_negative_indices():
    rows, cols = torch.tensor([0, -1, 2]), torch.tensor([3, 1, -4])
    check(lambda x, i, j, v: torch.index_put(x, (i, j), v), x54, rows, cols, torch.randn(3))


def test_index_put_into_a_kv_cache():
    """An in-place write of new keys at positions of a [batch, heads, seq, dim] cache."""

    def write(cache, pos, k):
        cache = cache.clone()
        cache[:, :, pos] = k
        return cache

    check(write, torch.zeros(2, 3, 8, 4), torch.tensor([5, 6]), torch.randn(2, 3, 2, 4))


def test_index_put_integers():
    x = torch.arange(20, dtype=torch.int64).reshape(5, 4)
    check(lambda x, i, v: torch.index_put(x, (i,), v, accumulate=True), x, torch.tensor([2, 2]), x[:2] * 7)


@pytest.mark.parametrize("dim", [0, 1])
def test_scatter(dim):
    index = torch.tensor([[0, 1, 2, 3], [4, 2, 0, 1]]) if dim == 0 else torch.tensor([[0, 3], [2, 1]] * 2 + [[1, 0]])
    src = torch.randn(index.shape)
    check(lambda x, i, s: torch.scatter(x, dim, i, s), x54, index, src)


def test_scatter_add_accumulates():
    index = torch.tensor([[0, 0, 3, 3], [0, 4, 3, 3], [0, 1, 2, 3]])
    check(lambda x, i, s: torch.scatter_add(x, 0, i, s), x54, index, torch.randn(3, 4))


def test_index_add_along_a_later_dim():
    check(lambda x, i, s: torch.index_add(x, 1, i, s, alpha=2.0), x54, torch.tensor([0, 3, 0]), torch.randn(5, 3))


def test_out_of_range_index_is_an_error_naming_the_op():
    torch._dynamo.reset()
    compiled, _ = compile_tt(lambda x, i, v: torch.index_put(x, (i,), v), enable_cpu_fallback=False)
    with pytest.raises(TTRuntimeError, match=r"ScatterOp at .*index 7 is out of range for dim 0 of size 5"):
        compiled(x54, torch.tensor([7]), torch.randn(1, 4))


# --- sort ---------------------------------------------------------------------------------

ties = torch.tensor([[3.0, 1.0, 3.0, -2.0, 1.0, 3.0], [0.5, 0.5, -1.0, 0.5, 2.0, -1.0]])


def check_sort(fn, *inputs):
    check(fn, *inputs, atol=0.0, device_op="ttnn.sort")


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("dim", [-1, 0])
def test_sort_values_and_indices_with_ties(descending, dim):
    """The device's sort is stable: ties keep their order, as in eager's CPU sort, so the
    indices match eager's exactly. (``stable=True`` itself, aten.sort.stable, has no
    torch-mlir lowering.)"""
    check_sort(lambda x: torch.sort(x, dim=dim, descending=descending), ties)


def test_sort_along_a_middle_dim_of_integers():
    x = torch.randint(-50, 50, (3, 7, 4))
    check_sort(lambda x: torch.sort(x, dim=1), x)


def test_argsort_and_msort():
    x = torch.randn(5, 9)
    check_sort(lambda x: torch.argsort(x, dim=-1, descending=True), x)
    check_sort(lambda x: torch.msort(x), x)


@pytest.mark.parametrize("largest", [True, False])
def test_topk(largest):
    x = torch.randn(4, 16)
    check_sort(lambda x: torch.topk(x, 3, dim=-1, largest=largest), x)


def test_topk_for_sampling_logits():
    """Top-k filtering of logits before sampling: everything below the k-th largest is -inf."""

    def filter_top_k(logits):
        kth = torch.topk(logits, 5).values[..., -1:]
        return logits.masked_fill(logits < kth, float("-inf"))

    check_sort(filter_top_k, torch.randn(2, 64))


def test_sort_puts_nan_above_every_number():
    x = torch.tensor([[1.0, float("nan"), -float("inf"), 0.5, float("inf")]])
    for descending in (False, True):
        check(lambda x, d=descending: torch.sort(x, descending=d), x, atol=0.0, device_op="ttnn.sort")
