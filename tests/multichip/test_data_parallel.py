"""Data parallel as tt-torch's users write it: one compiled model per sub-mesh
(``DeviceManager.acquire_available_devices``), called concurrently from host threads or
started with ``async_mode=True`` and read afterwards. Every device's output must equal,
bit for bit, the same model run alone on one chip."""

from __future__ import annotations

import threading

import pytest
import torch
from torch import nn

from tt_torch import runtime
from tt_torch.dynamo import executor as executor_module
from tt_torch.dynamo.backend import BackendOptions
from tt_torch.tools.device_manager import DeviceManager
from tt_torch.tools.utils import CompilerConfig


@pytest.fixture(autouse=True)
def _no_grad_and_room_for_one_compile_per_chip():
    """One model compiled per chip is one dynamo cache entry per chip (each compile has its own
    backend options): 8 chips and the one-chip reference need more than dynamo's default 8."""
    with torch._dynamo.config.patch(recompile_limit=16), torch.no_grad():
        yield


pytestmark = pytest.mark.usefixtures("devices_released")


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 128)
        self.fc2 = nn.Linear(128, 32)

    def forward(self, x):
        return torch.softmax(self.fc2(torch.relu(self.fc1(x))), dim=-1)


def _compile_per_device(model, devices, async_mode=False):
    cc = CompilerConfig()
    cc.enable_consteval = True
    cc.consteval_parameters = True
    models = []
    for device in devices:
        options = BackendOptions()
        options.compiler_config = cc
        options.devices = [device]
        options.async_mode = async_mode
        models.append(torch.compile(model, backend="tt", dynamic=False, options=options))
    return models


def _one_chip_reference(model, inputs):
    """The same model compiled for one chip of its own, run on each input in turn."""
    single = torch.compile(model, backend="tt", dynamic=False, options=BackendOptions())
    return [single(x) for x in inputs]


def _run_in_threads(models, inputs_per_device):
    results = [None] * len(models)
    errors = []

    def work(k):
        try:
            # grad mode and dynamo's config are per thread: as in the main thread
            with torch._dynamo.config.patch(recompile_limit=16), torch.no_grad():
                results[k] = [models[k](x) for x in inputs_per_device[k]]
        except Exception as e:  # noqa: BLE001 - reported by the test below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(models))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a device thread did not finish"
    assert not errors, errors
    return results


@pytest.mark.parametrize(("system", "chips"), [("n300", 2), ("t3k", 8)])
def test_data_parallel_threads_match_one_chip(monkeypatch, system, chips):
    monkeypatch.setattr(DeviceManager, "system", system)
    model = MLP().eval()
    parent, devices = DeviceManager.acquire_available_devices()
    assert len(devices) == chips and DeviceManager.get_num_available_devices() == 0
    models = _compile_per_device(model, devices)
    inputs = [[torch.randn(4, 64) for _ in range(2)] for _ in devices]
    results = _run_in_threads(models, inputs)
    flat_inputs = [x for per_device in inputs for x in per_device]
    reference = _one_chip_reference(model, flat_inputs)
    flat_results = [y for per_device in results for y in per_device]
    for got, want in zip(flat_results, reference):
        assert torch.equal(got, want)
    torch.testing.assert_close(flat_results[0], model(flat_inputs[0]), rtol=0.02, atol=2e-3)
    # each chip ran its own program and accounted its own memory
    assert len({id(d.runtime_device()) for d in devices}) == chips
    assert all(d.runtime_device().peak_dram_bytes > 0 for d in devices)
    DeviceManager.release_parent_device(parent, cleanup_sub_devices=True)


def test_async_mode_returns_before_the_device_has_run(monkeypatch):
    model = MLP().eval()
    parent, devices = DeviceManager.acquire_available_devices()
    models = _compile_per_device(model, devices, async_mode=True)
    x = torch.randn(4, 64)
    want = _one_chip_reference(model, [x])[0]
    for m in models:  # compiled, and a first run done, before the device is held up below
        assert torch.equal(runtime.to_host(m(x)), want)

    gate = threading.Event()
    original = executor_module.Executor.__call__

    def held(self, *args):
        assert gate.wait(timeout=60)
        return original(self, *args)

    monkeypatch.setattr(executor_module.Executor, "__call__", held)
    pending = [m(x) for m in models]  # returns although no device may run yet
    assert all(isinstance(p, runtime.PendingTensor) and not p.done() for p in pending)
    x.add_(1.0)  # the call took a copy of its input
    gate.set()
    outs = runtime.to_host(pending)
    assert all(torch.equal(out, want) for out in outs)
    assert torch.equal(torch.add(pending[0], 0), want)  # a pending output reads as a tensor
    assert pending[1].shape == want.shape
    DeviceManager.release_parent_device(parent, cleanup_sub_devices=True)


