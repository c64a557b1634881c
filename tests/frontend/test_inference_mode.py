"""Every compiled path runs under torch.inference_mode() with the outputs it gives under
no_grad, and under grad-enabled calls: torch.compile (device, intermediate verification,
CPU depths, op-by-op), tt_torch.export + tt_torch.runtime.load. Inference tensors have no
version counter; the runtime's weight cache and the consteval caches key them by
identity and storage, and still see in-place updates of normal tensors."""

from __future__ import annotations

import contextlib

import pytest
import torch
import torch.nn.functional as F

import tt_torch
from tt_torch.dynamo import BackendOptions, CompileArtifacts
from tt_torch.tools.utils import CompileDepth, CompilerConfig


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(32, 64)
        self.fc2 = torch.nn.Linear(64, 10)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class SmallCNN(torch.nn.Module):
    """conv2d, batch-norm (folded by consteval), relu, pooling, linear."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.fc = torch.nn.Linear(8, 10)
        with torch.no_grad():
            self.bn.running_mean.uniform_(-0.5, 0.5)
            self.bn.running_var.uniform_(0.5, 1.5)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2)
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def compile_tt(model, depth: CompileDepth = CompileDepth.EXECUTE, **config):
    artifacts = CompileArtifacts()
    options = BackendOptions(compiler_config=CompilerConfig(compile_depth=depth, **config), artifacts=artifacts)
    return torch.compile(model, backend="tt", options=options, dynamic=False), artifacts


MODES = {"no_grad": torch.no_grad, "inference_mode": torch.inference_mode, "grad": contextlib.nullcontext}


def run_in_every_mode(fn, x: torch.Tensor) -> dict[str, torch.Tensor]:
    outs = {}
    for name, mode in MODES.items():
        with mode():
            outs[name] = fn(x)
        assert outs[name].is_inference() == (name == "inference_mode")
    return outs


def assert_same_in_every_mode(outs: dict[str, torch.Tensor], golden: torch.Tensor, atol: float) -> None:
    for name, out in outs.items():
        assert torch.equal(out, outs["no_grad"]), f"{name} differs from no_grad"
    torch.testing.assert_close(outs["no_grad"], golden, rtol=0, atol=atol)


@pytest.mark.parametrize("first", ["inference_mode", "no_grad"])
def test_compiled_model_in_every_mode(first):
    """Emulated numerics: the runtime caches each weight's TF32-rounded and packed forms."""
    model = SmallCNN().eval()
    x = torch.randn(2, 3, 16, 16)
    compiled, _ = compile_tt(model)
    with MODES[first]():  # the caches are first filled in this mode
        compiled(x)
    outs = run_in_every_mode(compiled, x)
    with torch.no_grad():
        golden = model(x)
    assert_same_in_every_mode(outs, golden, atol=2e-2)


def test_model_built_in_inference_mode():
    """Weights that are inference tensors: no version counter anywhere in the caches."""
    with torch.inference_mode():
        model = SmallCNN().eval()
        x = torch.randn(2, 3, 16, 16)
        compiled, _ = compile_tt(model)
        out = compiled(x)
        again = compiled(x)
        golden = model(x)
    assert model.fc.weight.is_inference()
    assert torch.equal(out, again)
    torch.testing.assert_close(out, golden, rtol=0, atol=2e-2)
    with torch.no_grad():  # reading inference tensors outside inference_mode is allowed
        torch.testing.assert_close(compiled(x), out, rtol=0, atol=0)


def test_in_place_weight_update_is_seen_in_every_mode():
    model = MLP().eval()
    x = torch.randn(4, 32)
    compiled, _ = compile_tt(model)
    for name, mode in MODES.items():
        with mode():
            compiled(x)  # caches filled with the current weights
            with torch.no_grad():
                model.fc1.weight.mul_(-1.5)  # a normal tensor: its version counter moves
                model.fc1.bias.add_(0.25)
                golden = model(x)
            out = compiled(x)
        torch.testing.assert_close(out, golden, rtol=0, atol=2e-2, msg=lambda m, name=name: f"{name}: stale? {m}")


@pytest.mark.usefixtures("fast_numerics")
@pytest.mark.parametrize(
    "config",
    [
        {"enable_intermediate_verification": True},
        {"depth": CompileDepth.TORCH_FX},
        {"depth": CompileDepth.TTNN_IR},
        {"enable_consteval": False},
    ],
    ids=["intermediate_verification", "torch_fx", "ttnn_ir", "no_consteval"],
)
def test_other_compiled_paths_in_every_mode(config):
    model = SmallCNN().eval()
    x = torch.randn(1, 3, 16, 16)
    compiled, _ = compile_tt(model, **config)
    outs = run_in_every_mode(compiled, x)
    with torch.no_grad():
        golden = model(x)
    assert_same_in_every_mode(outs, golden, atol=1e-4)


@pytest.mark.usefixtures("fast_numerics")
def test_op_by_op_in_inference_mode(tmp_path):
    """Each op runs in the worker on the op's real inputs, here inference tensors."""
    model = MLP().eval()
    x = torch.randn(4, 32)
    compiled, artifacts = compile_tt(
        model, CompileDepth.EXECUTE_OP_BY_OP, op_by_op_backend="TORCH", results_path=str(tmp_path)
    )
    with torch.inference_mode():
        out = compiled(x)
    assert artifacts.last.report["op_by_op"]["unique_ops"] > 3
    with torch.no_grad():
        golden = model(x)
    torch.testing.assert_close(out, golden, rtol=0, atol=1e-4)


@pytest.mark.parametrize("export_mode", ["no_grad", "inference_mode"])
def test_export_and_load_in_every_mode(tmp_path, export_mode):
    model = SmallCNN().eval()
    x = torch.randn(2, 3, 16, 16)
    path = tmp_path / "model.ttnn"
    with MODES[export_mode]():
        tt_torch.export(model, (x,), str(path))
    loaded = tt_torch.runtime.load(str(path))
    outs = run_in_every_mode(lambda t: loaded(t)[0], x)
    with torch.no_grad():
        golden = model(x)
    assert_same_in_every_mode(outs, golden, atol=2e-2)
