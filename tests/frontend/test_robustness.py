"""No crash, no stale value, no silently dropped gradient: threads, weights written behind
the version counter, grad-enabled calls, recompiles, torch-mlir's refusals."""

from __future__ import annotations

import threading

import pytest
import torch

from tt_torch.dynamo import BackendOptions, CompileArtifacts
from tt_torch.tools.utils import CompilerConfig


@pytest.fixture(autouse=True)
def _fast(fast_numerics):
    """Plumbing tests: plain fp32 math on the device, compared with eager at tight tolerances."""


def _mlp(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 8)).eval()


# --- item 1: the first call from several threads ---------------------------------------------


@pytest.mark.parametrize("run", range(3))
def test_first_call_from_four_threads(run):
    """Four threads call a freshly compiled model at once: one compile, four right answers
    (before: "CURRENT_PATCHER is None", FX tracing errors, a segfault in MLIR dialect loading).
    benchmarks/first_call_threads.py runs the same in 50 fresh processes."""
    model, artifacts = _mlp(run), CompileArtifacts()
    x = torch.randn(4, 16)
    compiled = torch.compile(model, backend="tt", options=BackendOptions(artifacts=artifacts))
    outs, errors, start = [None] * 4, [], threading.Barrier(4)

    def call(k: int) -> None:
        start.wait()
        try:
            with torch.no_grad():
                outs[k] = compiled(x)
        except Exception as e:  # noqa: BLE001 - reported below with the thread's number
            errors.append(f"thread {k}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=call, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with torch.no_grad():
        golden = model(x)
    for out in outs:
        torch.testing.assert_close(out, golden, rtol=1e-5, atol=1e-5)
    assert len(artifacts.graphs) == 1, [g.name for g in artifacts.graphs]
    assert "cpu_fallback" not in artifacts.last.report  # compiled for the device, not rescued by the host


def test_concurrent_calls_of_a_compiled_model():
    """After the compile, eight threads run the program at once, each on its own input."""
    model = _mlp()
    compiled = torch.compile(model, backend="tt")
    xs = [torch.randn(4, 16) for _ in range(8)]
    with torch.no_grad():
        compiled(xs[0])
    outs = [None] * 8

    def call(k: int) -> None:
        with torch.no_grad():
            for _ in range(5):
                outs[k] = compiled(xs[k])

    threads = [threading.Thread(target=call, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with torch.no_grad():
        for x, out in zip(xs, outs):
            torch.testing.assert_close(out, model(x), rtol=1e-5, atol=1e-5)


# --- item 3: weights written behind the version counter --------------------------------------


@pytest.mark.parametrize("check", [True, False])
def test_weights_written_through_data_are_seen(check):
    """``m.weight.data.copy_(w)`` moves no version counter; the next call still uses the new weights
    (consteval's transposed weight, the runtime's weight cache). Without the content check it does not."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1024)).eval()
    config = CompilerConfig(check_weight_contents=check)
    compiled = torch.compile(model, backend="tt", options=BackendOptions(compiler_config=config))
    x = torch.randn(4, 16)
    with torch.no_grad():
        compiled(x)
        model[0].weight.data.copy_(torch.randn(32, 16))  # 2 KiB: hashed exactly
        model[2].weight.data.mul_(-2.0)  # 128 KiB: summed in rows
        model[2].bias.data[3] += 1.0
        out, golden = compiled(x), model(x)
    if check:
        torch.testing.assert_close(out, golden, rtol=1e-5, atol=1e-5)
    else:
        assert (out - golden).abs().max() > 0.1  # stale: what the check is for


def test_weight_fingerprint_sees_small_changes_and_permutations():
    from tt_torch.dynamo.weights import fingerprint

    w = torch.randn(1024, 768)  # 3 MiB: rows of 4 KiB
    base = fingerprint(w)
    changed = w.clone()
    changed.view(-1)[400_000] = torch.nextafter(changed.view(-1)[400_000], torch.tensor(2.0))  # one ulp
    assert fingerprint(changed) != base
    assert fingerprint(w[torch.randperm(1024)].contiguous()) != base  # rows permuted
    assert fingerprint(w.clone()) == base
    b = torch.randn(768)
    assert fingerprint(b.roll(1)) != fingerprint(b)  # small: exact


# --- item 4: gradients --------------------------------------------------------------------------


def test_gradients_flow_through_the_device_program():
    """Grad enabled and inputs/parameters that require grad: the device's outputs carry eager's
    gradients (backward on the host); under no_grad they are plain tensors."""
    model = _mlp()
    compiled = torch.compile(model, backend="tt")
    x = torch.randn(4, 16, requires_grad=True)
    out = compiled(x)
    assert out.requires_grad
    out.pow(2).sum().backward()
    grads = [x.grad.clone()] + [p.grad.clone() for p in model.parameters()]
    x.grad = None
    model.zero_grad()
    model(x).pow(2).sum().backward()
    golden = [x.grad] + [p.grad for p in model.parameters()]
    for got, want in zip(grads, golden):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        assert not compiled(x).requires_grad


# --- item 6: recompiles and shape buckets ----------------------------------------------------


def test_shape_buckets_pad_a_dynamic_batch():
    """Sizes 1..10 of a dynamic batch with buckets (4, 8): the first (static) graph plus two programs,
    each answer equal to eager's."""
    model, artifacts = _mlp(), CompileArtifacts()
    config = CompilerConfig(shape_buckets={0: [8, 4]})
    compiled = torch.compile(model, backend="tt", options=BackendOptions(compiler_config=config, artifacts=artifacts))
    with torch.no_grad():
        for b in range(1, 11):
            x = torch.randn(b, 16)
            out = compiled(x)
            assert out.shape == (b, 8)
            torch.testing.assert_close(out, model(x), rtol=1e-5, atol=1e-5)
    sizes = [g.input_signature[2][1] for g in artifacts.graphs[1:]]
    assert sizes == [4, 8, 9, 10]  # 2..8 in two buckets; 9 and 10 above the largest: exact


def test_shape_buckets_refuse_a_reduction_over_the_dim(caplog):
    class Pool(torch.nn.Module):
        def forward(self, x):
            return x.mean(0) * 2.0  # padded rows would change the mean

    config = CompilerConfig(shape_buckets={0: (8,)})
    compiled = torch.compile(Pool(), backend="tt", dynamic=True, options=BackendOptions(compiler_config=config))
    x = torch.randn(5, 4)
    with caplog.at_level("WARNING", logger="tt_torch"):
        torch.testing.assert_close(compiled(x), x.mean(0) * 2.0, rtol=1e-5, atol=1e-5)
    assert "shape_buckets not applied" in caplog.text and "reduces dim 0 away" in caplog.text


def test_recompiles_warn_and_stop_at_dynamos_limit(caplog):
    model, artifacts = _mlp(), CompileArtifacts()
    compiled = torch.compile(model, backend="tt", dynamic=True, options=BackendOptions(artifacts=artifacts))
    limit = torch._dynamo.config.patch(recompile_limit=4)
    with limit, torch.no_grad(), caplog.at_level("WARNING", logger="tt_torch"):
        for b in range(2, 10):  # dynamo specializes size 1: from 2, one dynamic graph
            x = torch.randn(b, 16)
            torch.testing.assert_close(compiled(x), model(x), rtol=1e-5, atol=1e-5)
    assert len(artifacts.graphs) == 4  # 6..9 on the host
    assert "compiled 3 programs, one per input shape" in caplog.text
    assert "reached torch._dynamo.config.recompile_limit (4 programs)" in caplog.text


# --- item 8: torch-mlir's refusal names the op and its line ----------------------------------


def test_frontend_error_names_the_failing_op_and_line():
    from tt_torch.errors import FrontendError

    class Eigh(torch.nn.Module):
        def forward(self, x):
            y = x + 1.0
            return torch.linalg.eigh(y @ y.T)[0]  # the line the error names

    config = CompilerConfig(enable_cpu_fallback=False)
    compiled = torch.compile(Eigh(), backend="tt", options=BackendOptions(compiler_config=config))
    with pytest.raises(FrontendError) as info:
        compiled(torch.randn(4, 4))
    message = str(info.value)
    line = next(k for k, text in enumerate(open(__file__), 1) if "# the line the error names" in text)
    assert "failing op: aten._linalg_eigh" in message
    assert f"test_robustness.py:{line}" in message
