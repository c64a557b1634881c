"""CPU fallback: the ops the device path cannot lower run as ATen on the CPU, the rest on the device."""

from __future__ import annotations

import logging
import os

import pytest
import torch

from tests.helpers import MLP, assert_matches, compile_tt
from tt_torch.dynamo import executor
from tt_torch.errors import ConfigError, FrontendError
from tt_torch.exporter import ExportError
from tt_torch.op_by_op import Refusal
from tt_torch.tools.utils import CompilerConfig

LOGGER = "tt_torch.dynamo.executor"
# the op without a device path the tests use: torch-mlir cannot lower it
UNLOWERED = "aten.special_airy_ai.default"
UNLOWERED_STAGE = "CONVERTED_TO_TORCH_IR"
UNLOWERED_REASON = "Lowering TorchFX IR -> Torch Backend IR failed"


def _line_of(text: str) -> str:
    """'test_cpu_fallback.py:N' of the one line of this file holding ``text``."""
    with open(__file__) as f:
        lines = [k + 1 for k, line in enumerate(f) if text in line and "_line_of" not in line]
    assert len(lines) == 1, (text, lines)
    return f"{os.path.basename(__file__)}:{lines[0]}"


class InvBetweenLinears(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(8, 8)
        self.fc2 = torch.nn.Linear(8, 8)
        with torch.no_grad():  # fc1's outputs are well-conditioned matrices
            self.fc1.weight.copy_(torch.eye(8) + 0.05 * torch.randn(8, 8))
            self.fc1.bias.zero_()

    def forward(self, x):
        y = self.fc1(x)
        z = torch.linalg.inv(y)  # no lowering in torch-mlir
        return self.fc2(z)


class AiryInTheMiddle(torch.nn.Module):
    def forward(self, x):
        y = x * 2
        s = torch.special.airy_ai(y)  # no lowering in torch-mlir
        return s + 1


class OnlyAiry(torch.nn.Module):
    def forward(self, x):
        return torch.special.airy_ai(x)


def _fallback_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]


@pytest.fixture(scope="module")
def airy_run():
    """AiryInTheMiddle compiled and run once with the fallback on (the default)."""
    torch.manual_seed(0)
    model, x = AiryInTheMiddle(), torch.randn(4, 8)
    compiled, artifacts = compile_tt(model)
    with torch.no_grad():
        return model(x), compiled(x), artifacts


def test_inverse_between_linears_runs_with_the_inverse_on_the_cpu(caplog):
    torch.manual_seed(0)
    model = InvBetweenLinears().eval()
    x = torch.eye(8) + 0.05 * torch.randn(4, 8, 8)
    compiled, artifacts = compile_tt(model)
    with caplog.at_level(logging.WARNING, logger=LOGGER), torch.no_grad():
        out = compiled(x)
        golden = model(x)
    assert_matches(golden, out, pcc=0.99, atol=5e-2)

    report = artifacts.last.report["cpu_fallback"]
    inverse = [e for e in report["ops"] if "linalg_inv" in e["op"]]
    assert inverse, report["ops"]
    assert inverse[0]["source"].endswith(_line_of("torch.linalg.inv(y)"))
    assert inverse[0]["stage"] != "CONVERTED_TO_TTNN" and inverse[0]["reason"]
    assert report["device_partitions"] >= 1  # both linears stay on the device
    assert report["host_ops"] == len(report["ops"])
    assert all("linear" not in e["op"] and "mm" not in e["op"] for e in report["ops"])
    assert artifacts.last.flatbuffer is None

    warnings = _fallback_warnings(caplog)
    assert len(warnings) == 1, warnings
    assert "linalg_inv" in warnings[0] and _line_of("torch.linalg.inv(y)") in warnings[0]
    assert "artifacts.last.report['cpu_fallback']" in warnings[0]


def test_airy_in_the_middle_runs_on_the_cpu_between_device_partitions(airy_run):
    golden, out, artifacts = airy_run
    assert_matches(golden, out)
    report = artifacts.last.report["cpu_fallback"]
    assert [e["op"] for e in report["ops"]] == [UNLOWERED]
    (airy,) = report["ops"]
    assert airy["stage"] == UNLOWERED_STAGE
    assert UNLOWERED_REASON in airy["reason"]
    assert airy["source"].endswith(_line_of("s = torch.special.airy_ai(y"))
    assert report["device_partitions"] == 2 and report["host_ops"] == 1  # x * 2 and s + 1
    # each partition's input comes from the host and its result goes back: 4 x 8 f32 each way
    for part in report["partitions"]:
        assert part["to_device_bytes"] == part["from_device_bytes"] == 4 * 8 * 4
        assert 0 < part["transfer_us"] < part["estimate_us"]
    transfers = report["transfers"]
    assert transfers["to_device_bytes"] == transfers["from_device_bytes"] == 2 * 4 * 8 * 4
    assert transfers["transfer_us"] == pytest.approx(sum(p["transfer_us"] for p in report["partitions"]))


def test_export_of_a_graph_with_cpu_ops_is_refused_naming_the_op(airy_run, tmp_path):
    _, _, artifacts = airy_run
    with pytest.raises(ExportError) as info:
        artifacts.export(tmp_path / "airy.ttnn")
    message = str(info.value)
    assert UNLOWERED in message and _line_of("s = torch.special.airy_ai(y") in message
    assert "enable_cpu_fallback=False" in message
    assert not (tmp_path / "airy.ttnn").exists()


