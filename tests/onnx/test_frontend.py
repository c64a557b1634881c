"""compile_onnx: import, weights as program inputs, shapes, opsets, errors, verify_module,
op by op, export and the CLI, checked against ONNX Runtime."""

from __future__ import annotations

import json
import os

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from tests.onnx.models import linear_relu
from tt_torch import runtime
from tt_torch.errors import FrontendError
from tt_torch.onnx_compile import compile_onnx
from tt_torch.tools import cli, report
from tt_torch.tools.utils import CompileDepth, CompilerConfig, OpByOpBackend
from tt_torch.tools.verify import verify_module


@pytest.fixture(autouse=True)
def _no_compile_cache(monkeypatch):
    monkeypatch.setenv("TT_TORCH_CACHE_DIR", "off")


def _close(expected: torch.Tensor, actual: torch.Tensor) -> None:
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    torch.testing.assert_close(actual, expected, rtol=1e-2, atol=2e-2)


def test_outputs_in_order_and_by_name_match_onnx_runtime():
    model = compile_onnx(linear_relu(batch=3))
    x = np.random.default_rng(1).standard_normal((3, 8)).astype(np.float32)
    out = model(x)  # numpy in
    golden = model.run_reference([torch.from_numpy(x)])
    assert out.names == ("y",) and len(out) == 1
    _close(golden[0], out[0])
    assert out["y"] is out[0]
    assert torch.equal(model(x=torch.from_numpy(x))[0], out[0])  # by name, torch in
    with pytest.raises(KeyError, match="no output 'z'"):
        out["z"]
    with pytest.raises(Exception, match=r"input 'x' is \(4, 8\)"):
        model(np.zeros((4, 8), np.float32))
    model.close()


def test_weights_are_program_inputs_never_constants():
    model = compile_onnx(linear_relu(), CompilerConfig(compile_depth=CompileDepth.STABLEHLO))
    assert model.prepared.arg_names == ["x", "W", "B"]
    assert model.prepared.arg_kinds == ["input", "parameter", "parameter"]
    text = model.graph.stablehlo
    signature = next(line for line in text.splitlines() if "func.func @main" in line)
    assert "tensor<8x32xf32>" in signature and "tensor<32xf32>" in signature  # W and B are arguments of main
    assert "stablehlo.constant dense<" not in text.replace("dense<0.000000e+00>", "")  # and no weight is inlined


def test_a_dynamic_dim_is_refused_by_name_or_bound_by_input_shapes():
    with pytest.raises(FrontendError, match=r"input 'x' dim 0 is dynamic \('N'\).*input_shapes"):
        compile_onnx(linear_relu(batch="N"))
    model = compile_onnx(linear_relu(batch="N"), input_shapes={"x": (5, 8)})
    x = torch.rand(5, 8)
    _close(model.run_reference([x])[0], model(x)[0])
    with pytest.raises(FrontendError, match="dim 1 = 9, the model fixes it at 8"):
        compile_onnx(linear_relu(batch="N"), input_shapes={"x": (5, 9)})


def test_external_data_is_read_from_beside_the_model(tmp_path):
    proto = linear_relu()
    path = str(tmp_path / "model.onnx")
    onnx.save(proto, path, save_as_external_data=True, all_tensors_to_one_file=True, location="w.bin", size_threshold=0)
    assert os.path.exists(tmp_path / "w.bin")
    model = compile_onnx(path)
    x = torch.rand(3, 8)
    _close(compile_onnx(linear_relu())(x)[0], model(x)[0])
    bare = onnx.load(path, load_external_data=False)
    with pytest.raises(FrontendError, match="external data"):
        compile_onnx(bare)


def test_a_newer_opset_is_converted_down():
    i = helper.make_tensor_value_info("a", TensorProto.FLOAT, [4, 4])
    o = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 4])
    nodes = [helper.make_node("Add", ["a", "a"], ["s"]), helper.make_node("Relu", ["s"], ["y"])]
    proto = helper.make_model(helper.make_graph(nodes, "g", [i], [o]), opset_imports=[helper.make_opsetid("", 25)])
    model = compile_onnx(proto)
    assert model.graph.report["onnx_opset_converted"] == [25, 23]
    a = torch.randn(4, 4)
    assert torch.equal(model(a)[0], torch.relu(a + a))


def test_an_unconverted_node_is_named_with_its_op_type_and_opset():
    i = helper.make_tensor_value_info("x", TensorProto.FLOAT, [5])
    axis = helper.make_tensor_value_info("axis", TensorProto.INT32, [])
    o = helper.make_tensor_value_info("y", TensorProto.FLOAT, [5])
    node = helper.make_node("CumProd", ["x", "axis"], ["y"], name="running_product")
    proto = helper.make_model(
        helper.make_graph([node], "g", [i, axis], [o]), opset_imports=[helper.make_opsetid("", 26)]
    )
    with pytest.raises(FrontendError, match=r"node 'running_product' \(op type CumProd, opset 26\)"):
        compile_onnx(proto, CompilerConfig(enable_cpu_fallback=False))  # with the fallback on: on the host


