"""The CPU fallback and op by op on ONNX graphs, checked against ONNX Runtime.

Det is a node torch-mlir cannot lower to StableHLO (no lowering of the determinant); sequence
values are never device tensors. Both must run on the host, the rest on the device."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from tt_torch.errors import FrontendError, TTTorchError
from tt_torch.onnx_compile import compile_onnx, conformance
from tt_torch.tools import report
from tt_torch.tools.utils import CompileDepth, CompilerConfig, OpByOpBackend


@pytest.fixture(autouse=True)
def _no_compile_cache(monkeypatch):
    monkeypatch.setenv("TT_TORCH_CACHE_DIR", "off")


def _model(nodes, inputs, outputs, initializers=(), opset=26) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _with_det() -> onnx.ModelProto:
    """relu(x) + x -> Det -> squared -> tanh: two device partitions around a host node (torch-mlir
    has no StableHLO lowering for the determinant)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 2, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="first_relu"),
        helper.make_node("Add", ["r", "x"], ["a"], name="add"),
        helper.make_node("Det", ["a"], ["d"], name="determinant"),
        helper.make_node("Mul", ["d", "d"], ["m"], name="mul"),
        helper.make_node("Tanh", ["m"], ["y"], name="tanh"),
    ]
    return _model(nodes, [x], [y], opset=17)


def _close(expected: torch.Tensor, actual: torch.Tensor) -> None:
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    torch.testing.assert_close(actual, expected, rtol=1e-2, atol=1e-2)


def test_an_unconverted_node_runs_on_the_host_and_the_rest_on_the_device():
    model = compile_onnx(_with_det())
    x = torch.rand(3, 2, 2) - 0.5
    _close(model.run_reference([x])[0], model(x)[0])
    fallback = model.report["cpu_fallback"]
    (entry,) = fallback["ops"]
    assert (entry["node"], entry["op"], entry["opset"], entry["source"]) == (
        "determinant",
        "Det",
        17,
        "Det:determinant",
    )
    assert entry["stage"] == "CONVERTED_TO_TORCH_BACKEND_IR" and "Torch backend IR -> StableHLO" in entry["reason"]
    parts = fallback["partitions"]
    assert fallback["device_partitions"] == 2 and [p["nodes"] for p in parts] == [
        ["Relu:first_relu", "Add:add"],
        ["Mul:mul", "Tanh:tanh"],
    ]
    # x (48 bytes) in, relu(x) + x out; the determinants (12 bytes) in, tanh's out
    assert [(p["to_device_bytes"], p["from_device_bytes"]) for p in parts] == [(48, 48), (12, 12)]
    assert fallback["transfers"]["to_device_bytes"] == 60
    assert "ttnn.tanh" in model.graph.ttnn and "partition" in model.graph.ttnn


def test_strict_mode_names_the_node_and_export_refuses_host_nodes(tmp_path):
    with pytest.raises(FrontendError, match=r"node 'determinant' \(op type Det, opset 17\): failed to legalize"):
        compile_onnx(_with_det(), CompilerConfig(enable_cpu_fallback=False))
    model = compile_onnx(_with_det())
    with pytest.raises(TTTorchError, match="Det@Det:determinant"):
        model.export(tmp_path / "model.ttnn")


def test_sequence_values_stay_on_the_host():
    """relu(a), b -> SequenceConstruct -> ConcatFromSequence -> Tanh: the sequence nodes never
    reach the device; an input of sequence type is an error naming it."""
    a, b = (helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 3]) for n in ("a", "b"))
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 3])
    nodes = [
        helper.make_node("Relu", ["a"], ["r"], name="relu"),
        helper.make_node("SequenceConstruct", ["r", "b"], ["seq"], name="pack"),
        helper.make_node("ConcatFromSequence", ["seq"], ["cat"], axis=0, name="unpack"),
        helper.make_node("Tanh", ["cat"], ["y"], name="tanh"),
    ]
    model = compile_onnx(_model(nodes, [a, b], [y], opset=17))
    ins = [torch.randn(2, 3), torch.randn(2, 3)]
    _close(model.run_reference(ins)[0], model(*ins)[0])
    fallback = model.report["cpu_fallback"]
    host = {e["node"]: e for e in fallback["ops"]}
    assert sorted(host) == ["pack", "tanh", "unpack"] and fallback["device_partitions"] == 1  # the Relu
    assert "its output 'seq' is seq(tensor(float)" in host["pack"]["reason"] and host["pack"]["stage"] == "NOT_STARTED"
    # ONNX shape inference leaves the concatenation's dims open: not compiled ahead of time
    assert "its input 'cat' is tensor(float)[" in host["tanh"]["reason"]
    s = helper.make_tensor_sequence_value_info("s", TensorProto.FLOAT, [2])
    node = helper.make_node("ConcatFromSequence", ["s"], ["y"], axis=0)
    with pytest.raises(FrontendError, match="input 's' is not a tensor"):
        compile_onnx(_model([node], [s], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], opset=17))