def test_async_mode_raises_a_failure_where_the_output_is_read():
    parent, devices = DeviceManager.acquire_available_devices()
    (model,) = _compile_per_device(MLP().eval(), devices[:1], async_mode=True)
    pending = model(torch.randn(4, 64))
    runtime.to_host(pending)
    DeviceManager.release_parent_device(parent, cleanup_sub_devices=True)
    failed = model(torch.randn(4, 64))  # its device was released with the parent
    with pytest.raises(Exception, match="is closed"):
        runtime.to_host(failed)


def test_one_device_runs_one_program_at_a_time():
    """Two threads submitting to one device take turns (a chip's command queue): the ops of
    the two runs never interleave, and the results are those of a run alone."""
    from tt_torch.dynamo import CompileArtifacts

    art = CompileArtifacts()
    model = MLP().eval()
    x = torch.randn(4, 64)
    torch.compile(model, backend="tt", options=BackendOptions(artifacts=art))(x)
    binary = runtime.load_binary(art.last.flatbuffer)
    inputs = list(art.last.program_inputs)
    events = []

    def hook(event):
        events.append(threading.get_ident())
        threading.Event().wait(0.002)  # give the other thread a chance to cut in

    with runtime.open_device("n150") as device:
        alone = runtime.submit(device, binary, 0, inputs)
        results = []
        threads = [
            threading.Thread(target=lambda: results.append(runtime.submit(device, binary, 0, inputs, pre_op=hook)))
            for _ in range(2)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    switches = sum(1 for a, b in zip(events, events[1:]) if a != b)
    assert len(set(events)) == 2 and switches == 1, "the two runs' ops interleaved"
    assert all(torch.equal(r[0], alone[0]) for r in results) and len(results) == 2


# --- one model, the batch split: BackendOptions(devices=[...], data_parallel=True) ---------


@pytest.mark.parametrize(("system", "batch"), [("n300", 16), ("t3k", 16), ("t3k", 13)])
def test_one_call_splits_the_batch_across_the_chips(monkeypatch, system, batch):
    monkeypatch.setattr(DeviceManager, "system", system)
    model = MLP().eval()
    x = torch.randn(batch, 64)
    want = _one_chip_reference(model, [x])[0]  # the whole batch on one chip
    parent, devices = DeviceManager.acquire_available_devices()
    options = BackendOptions(devices=devices, data_parallel=True)
    out = torch.compile(model, backend="tt", dynamic=False, options=options)(x)
    assert torch.equal(out, want)
    assert all(d.runtime_device().peak_dram_bytes > 0 for d in devices)  # every chip ran a shard
    # async_mode on top: the split runs on the model's queue, read when needed
    options = BackendOptions(devices=devices, data_parallel=True, async_mode=True)
    pending = torch.compile(model, backend="tt", dynamic=False, options=options)(x)
    assert isinstance(pending, runtime.PendingTensor) and torch.equal(runtime.to_host(pending), want)
    DeviceManager.release_parent_device(parent, cleanup_sub_devices=True)


def test_a_model_that_does_not_keep_the_batch_in_dim_0_is_refused():
    class Pool(nn.Module):
        def forward(self, x):
            return x.sum(0)

    parent, devices = DeviceManager.acquire_available_devices()
    options = BackendOptions(devices=devices, data_parallel=True)
    with pytest.raises(Exception, match="does not keep the batch in dim 0"):
        torch.compile(Pool(), backend="tt", dynamic=False, options=options)(torch.randn(4, 32))
    options = BackendOptions(devices=devices, data_parallel=True)
    options.compiler_config.device_map = {"fc1": 1}
    with pytest.raises(Exception, match="choose one"):
        torch.compile(MLP(), backend="tt", options=options)(torch.randn(4, 64))
    DeviceManager.release_parent_device(parent, cleanup_sub_devices=True)