def _two_inputs() -> onnx.ModelProto:
    ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [4, 32]) for n in ("a", "b")]
    o = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 32])
    nodes = [helper.make_node("Mul", ["a", "b"], ["m"], name="product"), helper.make_node("Tanh", ["m"], ["y"])]
    return helper.make_model(helper.make_graph(nodes, "two", ins, [o]), opset_imports=[helper.make_opsetid("", 17)])


def test_verify_module_takes_a_model_proto_with_onnx_runtime_as_golden():
    (result,) = verify_module(_two_inputs())  # inputs from the graph's types and shapes
    assert result.passed and result.pcc > 0.99
    with pytest.raises(ValueError, match="input_shapes must be None for an ONNX model"):
        verify_module(_two_inputs(), input_shapes=[(4, 32), (4, 32)])


def test_op_by_op_records_name_the_onnx_node_and_report(tmp_path):
    config = CompilerConfig(
        compile_depth=CompileDepth.EXECUTE_OP_BY_OP,
        op_by_op_backend=OpByOpBackend.STABLEHLO,
        results_path=str(tmp_path),
    )
    verify_module(_two_inputs(), compiler_config=config)
    folder = tmp_path / "two" / "stablehlo" / "two"
    records = [json.loads(p.read_text()) for p in sorted(folder.glob("0*.json"))]
    names = {(r["op_name"], r["torch_name"], r["status_name"]) for r in records}
    assert names == {("onnx.Mul", "Mul:product", "EXECUTED"), ("onnx.Tanh", "Tanh:tanh_1", "EXECUTED")}
    assert all(r["pcc"] > 0.99 for r in records)
    assert report.main([str(tmp_path)]) == 0
    assert (tmp_path / "op_by_op.xlsx").exists() and (tmp_path / "op_by_op.db").exists()
    with pytest.raises(Exception, match="OpByOpBackend.STABLEHLO"):
        compile_onnx(_two_inputs(), CompilerConfig(compile_depth=CompileDepth.EXECUTE_OP_BY_OP))


def test_export_and_the_cli(tmp_path, capsys):
    proto = linear_relu(batch="N")
    model = compile_onnx(proto, input_shapes={"x": (2, 8)})
    x = torch.randn(2, 8)
    ours = model(x)[0]
    path = tmp_path / "model.ttnn"
    model.export(path)
    loaded = runtime.load(path)
    assert torch.equal(loaded(x)[0], ours)  # the file runs the same program on the same weights
    assert cli.main(["run", str(path), "--golden"]) == 0  # against ONNX Runtime's golden
    onnx_path = tmp_path / "model.onnx"
    onnx.save(proto, onnx_path)
    out = tmp_path / "cli.ttnn"
    assert cli.main(["compile", str(onnx_path), "-o", str(out)]) == 1  # N is not bound
    assert "input 'x' dim 0 is dynamic" in capsys.readouterr().err
    assert cli.main(["compile", str(onnx_path), "-o", str(out), "--input-shape", "x=2,8"]) == 0
    assert cli.main(["run", str(out), "--golden"]) == 0
    assert "PCC" in capsys.readouterr().out


def test_the_cli_compiles_a_saved_exported_program(tmp_path, capsys):
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU()).eval()
    path = tmp_path / "model.pt2"
    torch.export.save(torch.export.export(model, (torch.randn(2, 8),)), path)
    assert cli.main(["compile", str(path)]) == 0  # writes model.ttnn beside it
    assert cli.main(["run", str(tmp_path / "model.ttnn"), "--golden"]) == 0  # against eager's outputs
    assert cli.main(["compile", str(tmp_path / "model.txt")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_constant_inputs_compile_slice_bounds_as_constants():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 6])
    bounds = [helper.make_tensor_value_info(n, TensorProto.INT64, [1]) for n in ("starts", "ends")]
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    node = helper.make_node("Slice", ["x", "starts", "ends"], ["y"], name="window")
    proto = helper.make_model(
        helper.make_graph([node], "g", [x, *bounds], [y]), opset_imports=[helper.make_opsetid("", 18)]
    )
    with pytest.raises(FrontendError, match=r"node 'window' \(op type Slice, opset 18\)"):
        compile_onnx(
            proto, CompilerConfig(enable_cpu_fallback=False)
        )  # torch-mlir needs the bounds before the model runs
    model = compile_onnx(proto, constant_inputs={"starts": np.array([1], np.int64), "ends": np.array([3], np.int64)})
    assert model.input_names == ["x"]
    data = torch.randn(4, 6)
    assert torch.equal(model(data)[0], data[1:3])
    assert torch.equal(model.run_reference([data])[0], data[1:3])  # ONNX Runtime is given the bound values
