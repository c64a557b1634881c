"""Tensor parallel (``CompilerConfig.sharding_plan``): a plan in PyTorch's vocabulary, one SPMD
program per mesh with collectives, run on every emulated chip. Checked against the same model
compiled for one chip and against eager PyTorch; the StableHLO, TTNN and flatbuffer forms of
the collectives; the per-chip DRAM accounting; the round trip through export, the CLI and the
C++ runner."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.distributed.tensor import Replicate, Shard
from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, SequenceParallel
from torch_mlir import ir

import tt_torch
from tests.helpers import compile_tt
from tests.multichip.models import BLOCK_PLAN, MLP, MLP_PLAN, Block
from tt_torch import runtime
from tt_torch.accuracy import compute_pcc
from tt_torch.compiler import context, pipelines
from tt_torch.compiler.options import CompileOptions
from tt_torch.compiler.target import system_desc
from tt_torch.dynamo.backend import BackendOptions
from tt_torch.errors import ConfigError, TTTorchError
from tt_torch.tools import cli
from tt_torch.tools.device_manager import DeviceManager
from tt_torch.tools.utils import CompilerConfig

BUILD = Path(__file__).resolve().parents[2] / "build"

CASES = {"mlp": (MLP, (2, 8, 64), MLP_PLAN), "block": (Block, (2, 16, 64), BLOCK_PLAN)}


def _run(model, x, **config):
    compiled, artifacts = compile_tt(model, **config)
    with torch.no_grad():
        return compiled(x), artifacts.graphs[-1]


@pytest.mark.parametrize("target,chips", [("n300", 2), ("t3k", 8)])
@pytest.mark.parametrize("case", list(CASES))
def test_split_matches_one_chip(case, target, chips):
    """Megatron's split: one all_reduce per row-parallel Linear, nothing else crosses chips."""
    torch.manual_seed(0)
    cls, shape, plan = CASES[case]
    model, x = cls().eval(), torch.randn(shape)
    one, _ = _run(model, x)  # n150, one chip
    torch._dynamo.reset()
    split, graph = _run(model, x, target=target, sharding_plan=plan)
    with torch.no_grad():
        eager = model(x)
    assert compute_pcc(one, split) >= 0.99 and compute_pcc(eager, split) >= 0.99
    assert (split - one).abs().max() < 1e-2
    tp = graph.report["tensor_parallel"]
    assert tp["chips"] == chips
    reduces = 2 if case == "block" else 1
    assert tp["collectives"] == {
        "all_reduce": reduces,
        "all_gather": 0,
        "mesh_shard": 3 * reduces + 4 * (case == "block"),
    }
    assert graph.ttnn.count("ttnn.all_reduce") == reduces and "ttnn.mesh_shard" in graph.ttnn
    mesh = graph.report["device"]["mesh"]
    assert mesh["chips"] == chips and len(mesh["collectives"]) == reduces
    assert mesh["ring_hops"] == [1] * chips  # the t3k's snake closes into a ring of neighbours
    assert mesh["critical_path_us"] == pytest.approx(mesh["per_chip_compute_us"] + mesh["collective_us"])


def test_placement_map_and_device_manager_mesh():
    """A {parameter: placement} map with torch.distributed.tensor's classes, on the mesh of
    BackendOptions.devices (a (1, 2) parent from DeviceManager); the StableHLO is annotated
    as tt-mlir consumes a partitioned module."""
    torch.manual_seed(0)
    model, x = MLP().eval(), torch.randn(4, 64)
    plan = {"fc1.weight": Shard(0), "fc1.bias": Shard(0), "fc2.weight": Shard(1), "fc2.bias": Replicate()}
    parent = DeviceManager.create_parent_mesh_device([1, 2])
    try:
        artifacts = tt_torch.dynamo.CompileArtifacts()
        config = CompilerConfig(sharding_plan=plan)
        options = BackendOptions(compiler_config=config, devices=[parent], artifacts=artifacts)
        with torch.no_grad():
            out = torch.compile(model, backend="tt", options=options)(x)
            assert compute_pcc(model(x), out) >= 0.99
    finally:
        DeviceManager.release_parent_device(parent)
    graph = artifacts.graphs[-1]
    assert graph.report["tensor_parallel"]["chips"] == 2
    shlo = graph.stablehlo
    assert "mhlo.num_partitions = 2" in shlo and 'mhlo.sharding = "{devices=[1,2]<=[2]}"' in shlo
    assert '"stablehlo.all_reduce"' in shlo and "@SPMDFullToShardShape" in shlo and "@SPMDShardToFullShape" in shlo
    assert "ttir.all_reduce" in graph.ttir and "ttir.mesh_shard" in graph.ttir


