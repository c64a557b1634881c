"""The tt-torch command line: read, run, perf, query, check, report; exit codes 0/1/2."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import types

import pytest
import torch

from tt_torch import runtime
from tt_torch._generated import binary_generated as fb
from tt_torch._generated import schema_info
from tt_torch.tools import cli

# Outputs are compared with eager at fp32 tolerances, or across two paths bit for bit.
pytestmark = pytest.mark.usefixtures("fast_numerics")


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_read_every_section(exported_cnn, capsys):
    path, result, _ = exported_cnn
    code, out, _ = run_cli(capsys, "read", path)
    data = json.loads(out)
    assert code == 0 and set(data) == {"version", "system_desc", "mlir", "inputs", "outputs", "ops"}
    assert data["version"]["schema_version"] == ".".join(map(str, schema_info.SCHEMA_VERSION))
    assert data["version"]["programs"] == result.programs
    for section in ("version", "system_desc", "inputs", "outputs", "ops"):
        code, out, _ = run_cli(capsys, "read", path, "--section", section)
        assert code == 0 and list(json.loads(out)) == [section]
    code, out, _ = run_cli(capsys, "read", path, "--section", "mlir", "--json")
    assert code == 0 and list(json.loads(out)) == ["mlir"]
    code, text, _ = run_cli(capsys, "read", path, "--section", "mlir")  # MLIR as MLIR, not JSON strings
    assert code == 0 and "// ---- ttir\n" in text and "// ---- ttnn\n" in text
    assert text.count("\n") > 10 and "\\n" not in text and "ttnn.conv2d" in text
    code, out, _ = run_cli(capsys, "read", path, "--section", "inputs")
    user = [d for d in json.loads(out)["inputs"][0]["inputs"] if d["arg_type"] == "Input"]
    assert [(d["shape"], d["dtype"]) for d in user] == [([2, 3, 16, 16], "Float32")]


def test_read_of_an_older_schema_version_says_so_and_what_to_do(tmp_path, capsys):
    major, minor, _ = schema_info.SCHEMA_VERSION
    old = tmp_path / "old.ttnn"
    binary = fb.BinaryT(
        version=fb.VersionT(major=major, minor=minor - 1, patch=0),
        schemaHash="1" * 64,  # an older schema has another hash too
        programs=[fb.ProgramT(name="forward", inputs=[], outputs=[], operations=[])],
    )
    builder = fb.flatbuffers.Builder(256)
    builder.FinishSizePrefixed(binary.Pack(builder), schema_info.FILE_IDENTIFIER)
    old.write_bytes(bytes(builder.Output()))
    code, out, err = run_cli(capsys, "read", old)
    assert code == 2 and out == ""
    assert f"schema version {major}.{minor - 1}.0, older than the" in err
    assert "re-export the model with this tt-torch" in err


def test_bad_files_and_usage_exit_2(tmp_path, capsys):
    junk = tmp_path / "junk.ttnn"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    for command in ("read", "run", "perf", "check"):
        code, _, err = run_cli(capsys, command, junk)
        assert code == 2 and "not a tt-torch binary" in err, command
    code, _, err = run_cli(capsys, "read", tmp_path / "missing.ttnn")
    assert code == 2 and "no such file" in err
    assert run_cli(capsys, "frobnicate")[0] == 2
    assert run_cli(capsys, "run")[0] == 2  # FILE missing
    assert run_cli(capsys, "read", junk, "--section", "weights")[0] == 2


def test_run_random_inputs_seeded_and_saved(exported_cnn, tmp_path, capsys):
    path, _, _ = exported_cnn
    code, out, _ = run_cli(capsys, "run", path, "--loops", "2", "--seed", "3", "--save-artifacts", tmp_path / "a")
    assert code == 0 and "program 0 ('graph0_0'): 1 output(s); first call " in out
    assert "2 timed loop(s) after 0 warm-up: median " in out and " p10 " in out and " p90 " in out
    assert "output 0: [2, 10] torch.float32" in out
    first = torch.load(tmp_path / "a" / "output_0.pt")
    run_cli(capsys, "run", path, "--seed", "3", "--save-artifacts", tmp_path / "b")
    assert torch.equal(first, torch.load(tmp_path / "b" / "output_0.pt"))
    run_cli(capsys, "run", path, "--seed", "4", "--save-artifacts", tmp_path / "c")
    assert not torch.equal(first, torch.load(tmp_path / "c" / "output_0.pt"))
    summary = json.loads((tmp_path / "a" / "run.json").read_text())
    assert summary["seed"] == 3 and len(summary["seconds"]) == 2 and summary["first_call_seconds"] > 0
    code, _, err = run_cli(capsys, "run", path, "--program", "5")
    assert code == 2 and "--program 5 is out of range" in err


def test_run_golden_checks_outputs_and_ops(exported_cnn, tmp_path, capsys):
    path, _, _ = exported_cnn
    code, out, _ = run_cli(capsys, "run", path, "--golden")
    assert code == 0 and "PCC 1.000000" in out and " rel " in out and "ok" in out
    assert "compared ops meet PCC >= 0.99" in out  # the per-op table from the embedded op goldens
    assert any(line.split()[:3] == ["op", "type", "PCC"] for line in out.splitlines() if line.strip())
    assert run_cli(capsys, "run", path, "--golden", "--plot", tmp_path / "pcc.svg")[0] == 0
    svg = (tmp_path / "pcc.svg").read_text()
    assert svg.startswith("<svg") and "per-op PCC in program order" in svg and "<polyline" in svg
    # An impossible bar: the same outputs are now a mismatch (exit 1), and the per-op table says
    # which op is first under it rather than that all ops meet it.
    code, out, err = run_cli(capsys, "run", path, "--golden", "--atol", "-1")
    assert code == 1 and "MISMATCH" in out and "do not match the golden outputs" in err
    assert "compared ops meet" not in out and "first op under threshold (PCC >= 0.99, atol <= -1" in out


def test_run_golden_without_goldens_is_a_usage_error(tmp_path, capsys):
    import tt_torch
    from tests.helpers import MLP

    result = tt_torch.export(MLP().eval(), (torch.randn(4, 32),), tmp_path / "mlp.ttnn", golden=False)
    code, _, err = run_cli(capsys, "run", result.path, "--golden")
    assert code == 2 and "has no golden tensors" in err and "golden=True" in err
    assert run_cli(capsys, "run", result.path)[0] == 0


def test_perf_table_slowest_first(exported_cnn, tmp_path, capsys):
    path, _, _ = exported_cnn
    code, out, err = run_cli(capsys, "perf", path, "--loops", "3", "--warmup", "1", "--plot", tmp_path / "ops.svg")
    rows = list(csv.reader(io.StringIO(out)))
    header = ["op", "type", "location", "median_us", "p10_us", "p90_us", "mean_us", "percent", "estimated_device_us"]
    assert code == 0 and rows[0] == header
    assert "3 loop(s) after 1 warm-up: median " in err
    times = [float(r[3]) for r in rows[1:]]
    assert all(float(r[4]) <= float(r[3]) <= float(r[5]) for r in rows[1:])  # p10 <= median <= p90
    # the compiler's estimate for the target chip: a roofline, at least the 1 us dispatch per op
    assert all(float(r[8]) >= 1.0 for r in rows[1:] if r[1] == "Conv2dOp")
    svg = (tmp_path / "ops.svg").read_text()
    assert svg.startswith("<svg") and svg.count("<rect") == min(40, len(rows) - 1) and "Conv2dOp" in svg
    assert len(times) == len(runtime.load_binary(path).program_ops(0)) and times == sorted(times, reverse=True)
    # each conv computes its relu too (a fused activation), so it carries the relu's location
    assert sorted(r[2].split("(")[0] for r in rows[1:] if r[1] == "Conv2dOp") == ['"relu"', '"relu_1"']
    code, out, _ = run_cli(capsys, "perf", path, "--csv", tmp_path / "perf.csv")
    assert code == 0 and (tmp_path / "perf.csv").read_text().startswith("op,type,location")


def test_query(capsys):
    code, out, _ = run_cli(capsys, "query")
    devices = {d["name"]: d for d in json.loads(out)["devices"]}
    assert code == 0 and set(devices) == {"n150", "n300", "t3k", "galaxy", "p150", "p150x4", "p150x8"}
    assert devices["n300"]["mesh_shape"] == [1, 2] and devices["p150"]["arch"] == "Blackhole"
    assert devices["t3k"]["mesh_shape"] == [2, 4] and devices["galaxy"]["mesh_shape"] == [4, 8]


def test_check(exported_cnn, tmp_path, capsys):
    path, _, _ = exported_cnn
    code, out, _ = run_cli(capsys, "check", path)
    assert code == 0 and "this runtime can run it" in out
    copy = tmp_path / "cnn.ttnn"  # without its side file
    copy.write_bytes(path.read_bytes())
    code, out, _ = run_cli(capsys, "check", copy)
    assert code == 2 and "cannot run:" in out and "cannot be opened" in out


def test_report_is_forwarded(monkeypatch, capsys):
    seen = []
    fake = types.ModuleType("tt_torch.tools.report")
    fake.main = lambda argv: seen.append(argv) or 0
    monkeypatch.setitem(sys.modules, "tt_torch.tools.report", fake)
    monkeypatch.setattr("tt_torch.tools.report", fake, raising=False)
    assert cli.main(["report", "results.json", "--xlsx", "out.xlsx"]) == 0
    assert seen == [["results.json", "--xlsx", "out.xlsx"]]


def test_report_without_its_module(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tt_torch.tools.report", None)  # import fails
    monkeypatch.delattr("tt_torch.tools.report", raising=False)
    code, _, err = run_cli(capsys, "report")
    assert code == 2 and "needs tt_torch.tools.report" in err


def test_console_script(tmp_path):
    """The installed entry point runs the same main (setup.py console_scripts)."""
    script = subprocess.run(
        [sys.executable, "-c", "import sys; from tt_torch.tools.cli import main; sys.exit(main())", "query"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert script.returncode == 0 and '"n150"' in script.stdout


def test_run_golden_on_a_file_with_const_eval_programs(tmp_path, capsys):
    import tt_torch
    from tests.helpers import SmallCNN

    x = torch.randn(2, 3, 16, 16)
    result = tt_torch.export(SmallCNN().eval(), (x,), tmp_path / "cnn.ttnn", consteval_programs=True)
    code, out, _ = run_cli(capsys, "run", result.path, "--golden", "--atol", "1e-4")
    assert code == 0 and "PCC 1.000000" in out and "MISMATCH" not in out


def test_version_and_help_texts(capsys):
    with pytest.raises(SystemExit) as done:
        cli.parser().parse_args(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("tt-torch 0.")
    text = cli.parser().format_help()
    assert "``" not in text and "TT_TORCH_LOG_LEVEL" in text and "cache" in text
    for command in ("read", "run", "perf", "check", "compile", "tt-mlir"):
        sub = cli.parser()._subparsers._group_actions[0].choices[command]
        undocumented = [a.dest for a in sub._actions if not a.help and a.dest != "help"]
        assert undocumented == [], (command, undocumented)


def test_report_with_a_bad_database_url_is_one_message(tmp_path, capsys):
    from tt_torch.tools import report

    record = {c: None for c in report.COLUMNS} | {"run_id": "r1", "model_name": "m", "backend": "TORCH"}
    record |= {"graph_name": "g", "index": 0, "op_name": "aten.add", "status": 7, "status_name": "EXECUTED"}
    (tmp_path / "op.json").write_text(json.dumps(record))
    assert report.load_results(str(tmp_path))[0]  # a results directory the report reads
    code = cli.main(["report", str(tmp_path), "--db", "nosuchdialect://user@host/db"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot write the database 'nosuchdialect://user@host/db'" in err
    assert "Traceback" not in err and len(err.splitlines()) == 2


def test_report_spreadsheet_is_readable(tmp_path):
    """Column widths, a filter on every sheet, and shapes/arguments as text rather than JSON."""
    import openpyxl

    from tt_torch.tools import report

    record = {c: None for c in report.COLUMNS} | {"run_id": "r1", "model_name": "m", "backend": "TORCH"}
    record |= {"graph_name": "g", "index": 0, "op_name": "aten.convolution.default", "status": 7, "num_ops": 1}
    record |= {"status_name": "EXECUTED", "input_shapes": [[1, 3, 224, 224], [64, 3, 7, 7]]}
    record |= {"input_dtypes": ["torch.float32", "torch.float32"], "args": {"stride": [2, 2], "groups": 1}}
    (tmp_path / "op.json").write_text(json.dumps(record))
    assert report.main([str(tmp_path), "--xlsx", str(tmp_path / "r.xlsx")]) == 0
    ws = openpyxl.load_workbook(tmp_path / "r.xlsx")["All ops"]
    row = dict(zip([c.value for c in ws[1]], [c.value for c in ws[2]]))
    assert row["input_shapes"] == "1x3x224x224, 64x3x7x7"
    assert row["input_dtypes"] == "torch.float32, torch.float32" and row["args"] == "stride=[2, 2], groups=1"
    assert ws.auto_filter.ref == ws.dimensions
    column = ws[1][report.COLUMNS.index("op_name")].column_letter
    assert ws.column_dimensions[column].width >= len("aten.convolution.default")
