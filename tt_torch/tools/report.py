"""Reports from op-by-op results: a spreadsheet, a database and Markdown op pages, one command.

    python -m tt_torch.tools.report RESULTS_DIR [--xlsx FILE] [--db FILE_OR_URL] [--md DIR]

RESULTS_DIR is ``CompilerConfig.results_path``: every ``*.json`` below it that
op-by-op mode wrote (one per unique op) is read. With no output option, all
three are written into RESULTS_DIR (``op_by_op.xlsx``, ``op_by_op.db``,
``ops/``). ``--db`` takes a SQLite file path or any SQLAlchemy URL
(``postgresql://user@host/db``); rows of a run already in the database are
replaced, so a report can be re-run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterable
from typing import Any

from tt_torch.accuracy import REQUIRED_PCC
from tt_torch.config import OpCompilationStatus
from tt_torch.errors import TTTorchError

COLUMNS = [
    "model_name",
    "model_group",
    "backend",
    "graph_name",
    "index",
    "op_name",
    "torch_name",
    "status_name",
    "status",
    "runs_on",
    "num_ops",
    "input_shapes",
    "input_dtypes",
    "output_shapes",
    "output_dtypes",
    "args",
    "pcc",
    "atol",
    "compile_seconds",
    "run_seconds",
    "error",
    "tt_mlir_status",
    "tt_mlir_error",
    "tt_mlir_ops_diff",
]


class ReportError(TTTorchError):
    """The results directory holds nothing a report can be made from."""


def load_results(results_dir: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(op records, run descriptions) from the JSON files below ``results_dir``, in a stable order."""
    records, runs = [], []
    for root, _, files in os.walk(results_dir):
        for name in sorted(files):
            if not name.endswith(".json"):
                continue
            path = os.path.join(root, name)
            try:
                with open(path) as f:
                    data = json.load(f)
            except (OSError, json.JSONDecodeError) as e:
                print(f"report: skipping {path}: {e}", file=sys.stderr)
                continue
            if name == "run.json":
                runs.append(data)
            elif isinstance(data, dict) and "op_name" in data and "status" in data:
                records.append(data)
    if not records:
        raise ReportError(
            f"no op-by-op results (*.json with op_name and status) below {results_dir!r}; run a model with "
            "CompilerConfig(compile_depth=CompileDepth.EXECUTE_OP_BY_OP, results_path=...) first"
        )
    records.sort(key=lambda r: (r["model_name"], r["backend"], r["graph_name"], r["index"]))
    return records, runs


def is_failing(record: dict[str, Any]) -> bool:
    """Stopped before the stage it aimed for, or executed with a low PCC."""
    if record["status_name"] != record.get("target_status", "EXECUTED"):
        return True
    return record.get("pcc") is not None and record["pcc"] < REQUIRED_PCC


def _cell(value: Any, column: str = "") -> Any:
    """A spreadsheet cell: lists and dicts as plain text (``1x3x224x224, 64`` for shapes,
    ``k=v, ...`` for arguments), never JSON."""
    if isinstance(value, (list, tuple, dict)):
        value = _plain(value, shapes=column.endswith("_shapes"))
    if isinstance(value, str) and len(value) > 32000:  # Excel's cell limit is 32767 characters
        return value[:32000] + "..."
    return value


def _plain(value: Any, shapes: bool = False, top: bool = True) -> str:
    if isinstance(value, dict):
        text = ", ".join(f"{k}={_plain(v, top=False)}" for k, v in value.items())
        return text if top else "{" + text + "}"
    if isinstance(value, (list, tuple)):
        if shapes and all(isinstance(v, (list, tuple)) for v in value):
            return ", ".join("x".join(map(str, v)) or "scalar" for v in value)
        text = ", ".join(_plain(v, top=False) for v in value)
        return text if top else "[" + text + "]"
    return "" if value is None else str(value)


def _finish_sheet(ws) -> None:
    """Bold header, frozen, filterable, columns as wide as their text (up to 60 characters)."""
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "A2"
    if ws.max_row > 1:
        ws.auto_filter.ref = ws.dimensions
    for k, column in enumerate(ws.iter_cols(values_only=True), start=1):
        longest = max((len(str(v)) for v in column if v is not None), default=0)
        ws.column_dimensions[get_column_letter(k)].width = min(60, max(8, longest + 2))


