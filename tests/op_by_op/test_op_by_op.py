"""Op-by-op bring-up: every unique op compiled and run on its own, in a contained worker."""

from __future__ import annotations

import glob
import json
import os
import sqlite3

import openpyxl
import pytest
import torch
from torch.fx.experimental.proxy_tensor import make_fx

from tests.helpers import MLP, SmallCNN, assert_matches, compile_tt, small_bert
from tests.op_by_op.planted_ops import PlantedModel
from tt_torch import op_by_op
from tt_torch.frontend.importer import import_stablehlo
from tt_torch.tools import report
from tt_torch.tools.utils import CompileDepth, CompilerConfig, OpByOpBackend, OpCompilationStatus

MODELS = {
    "cnn": (SmallCNN, lambda: (torch.randn(2, 3, 16, 16),)),
    "bert": (small_bert, lambda: (torch.randint(0, 128, (1, 16)),)),
}


def records_in(path) -> list[dict]:
    files = sorted(glob.glob(os.path.join(str(path), "**", "0*.json"), recursive=True))
    return [json.load(open(f)) for f in files]


@pytest.fixture
def request_counter(monkeypatch):
    """Counts the worker requests of each kind ("torch"/"stablehlo" compiles, "golden" evaluations)."""
    counts: dict[str, int] = {}
    original = op_by_op.OpWorker.request

    def counting(self, message, timeout):
        counts[message["kind"]] = counts.get(message["kind"], 0) + 1
        return original(self, message, timeout)

    monkeypatch.setattr(op_by_op.OpWorker, "request", counting)
    return counts


@pytest.mark.parametrize("backend", ["TORCH", "STABLEHLO"])
@pytest.mark.parametrize("name", list(MODELS))
def test_every_unique_op_executes_with_real_inputs(name, backend, tmp_path, request_counter):
    make_model, make_inputs = MODELS[name]
    model = make_model().eval()
    inputs = make_inputs()
    with torch.no_grad():
        golden = model(*inputs)
        compiled, artifacts = compile_tt(
            model,
            CompileDepth.EXECUTE_OP_BY_OP,
            op_by_op_backend=backend,
            results_path=str(tmp_path),
            model_name=name,
            model_group="tests",
        )
        result = compiled(*inputs)
    assert_matches(golden, result)  # the CPU goldens flow on: the model's outputs are right

    summary = artifacts.last.report["op_by_op"]
    records = records_in(tmp_path)
    assert len(records) == summary["unique_ops"] > 5
    # repeats are counted, not compiled again
    assert request_counter[backend.lower()] == len(records)
    assert sum(r["num_ops"] for r in records) == summary["total_ops"] >= len(records)
    if name == "bert":  # two identical layers: their ops repeat
        assert summary["total_ops"] > 2 * len(records)
    assert all(len(r["fx_nodes"]) == r["num_ops"] for r in records)
    fields = ("op_name", "input_shapes", "input_dtypes", "args", "output_shapes", "output_dtypes")
    keys = {json.dumps([r[k] for k in fields]) for r in records}
    assert len(keys) == len(records)
    for r in records:
        assert (r["model_name"], r["model_group"], r["backend"]) == (name, "tests", backend)
        assert r["status_name"] == "EXECUTED", f"{r['op_name']}: {r['error']}"
        assert r["pcc"] >= 0.99 and r["atol"] <= 1e-2, r
        assert r["stablehlo"] and r["ttir"] and r["ttnn"]
        assert r["compile_seconds"] > 0 and r["run_seconds"] >= 0
    prefixes = ("aten.",) if backend == "TORCH" else ("stablehlo.", "arith.")
    assert all(r["op_name"].startswith(prefixes) for r in records)
    if backend == "STABLEHLO":
        # every StableHLO op instance got its CPU golden from the reference interpreter
        assert request_counter["golden"] == summary["total_ops"]
        assert any(r["torch_name"].startswith("aten.") for r in records)


@pytest.mark.parametrize("backend", ["TORCH", "STABLEHLO"])
def test_compile_op_by_op_stops_at_ttnn_and_writes_each_op_as_it_finishes(backend, tmp_path, request_counter):
    def f(x, y):
        return (x + y) * y + y

    x, y = torch.randn(32, 32), torch.randn(32, 32)
    gm = make_fx(f)(x, y)
    config = CompilerConfig(
        compile_depth=CompileDepth.COMPILE_OP_BY_OP,
        op_by_op_backend=backend,
        results_path=str(tmp_path),
        model_name="adds",
    )
    seen = []

    def progress(ops, desc="", **_):
        if not desc.startswith("op-by-op"):  # the bar over CPU goldens, not over unique ops
            yield from ops
            return
        for k, op in enumerate(ops):
            seen.append(len(records_in(tmp_path)))
            assert seen[-1] == k  # the ops before this one are on disk already
            yield op

    module = import_stablehlo(gm) if backend == "STABLEHLO" else None
    summary = op_by_op.run_graph(gm, [x, y], config, "adds0", stablehlo_module=module, progress=progress)
    assert seen == [0, 1]
    records = records_in(tmp_path)
    names = ["aten.add.Tensor", "aten.mul.Tensor"] if backend == "TORCH" else ["stablehlo.add", "stablehlo.multiply"]
    assert [r["op_name"] for r in records] == names
    assert request_counter == {backend.lower(): 2}  # no CPU goldens when nothing runs
    assert [r["num_ops"] for r in records] == [2, 1]
    assert all(r["status_name"] == "CONVERTED_TO_TTNN" and r["pcc"] is None for r in records)
    assert summary.by_status == {"CONVERTED_TO_TTNN": 2} and summary.total_ops == 3
    assert "2 compiled to TTNN" in summary.line()


