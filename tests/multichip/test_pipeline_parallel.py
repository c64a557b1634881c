"""Pipeline parallel (tt-torch's ``CompilerConfig.device_map``), written as tt-torch's users
write it: two sub-meshes of a (1, 2) parent in ``BackendOptions.devices``, each mapped module
on its device. Checked against eager PyTorch (PCC, atol) and for the stages it makes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tt_torch.dynamo import CompileArtifacts
from tt_torch.dynamo.backend import BackendOptions
from tt_torch.dynamo.pipeline import module_path
from tt_torch.errors import ConfigError
from tt_torch.tools.device_manager import DeviceManager
from tt_torch.tools.utils import CompilerConfig
from tt_torch.tools.verify import verify_against_golden

pytestmark = pytest.mark.usefixtures("devices_released")


class Basic(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(32, 32)
        self.l2 = nn.Linear(64, 32)

    def forward(self, x, y):
        x = self.l1(x)
        y = self.l2(y)
        return x + y


class L3(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(32, 32)

    def forward(self, a, b):
        return self.linear(a + b)


class FourLayers(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(32, 32)
        self.l2 = nn.Linear(64, 32)
        self.l3 = L3()
        self.l4 = nn.Linear(32, 32)

    def forward(self, x, y):
        x = self.l1(x)
        y = self.l2(y)
        z = self.l3(x, y)
        a = self.l4(z)
        return a


def _compile_on_two_sub_meshes(host_model, device_map, artifacts=None):
    options = BackendOptions()
    cc = CompilerConfig()
    options.compiler_config = cc
    cc.enable_consteval = True
    cc.consteval_parameters = True
    cc.device_map = device_map
    parent_device = DeviceManager.create_parent_mesh_device([1, 2])
    device1 = DeviceManager.create_sub_mesh_device(parent_device, (0, 0))
    device2 = DeviceManager.create_sub_mesh_device(parent_device, (0, 1))
    options.devices = [device1, device2]
    options.artifacts = artifacts
    model = torch.compile(host_model, backend="tt", options=options)
    return model, parent_device, (device1, device2)


def test_pipeline_parallel():
    """tt-torch's tests/torch/test_basic_multichip.py::test_pipeline_parallel."""
    artifacts = CompileArtifacts()
    host_model = Basic()
    model, parent_device, (device1, device2) = _compile_on_two_sub_meshes(host_model, {"l1": 0, "l2": 1}, artifacts)
    x = torch.rand(32, 32)
    y = torch.rand(32, 64)
    calculated = model(x, y)
    golden = host_model(x, y)
    pccs, _, _, _, _ = verify_against_golden((golden,), (calculated,), True, True, required_atol=0.1)
    assert pccs[0] >= 0.99
    # two stages, one program on each chip: l1 on device 0, l2 and the add (which follows
    # its inputs, l2's output computed last) on device 1; l1's result crosses the link
    plan = artifacts.last.report["pipeline"]
    assert [s["device"] for s in plan["stages"]] == [0, 1]
    assert [s["chip"] for s in plan["stages"]] == [0, 1]
    assert len(artifacts.graphs) == 2 and all(g.flatbuffer for g in artifacts.graphs)
    (copy,) = plan["copies"]
    assert copy["from_device"] == 0 and copy["to_device"] == 1 and copy["bytes"] == 32 * 32 * 4
    assert copy["hops"] == 1 and copy["link_us"] > 1.0  # n300: one hop of 2 x 100 Gb/s, 1 us latency
    assert plan["estimate_us"] > plan["link_us"]
    # each chip ran its own program and accounted its own memory
    assert device1.runtime_device().peak_dram_bytes > 0 and device2.runtime_device().peak_dram_bytes > 0
    assert device1.runtime_device() is not device2.runtime_device()
    DeviceManager.release_parent_device(parent_device, True)


def test_pipeline_parallel_topological_sort():
    """tt-torch's test_pipeline_parallel_topological_sort: l1 -> 0, l2 -> 1, l3 -> 1, l4 -> 0.
    The placement is kept; the data flow gives three stages, 0, 1, 0."""
    artifacts = CompileArtifacts()
    host_model = FourLayers()
    device_map = {"l1": 0, "l2": 1, "l3": 1, "l4": 0}
    model, parent_device, _ = _compile_on_two_sub_meshes(host_model, device_map, artifacts)
    x = torch.rand(32, 32)
    y = torch.rand(32, 64)
    calculated = model(x, y)
    golden = host_model(x, y)
    pccs, _, _, _, _ = verify_against_golden((golden,), (calculated,), True, True, required_atol=0.1)
    assert pccs[0] >= 0.99
    plan = artifacts.last.report["pipeline"]
    assert [s["device"] for s in plan["stages"]] == [0, 1, 0]
    assert [(c["from_stage"], c["to_stage"]) for c in plan["copies"]] == [(0, 1), (1, 2)]
    assert device_map == {"l1": 0, "l2": 1, "l3": 1, "l4": 0}  # the user's map is not rewritten
    # a second call runs the compiled stages again, on new data
    x2 = torch.rand(32, 32)
    torch.testing.assert_close(model(x2, y), host_model(x2, y), rtol=0.02, atol=0.05)
    assert len(artifacts.graphs) == 3
    DeviceManager.release_parent_device(parent_device, True)


def test_longest_module_path_owns_a_node_and_unmapped_nodes_follow_their_inputs():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Linear(16, 16)
            self.outer = nn.Linear(16, 16)

        def forward(self, x):
            return self.outer(torch.relu(self.inner(x)))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([Block(), Block()])

        def forward(self, x):
            for b in self.blocks:
                x = b(x)
            return torch.tanh(x) * 2  # unmapped: follows blocks.1.outer

    artifacts = CompileArtifacts()
    host = Net()
    device_map = {"blocks.0": 0, "blocks.1": 0, "blocks.1.inner": 1}
    model, parent, _ = _compile_on_two_sub_meshes(host, device_map, artifacts)
    x = torch.rand(8, 16)
    torch.testing.assert_close(model(x), host(x), rtol=0.02, atol=0.02)
    plan = artifacts.last.report["pipeline"]
    assert [s["device"] for s in plan["stages"]] == [0, 1, 0]
    assert any("tanh" in op for op in plan["stages"][-1]["ops"])
    DeviceManager.release_parent_device(parent, True)


def test_module_paths_from_dynamo_sources():
    assert module_path("L['self'].l3.linear") == "l3.linear"
    assert module_path("L['self']._modules['model']._modules['layers']._modules['30'].mlp") == "model.layers.30.mlp"
    assert module_path("L['self'].layers[0].attn") == "layers.0.attn"
    assert module_path("L['self']") == ""


def test_a_device_index_past_the_devices_is_an_error():
    host = Basic()
    model, parent, _ = _compile_on_two_sub_meshes(host, {"l1": 0, "l2": 2})
    # dynamo wraps the backend's ConfigError in its BackendCompilerFailed
    with pytest.raises(Exception, match="maps 'l2' to device 2, but BackendOptions.devices has 2"):
        model(torch.rand(4, 32), torch.rand(4, 64))
    DeviceManager.release_parent_device(parent, True)


def test_device_map_values_are_checked():
    cc = CompilerConfig()
    with pytest.raises(ConfigError, match="'l1' maps to 'cpu'"):
        cc.device_map = {"l1": "cpu"}
    with pytest.raises(ConfigError, match="must be a dict"):
        cc.device_map = ["l1"]
