"""CompilerConfig.cross_check_tt_mlir: each graph, and in op-by-op mode each unique op, also
goes through the real tt-mlir; reports carry its status, error and TTNN op differences."""

from __future__ import annotations

import glob
import json
import os

import pytest
import torch

from tests.helpers import MLP, compile_tt, small_bert
from tt_torch.tools import report
from tt_torch.tools.utils import CompileDepth
from tt_torch.tt_mlir import unavailable_reason

pytestmark = pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))


def test_graph_report_compares_the_two_programs():
    model, x = MLP().eval(), torch.randn(4, 32)
    compiled, artifacts = compile_tt(model, CompileDepth.EXECUTE, cross_check_tt_mlir=True)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-2, atol=1e-2)
    rec = artifacts.last.report["tt_mlir"]
    assert rec["status"] == "ok", rec["error"]
    # ours: three linears, two with relu fused, each bias entering as a [1, N] argument (its
    # reshape folded into the argument); tt-mlir: matmul, multiply by one (alpha), add with relu
    # fused, each bias reshaped in the program
    assert rec["only_tt_mlir"] == {
        "ttnn.add": 3,
        "ttnn.add+relu": 2,
        "ttnn.matmul": 3,
        "ttnn.multiply": 3,
        "ttnn.ones": 1,
        "ttnn.reshape": 3,
    }
    assert rec["only_tt_torch"] == {"ttnn.linear": 3, "ttnn.linear+relu": 2}
    assert rec["count_differs"] == {} and "ttnn.reshape" not in rec["tt_torch_ops"]


def test_op_by_op_bert_records_tt_mlir_status_for_every_unique_op(tmp_path):
    model, ids = small_bert(), torch.randint(0, 128, (1, 16))
    compiled, artifacts = compile_tt(
        model,
        CompileDepth.COMPILE_OP_BY_OP,
        op_by_op_backend="STABLEHLO",
        results_path=str(tmp_path),
        model_name="bert",
        cross_check_tt_mlir=True,
    )
    with torch.no_grad():
        compiled(ids)
    records = [json.load(open(p)) for p in glob.glob(os.path.join(tmp_path, "**", "0*.json"), recursive=True)]
    assert len(records) == artifacts.last.report["op_by_op"]["unique_ops"] > 10
    statuses = {r["tt_mlir_status"] for r in records}
    assert statuses <= {"ok", "rejected", "crash", "timeout"} and "ok" in statuses
    for r in records:
        if r["tt_mlir_status"] == "ok":
            assert isinstance(r["tt_mlir"]["tt_mlir_ops"], dict) and "only_tt_torch" in r["tt_mlir"]
        else:
            assert r["tt_mlir_error"], r["op_name"]
    dot = next(r for r in records if r["op_name"] == "stablehlo.dot_general")
    assert dot["tt_mlir_status"] == "ok" and "ttnn.matmul" in dot["tt_mlir"]["tt_mlir_ops"]
    # the xlsx and the database carry the columns
    xlsx, db_path = str(tmp_path / "r.xlsx"), str(tmp_path / "r.db")
    assert report.main([str(tmp_path), "--xlsx", xlsx, "--db", db_path]) == 0
    import sqlite3

    import openpyxl

    header = [c.value for c in openpyxl.load_workbook(xlsx).worksheets[1][1]]
    assert {"tt_mlir_status", "tt_mlir_error", "tt_mlir_ops_diff"} <= set(header)
    db = sqlite3.connect(db_path)
    got = db.execute("select count(*) from results where tt_mlir_status is not null").fetchone()[0]
    assert got == len(records)


def test_op_by_op_gives_tt_mlir_the_full_constants(tmp_path):
    """An op with a constant of more than 16 elements: the reports elide it, tt-mlir gets it whole."""

    values = [float(v) for v in range(40)]

    class AddTable(torch.nn.Module):
        def forward(self, x):
            return x * torch.tensor(values).reshape(5, 8)

    compiled, artifacts = compile_tt(
        AddTable(),
        CompileDepth.COMPILE_OP_BY_OP,
        op_by_op_backend="STABLEHLO",
        results_path=str(tmp_path),
        model_name="table",
        cross_check_tt_mlir=True,
    )
    with torch.no_grad():
        compiled(torch.randn(5, 8))
    records = [json.load(open(p)) for p in glob.glob(os.path.join(tmp_path, "**", "0*.json"), recursive=True)]
    constants = [r for r in records if r["op_name"] == "stablehlo.constant" and r["output_shapes"] == [[5, 8]]]
    assert constants and "__elided__" in constants[0]["stablehlo"]
    assert all(r["tt_mlir_status"] == "ok" for r in constants), [r["tt_mlir_error"] for r in constants]
