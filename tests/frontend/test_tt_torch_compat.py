"""tt-torch's user API, called as tt-torch's own tests call it: DeviceManager's meshes,
verify_against_golden, verify_module, verify_torch_module_async and sub-meshes in
BackendOptions.devices. Every result is checked against eager PyTorch."""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

from tt_torch.dynamo.backend import BackendOptions
from tt_torch.tools.device_manager import DeviceManager
from tt_torch.tools.utils import CompilerConfig
from tt_torch.tools.verify import verify_against_golden, verify_module, verify_torch_module_async

pytestmark = pytest.mark.usefixtures("fast_numerics", "devices_released")


class Basic(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(32, 32)
        self.l2 = nn.Linear(64, 32)

    def forward(self, x, y):
        return self.l1(x) + self.l2(y)


# --- DeviceManager ---------------------------------------------------------------------


def test_create_parent_mesh_device():
    assert DeviceManager.get_num_available_devices() == 2  # the emulated n300
    device = DeviceManager.create_parent_mesh_device((1, 1))
    assert DeviceManager.get_num_available_devices() == 1
    with pytest.raises(AssertionError, match="Mesh shape exceeds available devices."):
        DeviceManager.create_parent_mesh_device((2, 3))
    with pytest.raises(AssertionError, match="Mesh shape must be a list of two integers."):
        DeviceManager.create_parent_mesh_device((1, 1, 1))
    assert device in DeviceManager._devices
    assert len(DeviceManager._devices[device]) == 0
    assert len(DeviceManager._submesh_shapes) == 0
    assert DeviceManager._parent_shapes[device] == (1, 1)
    assert list(DeviceManager.get_parent_devices()) == [device]
    DeviceManager.release_parent_device(device)
    assert DeviceManager.get_num_available_devices() == 2


def test_create_sub_mesh_device():
    with pytest.raises(AssertionError, match="Parent mesh not found."):
        DeviceManager.create_sub_mesh_device(object(), (1, 1))
    parent = DeviceManager.create_parent_mesh_device([1, 2])
    subs = [DeviceManager.create_sub_mesh_device(parent, mesh_offset=(0, i), mesh_shape=(1, 1)) for i in range(2)]
    with pytest.raises(AssertionError, match="Sub mesh shape is too big."):
        DeviceManager.create_sub_mesh_device(parent, mesh_offset=(0, 2), mesh_shape=(1, 1))
    assert DeviceManager.get_sub_mesh_devices(parent) == set(subs)
    for sub in subs:
        assert DeviceManager._submesh_shapes[sub] == (1, 1)
    DeviceManager.release_sub_mesh_device(subs[1])
    with pytest.raises(AssertionError, match="Sub mesh overlaps a live sub-mesh"):
        DeviceManager.create_sub_mesh_device(parent, (0, 0))
    with pytest.raises(AssertionError, match="Sub mesh does not fit the parent mesh"):
        DeviceManager.create_sub_mesh_device(parent, (0, 2))
    DeviceManager.release_parent_device(parent, cleanup_sub_devices=True)


def test_release_sub_mesh_device():
    with pytest.raises(AssertionError, match="Parent mesh not found in the list of managed devices."):
        DeviceManager.release_sub_mesh_device(sub_device=object(), parent=object())
    parent = DeviceManager.create_parent_mesh_device((1, 2))
    with pytest.raises(AssertionError, match="Sub device not found in the specified parent mesh."):
        DeviceManager.release_sub_mesh_device(sub_device=object(), parent=parent)
    with pytest.raises(AssertionError, match="Sub device not found in any parent mesh."):
        DeviceManager.release_sub_mesh_device(sub_device=object())

    subdevice_1 = DeviceManager.create_sub_mesh_device(parent, mesh_offset=(0, 0), mesh_shape=(1, 1))
    subdevice_2 = DeviceManager.create_sub_mesh_device(parent, mesh_offset=(0, 1), mesh_shape=(1, 1))
    DeviceManager.release_sub_mesh_device(subdevice_1)
    assert subdevice_1 not in DeviceManager._devices[parent]
    assert subdevice_1 not in DeviceManager._submesh_shapes
    assert subdevice_2 in DeviceManager._devices[parent]
    DeviceManager.release_sub_mesh_device(subdevice_2, parent=parent)
    assert len(DeviceManager._devices[parent]) == 0

    subdevice_3 = DeviceManager.create_sub_mesh_device(parent, mesh_offset=(0, 0), mesh_shape=(1, 1))
    DeviceManager.release_sub_mesh_device(subdevice_3, cleanup_parent=True)
    assert parent not in DeviceManager._devices
    assert len(DeviceManager._devices) == 0


def test_release_parent_device():
    with pytest.raises(AssertionError, match="Parent Device not found."):
        DeviceManager.release_parent_device(object())
    parent = DeviceManager.create_parent_mesh_device((1, 2))
    subdevice = DeviceManager.create_sub_mesh_device(parent, (0, 0))
    with pytest.raises(AssertionError, match="Sub devices still exist under this parent mesh."):
        DeviceManager.release_parent_device(parent, cleanup_sub_devices=False)
    with pytest.raises(AssertionError, match="Sub devices still exist under this parent mesh."):
        DeviceManager.release_parent_device(parent)  # tt-torch's default: do not clean up
    DeviceManager.release_parent_device(parent, True)
    assert parent not in DeviceManager._devices
    assert parent not in DeviceManager._parent_shapes
    assert subdevice not in DeviceManager._submesh_shapes
    with pytest.raises(AssertionError, match="Parent Device not found."):
        DeviceManager.release_parent_device(parent)


def test_acquire_available_devices_returns_parent_and_sub_meshes():
    parent, devices = DeviceManager.acquire_available_devices()
    assert len(devices) == 2 and parent.mesh_shape == (1, 2)
    assert [d.mesh_offset for d in devices] == [(0, 0), (0, 1)]
    assert DeviceManager.get_sub_mesh_devices(parent) == set(devices)
    assert DeviceManager.get_num_available_devices() == 0
    with pytest.raises(AssertionError, match="Mesh shape exceeds available devices"):
        DeviceManager.acquire_available_devices(num_devices=1)
    DeviceManager.release_parent_device(parent, cleanup_sub_devices=True)
    parent, devices = DeviceManager.acquire_available_devices(1)
    assert len(devices) == 1
    DeviceManager.release_parent_device(parent, cleanup_sub_devices=True)


def test_two_sub_meshes_as_backend_devices():
    """tt-torch's multichip test: two sub-meshes of a (1, 2) parent in options.devices."""
    options = BackendOptions()
    cc = CompilerConfig()
    options.compiler_config = cc
    cc.enable_consteval = True
    parent_device = DeviceManager.create_parent_mesh_device([1, 2])
    device1 = DeviceManager.create_sub_mesh_device(parent_device, (0, 0))
    device2 = DeviceManager.create_sub_mesh_device(parent_device, (0, 1))
    options.devices = [device1, device2]

    host_model = Basic()
    model = torch.compile(host_model, backend="tt-legacy", options=options)
    x = torch.rand(32, 32)
    y = torch.rand(32, 64)
    calculated = model(x, y)
    golden = host_model(x, y)
    verify_against_golden((golden,), (calculated,), True, True, required_atol=0.1)
    torch.testing.assert_close(calculated, golden, rtol=1e-4, atol=1e-4)
    # the program ran on the first sub-mesh, a single Wormhole chip
    assert device1.runtime_device().name == "n150" and device1.runtime_device().peak_dram_bytes > 0
    DeviceManager.release_parent_device(parent_device, True)
    with pytest.raises(Exception, match="is closed"):  # its device went with the parent
        model(x, y)


def test_each_sub_mesh_runs_its_own_model():
    parent, devices = DeviceManager.acquire_available_devices()
    models = [Basic(), Basic()]
    x, y = torch.rand(4, 32), torch.rand(4, 64)
    for model, device in zip(models, devices):
        options = BackendOptions(devices=[device])
        out = torch.compile(model, backend="tt", options=options)(x, y)
        torch.testing.assert_close(out, model(x, y), rtol=1e-4, atol=1e-4)
    assert all(d.runtime_device().peak_dram_bytes > 0 for d in devices)
    DeviceManager.release_parent_device(parent, cleanup_sub_devices=True)


def test_parent_mesh_runs_a_model():
    parent = DeviceManager.create_parent_mesh_device([1, 2])
    model = Basic()
    x, y = torch.rand(4, 32), torch.rand(4, 64)
    out = torch.compile(model, backend="tt", options=BackendOptions(devices=[parent]))(x, y)
    torch.testing.assert_close(out, model(x, y), rtol=1e-4, atol=1e-4)
    assert parent.runtime_device().name == "n300"
    DeviceManager.release_parent_device(parent)


def test_backend_devices_of_another_kind_are_refused():
    with pytest.raises(Exception, match="BackendOptions.devices holds a str"):
        torch.compile(Basic(), backend="tt", options=BackendOptions(devices=["n150"]))(
            torch.rand(2, 32), torch.rand(2, 64)
        )


# --- verify_against_golden ---------------------------------------------------------------


def test_verify_against_golden_prints_tt_torch_lines(capsys):
    golden = (torch.linspace(-1, 1, 64), torch.tensor(3.0))
    calculated = (golden[0] + 0.001, torch.tensor(3.0))
    pccs, atols, passed_pcc, passed_atol, thresholds = verify_against_golden(
        golden, calculated, True, True, required_pcc=0.99, required_atol=0.01
    )
    assert passed_pcc and passed_atol and pccs[1] is None and thresholds == [0.01, 0.01]
    assert atols[0] == pytest.approx(0.001, rel=1e-3)
    out = capsys.readouterr().out
    assert "Results for output 0:\n  PCC: 1.0000, threshold: 0.99 \u2705\n" in out
    assert "  ATOL: 0.0010, threshold: 0.01 \u2705" in out
    assert "Results for output 1:\n  ATOL: 0.0000, threshold: 0.01 \u2705" in out  # no PCC for one value


def test_verify_against_golden_asserts_each_failing_output():
    golden = (torch.linspace(-1, 1, 64), torch.linspace(0, 1, 64))
    calculated = (golden[0].flip(0), golden[1] + 0.5)
    with pytest.raises(AssertionError) as failure:
        verify_against_golden(golden, calculated, True, True, 0.99, required_atol=0.1)
    message = str(failure.value)
    assert "PCC of output 0: -1.0000, threshold: 0.99 \u274c" in message
    assert "ATOL of output 1: 0.5000, threshold: 0.1 \u274c" in message
    assert "PCC of output 1" not in message  # a shifted ramp still correlates


def test_verify_against_golden_warns_where_assert_flag_is_false(capsys, caplog):
    golden = (torch.linspace(-1, 1, 64),)
    calculated = (golden[0].flip(0),)
    with caplog.at_level(logging.WARNING):
        pccs, _, passed_pcc, passed_atol, _ = verify_against_golden(golden, calculated, False, True, required_atol=2.5)
    assert not passed_pcc and passed_atol and pccs[0] == pytest.approx(-1.0)
    out = capsys.readouterr().out
    assert "Ignoring PCC check" in out
    assert "PCC: -1.0000, threshold: 0.99 \u274e (assert_pcc == False)" in out
    assert "PCC of output 0" in caplog.text
    with pytest.raises(AssertionError, match="ATOL of output 0"):
        verify_against_golden(golden, calculated, False, True, required_atol=0.1)
    capsys.readouterr()
    verify_against_golden(golden, calculated, False, False, required_atol=0.1, disable_print=True)
    assert capsys.readouterr().out == ""


def test_verify_against_golden_relative_atol_and_exactly_one_atol():
    golden = (torch.tensor([1.0, -4.0, 2.0, float("nan")]),)
    calculated = (torch.tensor([1.3, -4.0, 2.0, float("nan")]),)
    _, _, _, passed_atol, thresholds = verify_against_golden(
        golden, calculated, False, True, relative_atol=0.1, disable_print=True
    )
    assert passed_atol and thresholds == [pytest.approx(0.4)]
    with pytest.raises(AssertionError, match="ATOL of output 0: 0.3000, threshold: 0.2.* relative_atol: 0.05"):
        verify_against_golden(golden, calculated, False, True, relative_atol=0.05)
    with pytest.raises(AssertionError, match="Exactly one of atol or relative_atol should be provided."):
        verify_against_golden(golden, calculated, True, True)
    with pytest.raises(AssertionError, match="Exactly one of atol or relative_atol should be provided."):
        verify_against_golden(golden, calculated, True, True, required_atol=0.1, relative_atol=0.1)
    with pytest.raises(AssertionError, match="Shape mismatch on output 0"):
        verify_against_golden(golden, (torch.zeros(3),), True, True, required_atol=0.1)


# --- verify_module / verify_torch_module_async ------------------------------------------


class Where(nn.Module):
    def forward(self, a, b):
        return torch.logical_and(a, b)


class Embed(nn.Module):
    def __init__(self):
        super().__init__()
        self.table = nn.Embedding(1000, 8)

    def forward(self, ids):
        return self.table(ids).sum(-1)


def test_verify_module_bool_inputs_from_one_data_type(monkeypatch):
    seen = []
    original = Where.forward
    monkeypatch.setattr(Where, "forward", lambda self, a, b: seen.append((a, b)) or original(self, a, b))
    verify_module(Where(), input_shapes=[(32, 32), (32, 32)], input_data_types=[torch.bool])
    a, b = seen[0]
    assert a.dtype == b.dtype == torch.bool and a.shape == b.shape == (32, 32)
    assert a.any() and not a.all()


def test_verify_module_inputs_in_ranges(monkeypatch):
    seen = []
    original = Basic.forward
    monkeypatch.setattr(Basic, "forward", lambda self, x, y: seen.append((x, y)) or original(self, x, y))
    verify_module(Basic(), input_shapes=[(4, 32), (4, 64)], input_range=(2.0, 3.0), required_atol=0.05)
    x, y = seen[0]
    assert x.dtype == torch.float32 and 2.0 <= float(x.min()) and float(x.max()) <= 3.0
    ids = []
    original_embed = Embed.forward
    monkeypatch.setattr(Embed, "forward", lambda self, i: ids.append(i) or original_embed(self, i))
    verify_module(Embed(), input_shapes=[(2, 5)], input_data_types=[torch.int64], input_range_int=(10, 20))
    assert ids[0].dtype == torch.int32 and 10 <= int(ids[0].min()) and int(ids[0].max()) < 20


def test_verify_module_positional_and_failing():
    model = Basic()
    x, y = torch.rand(4, 32), torch.rand(4, 64)
    results = verify_module(model, [x, y], None, None, 0.99, 1e-2, (-0.5, 0.5), (0, 1000), CompilerConfig(), True)
    assert len(results) == 1 and results[0].passed and results[0].pcc > 0.999
    with pytest.raises(AssertionError, match="PCC of output 0"):  # no result reaches PCC 1.01
        verify_module(model, inputs=[x, y], required_pcc=1.01)
    results = verify_module(model, inputs=[x, y], required_pcc=1.01, do_assert=False)
    assert not results[0].passed


def test_verify_module_on_a_sub_mesh():
    parent, devices = DeviceManager.acquire_available_devices()
    verify_module(Basic(), input_shapes=[(4, 32), (4, 64)], device=devices[1])
    assert devices[1].runtime_device().peak_dram_bytes > 0
    DeviceManager.release_parent_device(parent, cleanup_sub_devices=True)


def test_verify_torch_module_async_runs_on_every_device():
    results = verify_torch_module_async(Basic(), input_shapes=[(4, 32), (4, 64)])
    assert len(results) == 2 and all(r[0].passed for r in results)
    assert not DeviceManager.get_parent_devices()  # released


def test_verify_torch_module_async_releases_devices_when_it_fails():
    with pytest.raises(AssertionError, match="PCC of output 0"):
        verify_torch_module_async(Basic(), input_shapes=[(4, 32), (4, 64)], required_pcc=1.01)
    assert not DeviceManager.get_parent_devices()
