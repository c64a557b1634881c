"""Writes to weights behind their version counters reach the next call (tt_torch.dynamo.weights).

The reference is the eager module after the write: a compiled call that used a stale cached
weight (the consteval results, the runtime's weight conversions) would differ from it.
"""

from __future__ import annotations

import pytest
import torch

from tt_torch.dynamo.backend import BackendOptions
from tt_torch.dynamo.weights import WeightWatch, fingerprint
from tt_torch.tools.utils import CompilerConfig


def _compiled():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 64)).eval()
    options = BackendOptions(compiler_config=CompilerConfig(numerics="fast"))
    return model, torch.compile(model, backend="tt", options=options), torch.randn(4, 16)


def _same(compiled, model, x):
    torch.testing.assert_close(compiled(x), model(x), rtol=1e-5, atol=1e-5)


def test_writes_through_kept_aliases_are_seen():
    """A ``.data`` tensor kept across calls, a NumPy view and an in-place op: each write is used."""
    model, compiled, x = _compiled()
    with torch.no_grad():
        _same(compiled, model, x)
        data = model[0].weight.data  # kept: written after the next call
        _same(compiled, model, x)
        data.mul_(-1.5)
        _same(compiled, model, x)
        view = model[2].weight.detach().numpy()  # shares the storage, moves no version counter
        _same(compiled, model, x)
        view[:5] = 0.25
        _same(compiled, model, x)
        model[2].bias.add_(1.0)  # an in-place op: the version counter
        _same(compiled, model, x)


def test_temporary_data_writes_and_buffers_are_seen():
    """``m.weight.data.copy_(w)`` (the alias is gone by the next call) and a buffer written through ``.data``."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.BatchNorm1d(16)).eval()
    options = BackendOptions(compiler_config=CompilerConfig(numerics="fast"))
    compiled, x = torch.compile(model, backend="tt", options=options), torch.randn(4, 8)
    with torch.no_grad():
        _same(compiled, model, x)
        model[0].weight.data.copy_(torch.randn(16, 8))
        _same(compiled, model, x)
        model[1].running_mean.data.fill_(0.5)  # a buffer's .data cannot be counted: fingerprinted
        _same(compiled, model, x)


def test_unaliased_parameters_are_not_fingerprinted():
    """The cheap path: a parameter nothing else holds costs no pass over its bytes; an alias makes it fingerprinted."""
    layer = torch.nn.Linear(64, 64)
    buffer = torch.zeros(8)
    args = (layer.weight, layer.bias, buffer)
    watch = WeightWatch([0, 1, 2])
    watch.check(args)
    assert watch.fingerprinted == 1  # the buffer only
    view = layer.weight.detach().numpy()
    watch.check(args)
    assert watch.fingerprinted == 2
    view[0, 0] += 1.0
    version = layer.weight._version
    watch.check(args)
    assert layer.weight._version > version and watch.hidden_writes == 1
    full = WeightWatch([0, 1, 2], full=True)
    full.check(args)
    assert full.fingerprinted == 3


def test_each_write_moves_the_version_once_and_an_idle_call_none():
    """What the caches key on: a weight's version moves after a write through an alias made since
    the last call, a .data read, and never on a call after which nothing was written."""
    layer = torch.nn.Linear(8, 8)
    args = (layer.weight, layer.bias)
    watch = WeightWatch([0, 1])

    def versions():
        watch.check(args)
        return layer.weight._version, layer.bias._version

    start = versions()
    assert versions() == start  # nothing written
    view = layer.weight.detach().numpy()  # made and written between two calls
    view[0, 0] += 1.0
    after_alias = versions()
    assert after_alias[0] > start[0] and after_alias[1] == start[1] and watch.hidden_writes == 0
    assert versions() == after_alias
    del view
    assert versions() == after_alias  # the alias gone: back to the cheap path, nothing moves
    layer.weight.data.mul_(2.0)
    after_data = versions()
    assert after_data[0] > after_alias[0] and watch.data_reads == 1
    with torch.no_grad():
        layer.bias.add_(1.0)  # an in-place op moves the version itself
    assert layer.bias.data is not None  # and a .data read as well: moved, at least once
    after_both = versions()
    assert after_both[1] > after_data[1]
    assert versions() == after_both and watch.fingerprinted == 0


@pytest.mark.parametrize("numel", [0, 1, 32, 1024, 1025, 16384, 40000])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int64, torch.bool])
def test_fingerprint_sees_one_changed_element(numel, dtype):
    """Each size regime (bytes kept, digest, row sums) and dtype: one element written, the
    fingerprint changes; a copy of the same bytes has the same one (also a strided copy, past
    the bytes kept as they are)."""
    t = (torch.arange(numel) % 3 == 1) if dtype == torch.bool else torch.arange(numel).to(dtype)
    before = fingerprint(t)
    assert fingerprint(t.clone()) == before
    if numel * t.element_size() > 4096:  # a digest or row sums, whatever the layout
        strided = torch.stack([t, t], dim=1)[:, 0]
        assert not strided.is_contiguous() and fingerprint(strided) == before
    if numel:
        t[numel // 2] = not t[numel // 2] if dtype == torch.bool else -1
        assert fingerprint(t) != before


class _Outputs(torch.nn.Module):
    """Outputs that may share storage inside the device pool: one value twice, a weight, a fresh value."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(8, 8))

    def forward(self, x):
        y = torch.relu(x @ self.weight)
        return y, y * 1.0, self.weight + 0.0, x + 1.0


def test_outputs_share_nothing_with_each_other_or_the_next_call():
    """The runtime hands over pool values as outputs without a copy where nothing else holds them:
    no output may alias another, an input, a weight or the next call's outputs."""
    torch.manual_seed(0)
    model = _Outputs().eval()
    options = BackendOptions(compiler_config=CompilerConfig(numerics="fast"))
    compiled, x = torch.compile(model, backend="tt", options=options), torch.randn(8, 8)
    with torch.no_grad():
        first = compiled(x)
        golden = [t.clone() for t in model(x)]
        second = compiled(x)
        pointers = [t.untyped_storage().data_ptr() for t in (*first, *second, x, model.weight)]
        assert len(set(pointers)) == len(pointers)
        for t in first:
            t.fill_(7.0)
        for out, ref in zip(compiled(x), golden):
            torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
        for out, ref in zip(second, golden):
            torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
