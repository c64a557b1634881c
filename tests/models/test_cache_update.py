"""A KV cache's row written in place: ``cache.index_copy_(2, position, new)`` on a graph input
becomes ``ttnn.update_cache`` into the caller's own buffer, with no program output and no
write-back for it (tt_torch/dynamo/mutations.py, compiler/transforms/in_place.py).

Every case compares the outputs and the caches with eager's. The cases that must not be
done in place (the old cache read too, a functional index_put, the updated cache also
returned) keep the scatter; an input whose storage another input shares and a
non-contiguous cache are updated in a copy the executor writes back.
"""

from __future__ import annotations

import pytest
import torch

from tests.helpers import compile_tt

TOL = {"fast": {"rtol": 1e-5, "atol": 1e-5}, "emulated": {"rtol": 2e-2, "atol": 2e-2}}


class Attention(torch.nn.Module):
    """One decode step's cache update and its reader, as transformers' StaticCache writes it."""

    def forward(self, q, k, v, position, k_cache, v_cache):
        k_cache.index_copy_(2, position, k)
        v_cache.index_copy_(2, position, v)
        scores = (q @ k_cache.transpose(-1, -2)).softmax(-1)
        return scores @ v_cache


def _step(heads: int = 2, dim: int = 8) -> list[torch.Tensor]:
    return [torch.randn(1, heads, 1, dim) for _ in range(3)]


def _ttnn(artifacts) -> str:
    return "\n".join(g.ttnn or "" for g in artifacts.graphs)


@pytest.mark.parametrize("numerics", ["fast", "emulated"])
def test_cache_rows_written_in_the_callers_buffers(numerics):
    torch.manual_seed(0)
    caches = [torch.zeros(1, 2, 6, 8) for _ in range(2)]
    expected_caches = [c.clone() for c in caches]
    compiled, artifacts = compile_tt(Attention(), numerics=numerics)
    storages = [c.data_ptr() for c in caches]
    for step in range(4):
        q, k, v = _step()
        position = torch.tensor([step])
        expected = Attention()(q, k, v, position, *expected_caches)
        versions = [c._version for c in caches]
        got = compiled(q, k, v, position, *caches)
        torch.testing.assert_close(got, expected, **TOL[numerics])
        for cache, want, version in zip(caches, expected_caches, versions):
            torch.testing.assert_close(cache, want, **TOL[numerics])
            assert cache._version > version  # as after index_copy_: caches keyed on the version see it
    assert [c.data_ptr() for c in caches] == storages
    assert len(artifacts.graphs) == 1
    graph = artifacts.graphs[0]
    assert graph.ttnn.count('"ttnn.update_cache"') == 2
    assert '"ttnn.scatter"' not in graph.ttnn
    # neither cache is a program output any more: only the attention's result comes back
    assert len(graph.report["device"]["in_place"]) == 2
    assert graph.ttnn.count('"ttnn.from_device"') == 1


class ReadsTheOldCache(torch.nn.Module):
    def forward(self, new, position, cache):
        before = cache.sum(dim=2)
        cache.index_copy_(2, position, new)
        return before, cache.sum(dim=2)


class ReturnsTheCache(torch.nn.Module):
    def forward(self, new, position, cache):
        cache.index_copy_(2, position, new)
        return cache


class Functional(torch.nn.Module):
    def forward(self, new, position, cache):
        return cache.index_copy(2, position, new) * 2.0


@pytest.mark.parametrize("model", [ReadsTheOldCache, ReturnsTheCache, Functional])
def test_not_in_place_where_another_reader_needs_the_cache(model):
    torch.manual_seed(0)
    cache = torch.randn(1, 2, 5, 4)
    reference = cache.clone()
    compiled, artifacts = compile_tt(model(), numerics="fast")
    for step in (3, 0):
        new, position = torch.randn(1, 2, 1, 4), torch.tensor([step])
        expected = model()(new, position, reference)
        got = compiled(new, position, cache)
        for g, e in zip(
            got if isinstance(got, tuple) else [got], expected if isinstance(expected, tuple) else [expected]
        ):
            torch.testing.assert_close(g, e)
        torch.testing.assert_close(cache, reference)
    assert '"ttnn.update_cache"' not in _ttnn(artifacts)


class Snapshot(torch.nn.Module):
    def forward(self, new, position, cache, other):
        snapshot = other.clone()
        cache.index_copy_(2, position, new)
        return snapshot, cache * 2.0