def test_a_crashing_op_and_a_hanging_op_are_recorded_and_the_run_goes_on(tmp_path):
    model = PlantedModel()
    x = torch.randn(4, 32)
    compiled, artifacts = compile_tt(
        model,
        CompileDepth.EXECUTE_OP_BY_OP,
        results_path=str(tmp_path),
        model_name="planted",
        single_op_timeout=4.0,
    )
    with torch.no_grad():
        assert torch.allclose(compiled(x), model(x))
    by_name = {r["op_name"]: r for r in records_in(tmp_path)}
    assert set(by_name) == {
        "aten.relu.default",
        "tt_test.crash_in_worker.default",
        "tt_test.hang_in_worker.default",
        "aten.add.Tensor",
    }
    crash = by_name["tt_test.crash_in_worker.default"]
    assert crash["status"] == OpCompilationStatus.NOT_STARTED
    assert "crashed (signal SIGABRT) while building the one-op graph" in crash["error"]
    assert "planted op: aborting the worker" in crash["worker_output"]
    hang = by_name["tt_test.hang_in_worker.default"]
    assert hang["status"] == OpCompilationStatus.NOT_STARTED
    assert "timed out after 4 s" in hang["error"]
    for name in ("aten.relu.default", "aten.add.Tensor"):
        assert by_name[name]["status_name"] == "EXECUTED" and by_name[name]["pcc"] >= 0.99
    assert artifacts.last.report["op_by_op"]["by_status"] == {"EXECUTED": 2, "NOT_STARTED": 2}


def test_reports_from_one_command(tmp_path, capsys):
    results = tmp_path / "results"
    for backend in (OpByOpBackend.TORCH, OpByOpBackend.STABLEHLO):
        compiled, _ = compile_tt(
            MLP().eval(),
            CompileDepth.EXECUTE_OP_BY_OP,
            op_by_op_backend=backend,
            results_path=str(results),
            model_name="mlp",
        )
        with torch.no_grad():
            compiled(torch.randn(4, 32))
    records = records_in(results)
    # plant one failing record, as a crashed op would leave it
    torch_record = next(r for r in records if r["backend"] == "TORCH")
    failing = dict(torch_record, index=99, status=2, status_name="CONVERTED_TO_TORCH_IR", pcc=None, error="boom")
    failing["op_name"] = "aten.fake_failing_op"
    with open(
        os.path.join(os.path.dirname(glob.glob(str(results / "mlp/torch/*/run.json"))[0]), "0099_x.json"), "w"
    ) as f:
        json.dump(failing, f)
    records.append(failing)

    assert report.main([str(results)]) == 0
    assert "report: 25 unique ops from 2 runs, 1 failing" in capsys.readouterr().out

    wb = openpyxl.load_workbook(results / "op_by_op.xlsx")
    assert wb.sheetnames == ["Summary", "All ops", "Failing ops", "mlp stablehlo", "mlp torch"]
    assert wb["All ops"].max_row == 1 + len(records)
    failing_rows = list(wb["Failing ops"].values)[1:]
    assert [row[report.COLUMNS.index("op_name")] for row in failing_rows] == ["aten.fake_failing_op"]
    summary = {row[2]: row for row in list(wb["Summary"].values)[1:]}
    assert summary["TORCH"][3] == 9 and summary["STABLEHLO"][3] == 16

    expected: dict[str, int] = {}
    for r in records:
        expected[r["status_name"]] = expected.get(r["status_name"], 0) + 1
    con = sqlite3.connect(results / "op_by_op.db")
    got = dict(con.execute("SELECT status_name, count(*) FROM results GROUP BY status_name").fetchall())
    assert got == expected == {"EXECUTED": 24, "CONVERTED_TO_TORCH_IR": 1}
    assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 2
    assert con.execute("SELECT count(*) FROM models").fetchone()[0] == 1
    assert con.execute("SELECT count(*) FROM unique_ops").fetchone()[0] == 25
    con.close()

    # again, into the same database through an SQLAlchemy URL: the runs are replaced, not doubled
    assert report.main([str(results), "--db", f"sqlite:///{results / 'op_by_op.db'}"]) == 0
    con = sqlite3.connect(results / "op_by_op.db")
    assert con.execute("SELECT count(*) FROM results").fetchone()[0] == 25
    con.close()

    page = (results / "ops" / "aten.mm.default.md").read_text()
    assert page.startswith("# aten.mm.default\n\n3 configurations seen, 3 passing")
    assert '| mlp | TORCH | [[4, 32], [32, 64]] | ["float32", "float32"] |  | EXECUTED | 1.00000 |' in page
    assert (results / "ops" / "stablehlo.dot_general.md").exists()
    assert "aten.fake_failing_op" in (results / "ops" / "index.md").read_text()


