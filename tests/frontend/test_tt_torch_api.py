"""Code written against tt-torch's documented user API runs unchanged."""

from __future__ import annotations

import pytest
import torch

from tt_torch.dynamo.backend import BackendOptions, backend
from tt_torch.tools.device_manager import DeviceManager
from tt_torch.tools.utils import CompileDepth, CompilerConfig, calculate_atol, calculate_pcc
from tt_torch.tools.verify import verify_against_golden, verify_module, verify_torch_module_async

# Outputs are compared with eager at fp32 tolerances, or across two paths bit for bit.
pytestmark = pytest.mark.usefixtures("fast_numerics")


class AddMul(torch.nn.Module):
    def forward(self, x, y):
        return x + y * 2


class Gather(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.table = torch.nn.Embedding(1000, 8)

    def forward(self, ids):
        return self.table(ids).sum(-1)


def test_verify_module_with_generated_inputs():
    results = verify_module(AddMul(), input_shapes=[(32, 32), (32, 32)])
    assert len(results) == 1 and results[0].pcc >= 0.99


def test_verify_module_with_integer_inputs_in_range():
    verify_module(Gather(), input_shapes=[(2, 5)], input_data_types=[torch.int64], input_range_int=(0, 1000))


def test_verify_module_reports_instead_of_asserting():
    results = verify_torch_module_async(AddMul(), inputs=[torch.ones(4, 4), torch.ones(4, 4)], do_assert=False)
    assert all(device_results[0].passed for device_results in results)


def test_compiler_config_set_by_attribute_as_tt_torch_users_do():
    cc = CompilerConfig()
    cc.compile_depth = CompileDepth.STABLEHLO
    options = BackendOptions()
    options.compiler_config = cc
    model = AddMul()
    x, y = torch.randn(3, 3), torch.randn(3, 3)
    out = torch.compile(model, backend=backend, options=options)(x, y)
    verify_against_golden((model(x, y),), (out,), True, True, required_atol=1e-2)
    assert calculate_pcc(model(x, y), out) >= 0.99 and calculate_atol(model(x, y), out) <= 1e-2


def test_device_manager_acquire_run_release():
    free = DeviceManager.get_num_available_devices()
    parent = DeviceManager.create_parent_mesh_device([1, 1])
    assert DeviceManager.get_num_available_devices() == free - 1
    sub = DeviceManager.create_sub_mesh_device(parent, (0, 0), (1, 1))
    options = BackendOptions(devices=[sub])
    model = AddMul()
    x, y = torch.randn(8, 8), torch.randn(8, 8)
    out = torch.compile(model, backend="tt", options=options)(x, y)
    torch.testing.assert_close(out, model(x, y))
    DeviceManager.release_sub_mesh_device(sub)
    DeviceManager.release_parent_device(parent)
    assert DeviceManager.get_num_available_devices() == free
    with pytest.raises(AssertionError, match="Parent Device not found"):
        DeviceManager.release_parent_device(parent)


def test_acquire_more_devices_than_the_system_has_is_an_error():
    with pytest.raises(AssertionError, match="Mesh shape exceeds available devices"):
        DeviceManager.acquire_available_devices(num_devices=3)
    parent, devices = DeviceManager.acquire_available_devices(num_devices=2)
    assert len(devices) == 2
    DeviceManager.release_parent_device(parent, cleanup_sub_devices=True)


def test_backend_answers_to_tt_legacy():
    model = AddMul()
    x, y = torch.randn(2, 2), torch.randn(2, 2)
    torch.testing.assert_close(torch.compile(model, backend="tt-legacy")(x, y), model(x, y))