def test_graph_of_unsupported_ops_only_runs_on_the_host():
    torch.manual_seed(0)
    model, x = OnlyAiry(), torch.randn(4, 8)
    compiled, artifacts = compile_tt(model)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))
    report = artifacts.last.report["cpu_fallback"]
    assert report["device_partitions"] == 0
    assert [e["op"] for e in report["ops"]] == [UNLOWERED]


@pytest.mark.parametrize(
    "model, x, error, match",
    [
        (AiryInTheMiddle(), torch.randn(4, 8), FrontendError, "could not lower the graph to StableHLO"),
        (InvBetweenLinears().eval(), torch.randn(4, 8, 8), FrontendError, "could not lower the graph to StableHLO"),
    ],
    ids=["airy_ai", "inverse"],
)
def test_fallback_off_raises_the_compile_error(model, x, error, match, caplog):
    compiled, artifacts = compile_tt(model, enable_cpu_fallback=False)
    with caplog.at_level(logging.WARNING, logger=LOGGER), pytest.raises(error, match=match):
        with torch.no_grad():
            compiled(x)
    assert _fallback_warnings(caplog) == []


def test_supported_model_is_not_partitioned(caplog):
    torch.manual_seed(0)
    model, x = MLP().eval(), torch.randn(4, 32)
    reports = []
    for fallback in (True, False):
        compiled, artifacts = compile_tt(model, enable_cpu_fallback=fallback)
        with caplog.at_level(logging.WARNING, logger=LOGGER), torch.no_grad():
            assert_matches(model(x), compiled(x))
        reports.append(artifacts.last)
    on, off = reports
    assert "cpu_fallback" not in on.report and "cpu_fallback_probe" not in on.stage_seconds
    assert on.report["op_counts"] == off.report["op_counts"]
    assert on.flatbuffer is not None
    assert _fallback_warnings(caplog) == []


def test_every_op_supported_alone_runs_the_graph_on_the_host_with_the_whole_graphs_error(monkeypatch, caplog):
    """When each op compiles alone, the failure is in their combination: the graph runs on the host
    and the report carries the whole graph's error."""
    monkeypatch.setattr(executor.obo, "probe_support", lambda gm, inputs, config, name: {"special_airy_ai": None})
    model, x = AiryInTheMiddle(), torch.randn(4, 8)
    compiled, artifacts = compile_tt(model)
    with caplog.at_level(logging.WARNING, logger=LOGGER), torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))
    report = artifacts.last.report["cpu_fallback"]
    assert report["device_partitions"] == 0
    assert {e["stage"] for e in report["ops"]} == {"graph"}
    assert UNLOWERED in [e["op"] for e in report["ops"]]
    assert "could not lower the graph to StableHLO" in report["error"]
    assert "each op compiles alone" in report["ops"][0]["reason"]
    assert len(_fallback_warnings(caplog)) == 1


class SplitByTensor(torch.nn.Module):
    def forward(self, x, sections):
        parts = torch.tensor_split(x * 2, sections)  # how many parts: read from a tensor
        return parts[0].sum() + parts[-1].sum()


def test_graph_the_frontend_cannot_trace_runs_on_the_host_as_dynamo_gave_it(caplog):
    model, x = SplitByTensor(), (torch.randn(5, 3), torch.tensor(3))
    compiled, artifacts = compile_tt(model)
    with caplog.at_level(logging.WARNING, logger=LOGGER), torch.no_grad():
        torch.testing.assert_close(compiled(*x), model(*x))
    report = artifacts.last.report["cpu_fallback"]
    assert report["device_partitions"] == 0 and report["ops"]
    assert {e["stage"] for e in report["ops"]} == {"trace"}
    assert "torch.tensor_split" in [e["op"] for e in report["ops"]]
    assert any(e["source"].endswith(_line_of("parts = torch.tensor_split(")) for e in report["ops"])
    assert "could not be traced" in report["ops"][0]["reason"]
    assert len(_fallback_warnings(caplog)) == 1
    strict, _ = compile_tt(model, enable_cpu_fallback=False)
    with pytest.raises(Exception, match="data-dependent"), torch.no_grad():
        strict(*x)


def test_partition_that_does_not_compile_runs_on_the_host(monkeypatch):
    """A device partition whose own compile fails (here: one holding the Airy function) falls back as a whole."""

    def probe(gm, inputs, config, name):
        return {
            n.name: Refusal(str(n.target), "CONVERTED_TO_TTIR", "refused for the test", "") if n.name == "mul" else None
            for n in gm.graph.nodes
            if n.op == "call_function"
        }

    monkeypatch.setattr(executor.obo, "probe_support", probe)
    torch.manual_seed(0)
    model, x = AiryInTheMiddle(), torch.randn(4, 8)
    compiled, artifacts = compile_tt(model)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))
    report = artifacts.last.report["cpu_fallback"]
    stages = {e["op"]: e["stage"] for e in report["ops"]}
    assert stages["aten.mul.Tensor"] == "CONVERTED_TO_TTIR"
    assert stages[UNLOWERED] == "partition"
    reason = next(e["reason"] for e in report["ops"] if e["op"] == UNLOWERED)
    assert "did not compile" in reason and UNLOWERED in reason
    assert report["device_partitions"] == 0
    assert [p["device"] for p in report["partitions"]] == [False]


def test_enable_cpu_fallback_is_a_flag():
    assert CompilerConfig().enable_cpu_fallback is True
    with pytest.raises(ConfigError, match="enable_cpu_fallback must be True or False"):
        CompilerConfig(enable_cpu_fallback="yes")