def test_report_on_an_empty_directory_says_what_to_run(tmp_path, capsys):
    assert report.main([str(tmp_path)]) == 1
    assert "run a model with CompilerConfig(compile_depth=CompileDepth.EXECUTE_OP_BY_OP" in capsys.readouterr().err


def test_stablehlo_backend_needs_only_the_module(tmp_path):
    """The STABLEHLO backend also serves modules with no FX graph behind them (ONNX)."""
    x = torch.randn(8, 32)
    w = torch.randn(32, 16)
    module = import_stablehlo(make_fx(lambda a, b: torch.tanh(a @ b) - a.sum())(x, w))
    config = CompilerConfig(
        compile_depth=CompileDepth.EXECUTE_OP_BY_OP,
        op_by_op_backend="STABLEHLO",
        results_path=str(tmp_path),
        model_name="no_fx",
    )
    summary = op_by_op.run_graph(None, [x, w], config, "g0", stablehlo_module=module, progress=lambda ops, **_: ops)
    records = records_in(tmp_path)
    assert summary.by_status == {"EXECUTED": len(records)} and len(records) >= 4
    assert {"stablehlo.dot_general", "stablehlo.tanh", "stablehlo.reduce"} <= {r["op_name"] for r in records}
    assert all(r["pcc"] >= 0.99 for r in records)


def test_a_device_output_of_the_wrong_shape_is_an_error_not_a_pcc():
    record = op_by_op.OpRecord("op", "op", "TORCH", "m", "", "g", "run", 0, [], [], [], [])
    assert "output 0: the device returned shape (3,), the CPU golden has (2,)" in op_by_op._compare(
        record, [torch.ones(2)], [torch.ones(3)]
    )
    assert record.pcc is None
    assert op_by_op._compare(record, [torch.arange(4.0)], [torch.arange(4.0) + 1e-4]) is None
    assert record.pcc > 0.999 and abs(record.atol - 1e-4) < 1e-6


class AiryBetweenLinears(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = torch.nn.Linear(8, 8), torch.nn.Linear(8, 8)

    def forward(self, x):
        return self.fc2(torch.special.airy_ai(self.fc1(x)))  # airy_ai: no lowering in torch-mlir


@pytest.mark.parametrize("fallback", [True, False])
def test_records_say_where_each_op_runs_under_the_cpu_fallback(fallback, tmp_path):
    results = tmp_path / "results"
    compiled, _ = compile_tt(
        AiryBetweenLinears().eval(),
        CompileDepth.COMPILE_OP_BY_OP,
        results_path=str(results),
        model_name="airy",
        enable_cpu_fallback=fallback,
    )
    with torch.no_grad():
        compiled(torch.randn(4, 8))
    records = records_in(results)
    runs_on = {r["op_name"]: r["runs_on"] for r in records}
    assert runs_on.pop("aten.special_airy_ai.default") == ("cpu" if fallback else "none")
    assert runs_on and set(runs_on.values()) == {"device"}

    # an op-by-op database made before the column existed takes it, NULL in its old rows
    db = results / "op_by_op.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE results (id INTEGER PRIMARY KEY, run_id VARCHAR(64) NOT NULL, status_name VARCHAR(64))")
    con.execute("INSERT INTO results (run_id, status_name) VALUES ('older', 'EXECUTED')")
    con.commit()
    con.close()
    assert report.main([str(results)]) == 0
    wb = openpyxl.load_workbook(results / "op_by_op.xlsx")
    rows = list(wb["All ops"].values)
    column = rows[0].index("runs_on")
    assert sorted(row[column] for row in rows[1:]) == sorted(r["runs_on"] for r in records)
    con = sqlite3.connect(db)
    got = dict(con.execute("SELECT run_id, runs_on FROM results WHERE op_index IS NULL").fetchall())
    assert got == {"older": None}
    airy = con.execute("SELECT runs_on FROM results WHERE status_name != 'CONVERTED_TO_TTNN'").fetchall()
    assert airy == [(None,), ("cpu" if fallback else "none",)]
    con.close()