def test_an_input_sharing_the_caches_storage_reads_it_before_the_update():
    """``other`` views the cache's storage: the program updates a copy (written back after
    the call), so the snapshot taken before the update holds the old rows, as in eager."""
    cache = torch.zeros(1, 2, 6, 4)
    reference = cache.clone()
    compiled, artifacts = compile_tt(Snapshot(), numerics="fast")
    for step in range(3):
        new, position = torch.randn(1, 2, 1, 4), torch.tensor([step])
        expected = Snapshot()(new, position, reference, reference[:, :, :, :])
        got = compiled(new, position, cache, cache[:, :, :, :])
        for g, e in zip(got, expected):
            torch.testing.assert_close(g, e)
        torch.testing.assert_close(cache, reference)
    assert '"ttnn.update_cache"' in _ttnn(artifacts)


def test_a_non_contiguous_cache_is_updated_through_a_copy():
    base = torch.zeros(1, 6, 2, 4)
    cache = base.transpose(1, 2)  # [1, 2, 6, 4], not contiguous
    reference = cache.clone()
    compiled, artifacts = compile_tt(Attention(), numerics="fast")
    other = torch.zeros(1, 2, 6, 4)
    other_reference = other.clone()
    for step in range(3):
        q, k, v = _step(dim=4)
        position = torch.tensor([step])
        expected = Attention()(q, k, v, position, reference, other_reference)
        got = compiled(q, k, v, position, cache, other)
        torch.testing.assert_close(got, expected)
        torch.testing.assert_close(cache, reference)
        torch.testing.assert_close(other, other_reference)
    assert not cache.is_contiguous() and cache.data_ptr() == base.data_ptr()
    assert '"ttnn.update_cache"' in _ttnn(artifacts)


def test_export_of_a_program_writing_its_cache(tmp_path):
    """The exported program writes the cache it is given and returns the model's own outputs,
    with their dtypes (the in-place result is not among them)."""
    from tt_torch.runtime import load

    class Counted(torch.nn.Module):
        def forward(self, new, position, cache, count):
            cache.index_copy_(2, position, new)
            count.add_(1)
            return cache.sum(dim=2) * 1.0

    torch.manual_seed(0)
    cache, count = torch.zeros(1, 2, 5, 4), torch.tensor(0)
    compiled, artifacts = compile_tt(Counted(), numerics="fast")
    new, position = torch.randn(1, 2, 1, 4), torch.tensor([1])
    compiled(new, position, cache, count)
    path = tmp_path / "model.ttnn"
    artifacts.export(str(path))
    model = load(str(path))
    fresh, fresh_count = torch.zeros(1, 2, 5, 4), torch.tensor(0)
    by_name = {"l_new_": new, "l_position_": position, "l_cache_": fresh, "l_count_": fresh_count}
    outs = model(*[by_name[d["name"]] for d in model.binary.program_inputs(0)])
    expected_cache, expected_count = torch.zeros(1, 2, 5, 4), torch.tensor(0)
    expected = Counted()(new, position, expected_cache, expected_count)
    assert [o.dtype for o in outs] == [torch.float32, torch.int64]  # the sum, the new count
    torch.testing.assert_close(outs[0], expected)
    torch.testing.assert_close(fresh, expected_cache)  # the row written into the given cache


class _Counters(torch.nn.Module):
    """What a decode step writes back besides its cache rows: an int64 counter the device keeps in
    int32, an f64 total it keeps in f32, and a buffer larger than ATen's serial copy."""

    def forward(self, x, count, total, big):
        count.add_(1)
        total.add_(x.sum().double())
        big.mul_(0.5)
        return x * count, big[:4] + 1.0


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode"])
def test_written_back_counters_and_buffers_match_eager(mode):
    """Each written-back tensor keeps its storage and dtype and holds eager's value after each call,
    also where the caller's tensors are inference tensors."""
    context = torch.inference_mode if mode == "inference_mode" else torch.no_grad
    torch.manual_seed(0)
    x = torch.randn(3)
    with context():
        ours = [torch.tensor(0), torch.tensor(0.0, dtype=torch.float64), torch.randn(40000)]
        theirs = [t.clone() for t in ours]
    ptrs = [t.data_ptr() for t in ours]
    compiled, _ = compile_tt(_Counters(), numerics="fast")
    with context():
        for _ in range(3):
            got, expected = compiled(x, *ours), _Counters()(x, *theirs)
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
            for t, ref in zip(ours, theirs):
                assert t.dtype == ref.dtype
                torch.testing.assert_close(t, ref, rtol=1e-6, atol=1e-6)
    assert [t.data_ptr() for t in ours] == ptrs and int(ours[0]) == 3