def test_an_op_without_a_rule_gets_its_input_gathered():
    """A sharded value reaching an op with no rule (cumsum along the sharded dim) is all_gathered
    first: slower, never wrong."""

    class Cum(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(32, 64)

        def forward(self, x):
            return torch.cumsum(self.fc(x), dim=-1)

    torch.manual_seed(0)
    model, x = Cum().eval(), torch.randn(4, 32)
    out, graph = _run(model, x, target="n300", sharding_plan={"fc": ColwiseParallel()})
    with torch.no_grad():
        assert compute_pcc(model(x), out) >= 0.99
    tp = graph.report["tensor_parallel"]
    assert tp["collectives"]["all_gather"] == 1 and "cumsum" in tp["reasons"][0]


def test_a_partial_sum_read_twice_is_reduced_once():
    class TwoReaders(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(32, 64), nn.Linear(64, 32, bias=False)

        def forward(self, x):
            y = self.b(torch.relu(self.a(x)))  # a partial sum on every chip, no bias
            return torch.tanh(y) + torch.sigmoid(y)

    torch.manual_seed(0)
    model, x = TwoReaders().eval(), torch.randn(4, 32)
    out, graph = _run(model, x, target="t3k", sharding_plan={"a": ColwiseParallel(), "b": RowwiseParallel()})
    with torch.no_grad():
        assert compute_pcc(model(x), out) >= 0.99
    assert graph.report["tensor_parallel"]["collectives"]["all_reduce"] == 1


def test_one_chip_mesh_compiles_for_one_chip():
    torch.manual_seed(0)
    model, x = MLP().eval(), torch.randn(2, 64)
    out, graph = _run(model, x, sharding_plan=MLP_PLAN)  # n150
    with torch.no_grad():
        assert compute_pcc(model(x), out) >= 0.99
    assert "tensor_parallel" not in graph.report and "all_reduce" not in graph.ttnn


def test_a_split_that_does_not_compile_runs_on_one_chip_with_the_cpu_fallback():
    """airy_ai has no lowering: with enable_cpu_fallback (the default) the graph runs as without a
    plan, that op on the CPU, and the report says why; without it the compile error is raised."""

    class Airy(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(32, 64)

        def forward(self, x):
            return torch.special.airy_ai(self.fc(x))

    torch.manual_seed(0)
    model, x = Airy().eval(), torch.randn(4, 32)
    out, graph = _run(model, x, target="n300", sharding_plan={"fc": ColwiseParallel()})
    with torch.no_grad():
        assert compute_pcc(model(x), out) >= 0.99
    assert graph.report["tensor_parallel"]["ran_on"] == "one chip" and graph.report["cpu_fallback"]
    torch._dynamo.reset()
    compiled, _ = compile_tt(model, target="n300", sharding_plan={"fc": ColwiseParallel()}, enable_cpu_fallback=False)
    with pytest.raises(TTTorchError, match="airy"):
        compiled(x)


def test_plan_errors_name_the_problem():
    with pytest.raises(ConfigError, match="must be a dict"):
        CompilerConfig(sharding_plan=[("fc1", ColwiseParallel())])
    with pytest.raises(ConfigError, match="only ColwiseParallel and RowwiseParallel"):
        CompilerConfig(sharding_plan={"fc1": SequenceParallel()})
    with pytest.raises(ConfigError, match="not a placement or a parallel style"):
        CompilerConfig(sharding_plan={"fc1.weight": 0})
    model = MLP().eval()
    compiled, _ = compile_tt(model, target="n300", sharding_plan={"fc9": ColwiseParallel()})
    with pytest.raises(ConfigError, match=r"'fc9', which is not a module with a weight.*fc1.weight"):
        compiled(torch.randn(2, 64))


def _small_dram_target(tmp_path, name: str, base: str, dram_bytes: int) -> str:
    desc = system_desc.get(base)
    chip = dataclasses.replace(desc.chip, num_dram_channels=1, dram_channel_size=dram_bytes)
    return str(system_desc.save(dataclasses.replace(desc, name=name, chip=chip), tmp_path / f"{name}.json"))


def test_too_big_for_one_chip_runs_split(tmp_path):
    """Each chip accounts its own DRAM: 2 MiB of weights do not fit a chip of 1.5 MiB (the usual
    out-of-memory error, on one chip), and fit eight of them, a quarter MiB of shards each."""
    torch.manual_seed(0)
    model, x = MLP(256, 1024).eval(), torch.randn(2, 256)
    one_chip = _small_dram_target(tmp_path, "small_n150", "n150", 3 << 19)
    eight = _small_dram_target(tmp_path, "small_t3k", "t3k", 3 << 19)
    compiled, _ = compile_tt(model, target=one_chip)
    with pytest.raises(TTTorchError, match="DRAM"):
        compiled(x)
    torch._dynamo.reset()
    out, graph = _run(model, x, target=eight, sharding_plan=MLP_PLAN)
    with torch.no_grad():
        assert compute_pcc(model(x), out) >= 0.99
    assert graph.report["device"]["memory"]["peak_dram_bytes"] < 3 << 19


def test_round_trip_export_cli_and_cpp_runner(tmp_path, capsys):
    torch.manual_seed(0)
    model, x = MLP().eval(), torch.randn(2, 8, 64)
    path = tmp_path / "mlp_tp.ttnn"
    tt_torch.export(model, (x,), path, CompilerConfig(target="t3k", sharding_plan=MLP_PLAN))
    loaded = runtime.load(path)
    with torch.no_grad():
        assert compute_pcc(model(x), loaded(x)[0]) >= 0.99
    assert loaded.binary.program_mesh_shape(0) == [1, 8]
    assert cli.main(["run", str(path), "--golden"]) == 0
    assert "PCC 1.0" in capsys.readouterr().out
    # a device with fewer chips than the program's mesh is refused, naming both
    small = runtime.open_device("n300")
    with pytest.raises(TTTorchError, match=r"mesh of \[1, 8\] \(8 chips\) but device 'n300' has 2 chip"):
        runtime.submit(small, loaded.binary, 0, [])
    tt_run = BUILD / "tt_run"
    if not tt_run.exists():
        pytest.skip("no C++ runner in build/")
    done = subprocess.run([tt_run, path], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "on t3k: 1 output(s)" in done.stdout, done.stderr
    assert "peak DRAM per chip of the program's mesh [1, 8]:" in done.stdout
    done = subprocess.run([tt_run, path, "--device", "n300"], capture_output=True, text=True, check=False)
    assert done.returncode == 1 and "has 2 chip(s)" in done.stderr


def test_bf16_reduction_is_reproducible():
    """In bf16 the ring order matters; it is fixed (chip 0 first), so two runs agree bit for bit
    and stay within bf16's tolerance of the one-chip program."""
    torch.manual_seed(0)
    model, x = MLP().eval().to(torch.bfloat16), torch.randn(2, 8, 64, dtype=torch.bfloat16)
    one, _ = _run(model, x)
    torch._dynamo.reset()
    compiled, artifacts = compile_tt(model, target="t3k", sharding_plan=MLP_PLAN)
    with torch.no_grad():
        a, b = compiled(x), compiled(x)
    assert torch.equal(a, b) and compute_pcc(one.float(), a.float()) >= 0.99
    assert artifacts.graphs[-1].report["tensor_parallel"]["collectives"]["all_reduce"] == 1


_ADD = "({\n  ^bb0(%a: tensor<bf16>, %b: tensor<bf16>):\n    %s = stablehlo.add %a, %b : tensor<bf16>\n    stablehlo.return %s : tensor<bf16>\n  })"
_GROUP = "replica_groups = dense<[[0, 1, 2, 3, 4, 5, 6, 7]]> : tensor<1x8xi64>, channel_handle = #stablehlo.channel_handle<handle = 1, type = 1>"
COLLECTIVES = f"""
module attributes {{mhlo.num_partitions = 8 : i32}} {{
  func.func @main(%x: tensor<8x64xbf16>) -> (tensor<1x64xbf16>, tensor<1x64xbf16>) attributes {{tt.mesh_shape = array<i64: 1, 8>}} {{
    %0 = stablehlo.custom_call @SPMDFullToShardShape(%x) {{mhlo.sharding = "{{manual}}"}} : (tensor<8x64xbf16>) -> tensor<1x64xbf16>
    %1 = "stablehlo.all_reduce"(%0) {_ADD} {{{_GROUP}}} : (tensor<1x64xbf16>) -> tensor<1x64xbf16>
    %2 = "stablehlo.reduce_scatter"(%0) {_ADD} {{scatter_dimension = 1 : i64, {_GROUP}}} : (tensor<1x64xbf16>) -> tensor<1x8xbf16>
    %3 = "stablehlo.all_gather"(%2) {{all_gather_dim = 1 : i64, {_GROUP}}} : (tensor<1x8xbf16>) -> tensor<1x64xbf16>
    %4 = stablehlo.custom_call @SPMDShardToFullShape(%1) {{mhlo.sharding = "{{replicated}}"}} : (tensor<1x64xbf16>) -> tensor<1x64xbf16>
    %5 = stablehlo.custom_call @SPMDShardToFullShape(%3) {{mhlo.sharding = "{{replicated}}"}} : (tensor<1x64xbf16>) -> tensor<1x64xbf16>
    return %4, %5 : tensor<1x64xbf16>, tensor<1x64xbf16>
  }}
}}
"""


def test_collectives_add_in_ring_order_in_the_tensor_format():
    """all_reduce, reduce_scatter and all_gather from StableHLO on 8 chips: chip k holds row k;
    the sum is (((x0 + x1) + x2) + ...) rounded to bf16 after every addition, on every chip."""
    ctx = context.new_context()
    module = ir.Module.parse(COLLECTIVES, ctx)
    result = pipelines.compile_stablehlo(module, CompileOptions(target="t3k", cache_dir="off"))
    for op in ("ttnn.mesh_shard", "ttnn.all_reduce", "ttnn.reduce_scatter", "ttnn.all_gather"):
        assert op in result.ttnn
    binary = runtime.load_binary(result.flatbuffer)
    torch.manual_seed(0)
    x = (torch.randn(8, 64) * torch.logspace(0, 3, 8)[:, None]).to(torch.bfloat16)
    reduced, scattered = runtime.submit(runtime.open_device("t3k"), binary, 0, [x])
    ring = x[0]
    for k in range(1, 8):
        ring = (ring.float() + x[k].float()).to(torch.bfloat16)
    assert torch.equal(reduced[0], ring) and torch.equal(scattered[0], ring)
    backwards = x[7]
    for k in range(6, -1, -1):
        backwards = (backwards.float() + x[k].float()).to(torch.bfloat16)
    assert not torch.equal(ring, backwards)  # the order is visible in bf16: it is fixed, not incidental