# --- xlsx --------------------------------------------------------------------------------


def _model_key(r: dict[str, Any]) -> tuple[str, str, str]:
    return (r["model_name"], r.get("model_group", ""), r["backend"])


def summarize(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (model, group, backend): unique ops, ops, count per status, low PCC."""
    rows: dict[tuple, dict[str, Any]] = {}
    for r in records:
        row = rows.setdefault(
            _model_key(r),
            {"model_name": r["model_name"], "model_group": r.get("model_group", ""), "backend": r["backend"]}
            | {"unique_ops": 0, "total_ops": 0, "low_pcc": 0, "statuses": {}},
        )
        row["unique_ops"] += 1
        row["total_ops"] += r["num_ops"]
        row["statuses"][r["status_name"]] = row["statuses"].get(r["status_name"], 0) + 1
        if r.get("pcc") is not None and r["pcc"] < REQUIRED_PCC:
            row["low_pcc"] += 1
    return list(rows.values())


def _sheet_title(name: str, used: set[str]) -> str:
    title = re.sub(r"[\[\]:*?/\\]", "_", name)[:31] or "model"
    base, k = title, 1
    while title.lower() in used:
        k += 1
        title = f"{base[: 31 - len(str(k)) - 1]}~{k}"
    used.add(title.lower())
    return title


def write_xlsx(records: list[dict[str, Any]], path: str) -> None:
    """Sheets: Summary (status per model), All ops, Failing ops, then one per model."""
    from openpyxl import Workbook

    wb = Workbook()
    summary = wb.active
    summary.title = "Summary"
    statuses = [s.name for s in OpCompilationStatus]
    summary.append(["model_name", "model_group", "backend", "unique_ops", "total_ops", "low_pcc", *statuses])
    for row in summarize(records):
        summary.append(
            [row[k] for k in ("model_name", "model_group", "backend", "unique_ops", "total_ops", "low_pcc")]
            + [row["statuses"].get(s, 0) for s in statuses]
        )

    def table(title: str, rows: list[dict[str, Any]]) -> None:
        ws = wb.create_sheet(title)
        ws.append(COLUMNS)
        for r in rows:
            ws.append([_cell(r.get(c), c) for c in COLUMNS])

    table("All ops", records)
    table("Failing ops", [r for r in records if is_failing(r)])
    used = {"summary", "all ops", "failing ops"}
    models: dict[tuple, list[dict[str, Any]]] = {}
    for r in records:
        models.setdefault(_model_key(r), []).append(r)
    for (model, _group, backend), rows in models.items():
        table(_sheet_title(f"{model} {backend.lower()}", used), rows)
    for ws in wb.worksheets:
        _finish_sheet(ws)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    wb.save(path)


# --- database ------------------------------------------------------------------------------


def database_url(target: str) -> str:
    """A SQLAlchemy URL as given, or a file path made into a SQLite URL."""
    if "://" in target:
        return target
    return f"sqlite:///{os.path.abspath(target)}"


def _tables(metadata):
    from sqlalchemy import Column, Float, ForeignKey, Integer, String, Table, Text, UniqueConstraint

    runs = Table(
        "runs",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("run_id", String(64), nullable=False, unique=True),
        Column("model_name", String(256)),
        Column("backend", String(32)),
        Column("graph_name", String(256)),
        Column("started", Float),
        Column("config", Text),
    )
    models = Table(
        "models",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("name", String(256), nullable=False),
        Column("model_group", String(256), nullable=False),
        UniqueConstraint("name", "model_group"),
    )
    unique_ops = Table(
        "unique_ops",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("op_name", String(256), nullable=False),
        Column("torch_name", String(256)),
        Column("backend", String(32), nullable=False),
        Column("input_shapes", Text, nullable=False),
        Column("input_dtypes", Text, nullable=False),
        Column("output_shapes", Text),
        Column("output_dtypes", Text),
        Column("args", Text, nullable=False),
        Column("signature", String(64), nullable=False, unique=True),
    )
    results = Table(
        "results",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("run_id", String(64), ForeignKey("runs.run_id"), nullable=False),
        Column("model_id", Integer, ForeignKey("models.id"), nullable=False),
        Column("unique_op_id", Integer, ForeignKey("unique_ops.id"), nullable=False),
        Column("graph_name", String(256)),
        Column("op_index", Integer),
        Column("num_ops", Integer),
        Column("status", Integer),
        Column("status_name", String(64)),
        Column("runs_on", String(16)),
        Column("error", Text),
        Column("pcc", Float),
        Column("atol", Float),
        Column("compile_seconds", Float),
        Column("run_seconds", Float),
        Column("stablehlo", Text),
        Column("ttir", Text),
        Column("ttnn", Text),
        Column("tt_mlir_status", String(32)),
        Column("tt_mlir_error", Text),
        Column("tt_mlir_ops_diff", Text),
    )
    return runs, models, unique_ops, results


def _add_missing_columns(engine, table) -> None:
    """Columns added since a database was made (``runs_on``), added to it, NULL in its old rows."""
    from sqlalchemy import inspect, text

    present = {c["name"] for c in inspect(engine).get_columns(table.name)}
    with engine.begin() as conn:
        for column in table.columns:
            if column.name not in present:
                kind = column.type.compile(dialect=engine.dialect)
                conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}"))


def _signature(r: dict[str, Any]) -> str:
    import hashlib

    fields = ("backend", "op_name", "input_shapes", "input_dtypes", "args", "output_shapes", "output_dtypes")
    key = json.dumps([r.get(f) for f in fields])
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def write_database(records: list[dict[str, Any]], runs: list[dict[str, Any]], target: str) -> str:
    """Writes tables runs, models, unique_ops and results to ``target`` (a path or an SQLAlchemy URL)."""
    from sqlalchemy import MetaData, create_engine, delete, select

    url = database_url(target)
    engine = create_engine(url)
    metadata = MetaData()
    t_runs, t_models, t_ops, t_results = _tables(metadata)
    metadata.create_all(engine)
    _add_missing_columns(engine, t_results)
    run_info = {r["run_id"]: r for r in runs}
    with engine.begin() as conn:
        run_ids = sorted({r["run_id"] for r in records})
        conn.execute(delete(t_results).where(t_results.c.run_id.in_(run_ids)))
        conn.execute(delete(t_runs).where(t_runs.c.run_id.in_(run_ids)))
        for run_id in run_ids:
            first = next(r for r in records if r["run_id"] == run_id)
            info = run_info.get(run_id, {})
            conn.execute(
                t_runs.insert().values(
                    run_id=run_id,
                    model_name=first["model_name"],
                    backend=first["backend"],
                    graph_name=first["graph_name"],
                    started=info.get("started"),
                    config=json.dumps(info.get("config", {})),
                )
            )
        model_ids: dict[tuple, int] = {}
        op_ids: dict[str, int] = {}
        for r in records:
            mkey = (r["model_name"], r.get("model_group", ""))
            if mkey not in model_ids:
                q = select(t_models.c.id).where(t_models.c.name == mkey[0], t_models.c.model_group == mkey[1])
                found = conn.execute(q).scalar()
                if found is None:
                    found = conn.execute(
                        t_models.insert().values(name=mkey[0], model_group=mkey[1])
                    ).inserted_primary_key[0]
                model_ids[mkey] = found
            sig = _signature(r)
            if sig not in op_ids:
                found = conn.execute(select(t_ops.c.id).where(t_ops.c.signature == sig)).scalar()
                if found is None:
                    found = conn.execute(
                        t_ops.insert().values(
                            op_name=r["op_name"],
                            torch_name=r.get("torch_name"),
                            backend=r["backend"],
                            input_shapes=json.dumps(r["input_shapes"]),
                            input_dtypes=json.dumps(r["input_dtypes"]),
                            output_shapes=json.dumps(r.get("output_shapes")),
                            output_dtypes=json.dumps(r.get("output_dtypes")),
                            args=r.get("args", ""),
                            signature=sig,
                        )
                    ).inserted_primary_key[0]
                op_ids[sig] = found
            conn.execute(
                t_results.insert().values(
                    run_id=r["run_id"],
                    model_id=model_ids[mkey],
                    unique_op_id=op_ids[sig],
                    graph_name=r["graph_name"],
                    op_index=r["index"],
                    num_ops=r["num_ops"],
                    status=r["status"],
                    status_name=r["status_name"],
                    runs_on=r.get("runs_on"),
                    error=r.get("error"),
                    pcc=r.get("pcc"),
                    atol=r.get("atol"),
                    compile_seconds=r.get("compile_seconds"),
                    run_seconds=r.get("run_seconds"),
                    stablehlo=r.get("stablehlo"),
                    ttir=r.get("ttir"),
                    ttnn=r.get("ttnn"),
                    tt_mlir_status=r.get("tt_mlir_status"),
                    tt_mlir_error=r.get("tt_mlir_error"),
                    tt_mlir_ops_diff=r.get("tt_mlir_ops_diff"),
                )
            )
    engine.dispose()
    return url


# --- Markdown op pages ----------------------------------------------------------------------


def _md(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text.replace("|", "\\|").replace("\n", " ")


def write_markdown(records: list[dict[str, Any]], out_dir: str) -> list[str]:
    """One page per op name (its shapes, dtypes, arguments, status and PCC per model), plus an index."""
    os.makedirs(out_dir, exist_ok=True)
    by_op: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_op.setdefault(r["op_name"], []).append(r)
    written, index = [], ["# Op support", "", "| op | configurations | passing |", "|---|---|---|"]
    for op_name in sorted(by_op):
        rows = by_op[op_name]
        page = f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', op_name)}.md"
        passing = sum(1 for r in rows if not is_failing(r))
        index.append(f"| [{op_name}]({page}) | {len(rows)} | {passing} |")
        lines = [
            f"# {op_name}",
            "",
            f"{len(rows)} configurations seen, {passing} passing (reached their target stage with PCC >= "
            f"{REQUIRED_PCC}). Generated by `python -m tt_torch.tools.report`.",
            "",
            "| model | backend | input shapes | input dtypes | arguments | status | PCC | atol | count |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            pcc = "" if r.get("pcc") is None else f"{r['pcc']:.5f}"
            atol = "" if r.get("atol") is None else f"{r['atol']:.3g}"
            lines.append(
                f"| {_md(r['model_name'])} | {r['backend']} | {_md(r['input_shapes'])} | {_md(r['input_dtypes'])} "
                f"| {_md(r.get('args', ''))[:200]} | {r['status_name']} | {pcc} | {atol} | {r['num_ops']} |"
            )
        path = os.path.join(out_dir, page)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        written.append(path)
    with open(os.path.join(out_dir, "index.md"), "w") as f:
        f.write("\n".join(index) + "\n")
    return written


# --- command line ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tt-torch report", description="Spreadsheet, database and Markdown reports of op-by-op results."
    )
    parser.add_argument("results_dir", help="the directory op-by-op mode wrote to (CompilerConfig.results_path)")
    parser.add_argument("--xlsx", help="write the spreadsheet here")
    parser.add_argument("--db", help="write the database here: a SQLite file path or any SQLAlchemy URL")
    parser.add_argument("--md", help="write one Markdown page per op name into this directory (e.g. docs/ops)")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.results_dir):
        print(f"report: {args.results_dir!r} is not a directory", file=sys.stderr)
        return 2
    if not (args.xlsx or args.db or args.md):
        args.xlsx = os.path.join(args.results_dir, "op_by_op.xlsx")
        args.db = os.path.join(args.results_dir, "op_by_op.db")
        args.md = os.path.join(args.results_dir, "ops")
    try:
        records, runs = load_results(args.results_dir)
    except ReportError as e:
        print(f"report: {e}", file=sys.stderr)
        return 1
    failing = sum(1 for r in records if is_failing(r))
    print(f"report: {len(records)} unique ops from {len({r['run_id'] for r in records})} runs, {failing} failing")
    if args.xlsx:
        write_xlsx(records, args.xlsx)
        print(f"report: wrote {args.xlsx}")
    if args.db:
        try:
            url = write_database(records, runs, args.db)
        except Exception as e:  # noqa: BLE001 - SQLAlchemy's and its drivers' errors share no base class
            print(
                f"report: cannot write the database {args.db!r}: {type(e).__name__}: {str(e).splitlines()[0]}\n"
                "  --db takes a SQLite file path or an SQLAlchemy URL (dialect+driver://user:pass@host/db) "
                "whose driver is installed",
                file=sys.stderr,
            )
            return 2
        print(f"report: wrote {url}")
    if args.md:
        pages = write_markdown(records, args.md)
        print(f"report: wrote {len(pages)} op pages to {args.md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
