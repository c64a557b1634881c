"""tt_torch.export: one self-contained .ttnn, loaded back with tt_torch.runtime.load."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch

import tt_torch
from tests.helpers import MLP, SmallCNN, compile_tt, outputs_of, small_bert
from tt_torch import _C, runtime
from tt_torch.errors import BinaryError, TTRuntimeError
from tt_torch.exporter import ExportError

# Outputs are compared with eager at fp32 tolerances, or across two paths bit for bit.
pytestmark = pytest.mark.usefixtures("fast_numerics")


def test_round_trip_in_a_fresh_process_is_bit_exact(tmp_path):
    """ResNet-style CNN and small BERT: the loaded file gives the compiled model's outputs exactly."""
    torch.manual_seed(0)
    cnn, x = SmallCNN().eval(), torch.randn(2, 3, 16, 16)
    bert, ids = small_bert(), torch.randint(0, 128, (1, 16))
    cases = []
    for name, model, inputs, limit in (("cnn", cnn, (x,), 1024), ("bert", bert, (ids,), 1 << 20)):
        for consteval_programs in (False, True):
            case = name + ("_ce" if consteval_programs else "")
            result = tt_torch.export(
                model, inputs, tmp_path / f"{case}.ttnn", embed_limit=limit, consteval_programs=consteval_programs
            )
            torch._dynamo.reset()
            torch.save({"inputs": inputs, "outputs": outputs_of(result.outputs)}, tmp_path / f"{case}.pt")
            cases.append(case)
    assert runtime.load_binary(tmp_path / "bert_ce.ttnn").program_is_private(1)
    bert_kinds = {d["arg_type"] for d in runtime.load_binary(tmp_path / "bert.ttnn").program_inputs(0)}
    assert bert_kinds == {"Input", "Parameter", "Constant"}
    assert (tmp_path / "cnn.ttnn.weights").exists()  # the CNN's conv weights went to the side file
    assert not (tmp_path / "bert.ttnn.weights").exists()
    script = textwrap.dedent(
        """
        import sys, torch
        from tt_torch import runtime
        for name in sys.argv[2:]:
            saved = torch.load(f"{sys.argv[1]}/{name}.pt")
            outputs = runtime.load(f"{sys.argv[1]}/{name}.ttnn")(*saved["inputs"])
            assert len(outputs) == len(saved["outputs"]), name
            for got, want in zip(outputs, saved["outputs"]):
                assert got.dtype == want.dtype and torch.equal(got, want), name
            print(name, "equal")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), *cases], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [w for case in cases for w in (case, "equal")]


def test_contents(exported_cnn):
    path, result, x = exported_cnn
    binary = runtime.load_binary(path)
    assert binary.num_programs == 1 and result.programs == [binary.program_name(0)]
    assert binary.version == runtime.schema_version()
    assert binary.system_desc_name == "n150"
    assert set(binary.mlir_sources) == {"ttir", "ttnn"}
    assert result.embedded_weights > 0 and result.side_file_weights > 0
    kinds = {d["arg_type"] for d in binary.program_inputs(0)}
    # every SmallCNN parameter reaches the program through consteval (batch-norm folded
    # into the convs, the linear weight transposed); BERT's below keeps raw parameters
    assert kinds == {"Input", "Constant"}
    assert sorted(binary.weight_names) == sorted(
        d["name"] for d in binary.program_inputs(0) if d["arg_type"] != "Input"
    )
    info = json.loads(binary.export_info)
    assert info["programs"][0]["output_dtypes"] == ["torch.float32"]
    assert info["weights_file"] == "cnn.ttnn.weights"
    goldens = runtime.load(path).goldens()
    assert torch.equal(goldens["input:0"], x)
    assert torch.allclose(goldens["output:0"], outputs_of(result.outputs)[0], atol=1e-4)
    op_keys = [k for k in goldens if k.startswith("op:")]
    assert any('"relu_1"(' in k for k in op_keys)
    locs = {op["loc"] for op in binary.program_ops(0)}
    assert all(k[3:] in locs for k in op_keys)  # keyed by the ops' own locations
    # every op made from a model line has its golden, but for FX nodes with several
    # results (max_pool2d_with_indices), which have no single tensor to record
    model_locs = {loc for loc in locs if '.py":' in loc}
    missing = model_locs - {k[3:] for k in op_keys}
    assert all("with_indices" in loc for loc in missing), missing


def test_options_leave_out_mlir_and_goldens(tmp_path):
    result = tt_torch.export(
        MLP().eval(), (torch.randn(4, 32),), tmp_path / "mlp.ttnn", include_mlir=False, golden=False
    )
    binary = runtime.load_binary(result.path)
    assert binary.mlir_sources == {} and binary.goldens() == []
    assert result.weights_path is None and result.side_file_weights == 0


def test_side_file_missing_or_modified(exported_cnn, tmp_path):
    path, _, x = exported_cnn
    copy = tmp_path / "copy.ttnn"
    copy.write_bytes(path.read_bytes())
    with pytest.raises(BinaryError, match=r"side file '.*cnn\.ttnn\.weights', which cannot be opened.*keep the file"):
        runtime.load(copy)(x)
    side = bytearray((path.parent / "cnn.ttnn.weights").read_bytes())
    side[100] ^= 0xFF
    (tmp_path / "cnn.ttnn.weights").write_bytes(bytes(side))
    with pytest.raises(BinaryError, match="checksum mismatch in the side file .*re-export the model"):
        runtime.load(copy)(x)
    (tmp_path / "cnn.ttnn.weights").write_bytes(bytes(side[:64]))
    with pytest.raises(BinaryError, match="too few for bytes .*truncated"):
        runtime.load(copy)(x)


def test_loaded_model_checks_its_inputs(exported_cnn):
    path, _, x = exported_cnn
    model = runtime.load(path)
    with pytest.raises(TTRuntimeError, match=r"takes 1 input\(s\) \(.*\[2, 3, 16, 16\] Float32\), got 2"):
        model(x, x)
    with pytest.raises(TTRuntimeError, match="expected \\[2, 3, 16, 16\\]"):
        model(torch.randn(1, 3, 16, 16))


class _Broken(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = torch.nn.Linear(8, 8), torch.nn.Linear(8, 4)

    def forward(self, x):
        y = torch.relu(self.a(x))
        torch._dynamo.graph_break()
        return self.b(y) * 2


def test_graph_breaks_give_one_program_per_graph_in_one_file(tmp_path):
    compiled, artifacts = compile_tt(_Broken().eval())
    x = torch.randn(3, 8)
    with torch.no_grad():
        expected = compiled(x)
    assert len(artifacts.graphs) == 2
    result = artifacts.export(tmp_path / "broken.ttnn")
    binary = runtime.load_binary(result.path)
    assert binary.num_programs == 2 and result.programs == [g.name for g in artifacts.graphs]
    assert binary.size == (tmp_path / "broken.ttnn").stat().st_size  # one binary, nothing appended
    model = runtime.load(result.path)
    with pytest.raises(TTRuntimeError, match=r"holds 2 programs .*model\.run\(index, inputs\)"):
        model(x)
    (h,) = model.run(0, [x])
    (out,) = model.run(1, [h])
    assert torch.equal(out, expected)
    assert set(binary.mlir_sources) == {f"{g.name}.{d}" for g in artifacts.graphs for d in ("ttir", "ttnn")}


def test_export_needs_a_run(tmp_path):
    from tt_torch.dynamo import CompileArtifacts

    with pytest.raises(ExportError, match="nothing to export.*call the compiled model once"):
        tt_torch.export_artifacts(CompileArtifacts(), tmp_path / "x.ttnn")


def test_consteval_programs_run_once_and_are_cached(tmp_path):
    x = torch.randn(2, 3, 16, 16)
    result = tt_torch.export(SmallCNN().eval(), (x,), tmp_path / "cnn.ttnn", consteval_programs=True)
    binary = runtime.load_binary(result.path)
    assert [binary.program_is_private(i) for i in range(binary.num_programs)] == [False, True]
    private_args = {d["arg_type"] for d in binary.program_inputs(1)}
    assert private_args == {"Parameter"}  # it reads the raw parameters...
    consteval_args = [d["name"] for d in binary.program_inputs(0) if d["name"].startswith("consteval_")]
    assert consteval_args and not set(consteval_args) & set(binary.weight_names)  # ...and they are not stored
    model = runtime.load(result.path)
    first, second = model(x), model(x)
    assert torch.equal(first[0], outputs_of(result.outputs)[0]) and torch.equal(first[0], second[0])
    assert (model.const_eval_cache.misses, model.const_eval_cache.hits) == (1, 1)
    # C++ callers reading weights only (Binary::completeInputs) are told what to do
    with pytest.raises(_C.RuntimeError, match="computed by a const-eval program of the file"):
        binary.complete_inputs(0, [x])