def test_an_if_on_a_run_time_condition_runs_on_the_host_reading_outer_values():
    """tanh(x) -> sum > 0 ? relu(r) * 2 : r - 1 -> sigmoid; both branches read r from outside."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 4])
    out = {n: helper.make_tensor_value_info(n, TensorProto.FLOAT, [3, 4]) for n in ("t", "e")}
    two, one, zero = (
        helper.make_tensor(n, TensorProto.FLOAT, [], [v]) for n, v in (("two", 2), ("one", 1), ("zero", 0))
    )
    then = [helper.make_node("Relu", ["r"], ["t0"]), helper.make_node("Mul", ["t0", "two"], ["t"])]
    nodes = [
        helper.make_node("Tanh", ["x"], ["r"], name="tanh"),
        helper.make_node("ReduceSum", ["r"], ["s"], keepdims=0, name="total"),
        helper.make_node("Greater", ["s", "zero"], ["cond"], name="positive"),
        helper.make_node(
            "If",
            ["cond"],
            ["b"],
            then_branch=helper.make_graph(then, "then", [], [out["t"]], initializer=[two]),
            else_branch=helper.make_graph(
                [helper.make_node("Sub", ["r", "one"], ["e"])], "else", [], [out["e"]], [one]
            ),
            name="branch",
        ),
        helper.make_node("Sigmoid", ["b"], ["y"], name="sig"),
    ]
    model = compile_onnx(_model(nodes, [x], [y], [zero], opset=17))
    for sign in (1, -1):  # each branch
        data = torch.rand(3, 4) * sign
        _close(model.run_reference([data])[0], model(data)[0])
    fallback = model.report["cpu_fallback"]
    assert [(e["node"], e["op"]) for e in fallback["ops"]] == [("branch", "If")]
    assert sorted(p["nodes"][0] for p in fallback["partitions"]) == ["Sigmoid:sig", "Tanh:tanh"]


def test_op_by_op_writes_one_record_per_unique_node(tmp_path):
    """Two Relu nodes on the same shape are one record; Det's failure is its record's."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    nodes = [
        helper.make_node("Relu", ["x"], ["r1"], name="relu_a"),
        helper.make_node("Sub", ["x", "r1"], ["d"], name="minus"),
        helper.make_node("Relu", ["d"], ["r2"], name="relu_b"),
        helper.make_node("Det", ["r2"], ["y"], name="determinant"),
    ]
    config = CompilerConfig(
        compile_depth=CompileDepth.EXECUTE_OP_BY_OP,
        op_by_op_backend=OpByOpBackend.STABLEHLO,
        results_path=str(tmp_path),
    )
    model = compile_onnx(_model(nodes, [x], [y], opset=17), config)
    data = np.random.default_rng(0).standard_normal((2, 3, 3)).astype(np.float32)
    out = model(data)  # the outputs are ONNX Runtime's
    assert torch.equal(out[0], model.run_reference([torch.from_numpy(data)])[0])
    folder = tmp_path / "g" / "stablehlo" / "g"
    records = {r["op_name"]: r for r in (json.loads(p.read_text()) for p in sorted(folder.glob("0*.json")))}
    assert sorted(records) == ["onnx.Det", "onnx.Relu", "onnx.Sub"]
    relu = records["onnx.Relu"]
    assert relu["num_ops"] == 2 and relu["fx_nodes"] == ["Relu:relu_a", "Relu:relu_b"]
    assert relu["torch_name"] == "Relu:relu_a" and relu["input_shapes"] == [[2, 3, 3]]
    for r in (relu, records["onnx.Sub"]):
        assert r["status_name"] == "EXECUTED" and r["pcc"] > 0.99 and r["runs_on"] == "device", r["error"]
    det = records["onnx.Det"]
    assert det["status_name"] == "CONVERTED_TO_TORCH_BACKEND_IR" and det["runs_on"] == "cpu"
    assert "node 'determinant' (op type Det, opset 17)" in det["error"] and det["output_shapes"] == [[2]]
    assert model.report["op_by_op"]["unique_ops"] == 3 and model.report["op_by_op"]["total_ops"] == 4
    assert report.main([str(tmp_path)]) == 0 and (tmp_path / "op_by_op.xlsx").exists()


def test_the_conformance_check_gives_the_strict_and_the_fallback_result():
    proto = _with_det()
    x = (np.random.default_rng(0).random((3, 2, 2)) - 0.5).astype(np.float32)
    d = np.linalg.det(np.maximum(x, 0) + x)
    data_sets = [([x], [np.tanh(d * d).astype(np.float32)])]  # numpy's answer
    strict = conformance.check_ours(proto, data_sets)
    assert strict["status"] == "import" and strict["host_nodes"] == 0
    assert "node 'determinant' (op type Det, opset 17)" in strict["reason"]
    with_fallback = conformance.check_fallback(proto, data_sets, strict)
    assert with_fallback["status"] == "pass" and with_fallback["host_nodes"] == 1, with_fallback["reason"]
