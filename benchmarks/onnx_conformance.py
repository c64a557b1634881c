"""onnx's node test cases through ONNX Runtime and tt-torch's ONNX frontend, side by side.

    python benchmarks/onnx_conformance.py [--cases REGEX] [--limit N] [--resume] [--timeout S]
                                          [--json PATH] [--md PATH]

Every case of ``onnx.backend.test.case.node.collect_testcases()`` (generated offline by the
onnx package: a model, its input sets, the expected outputs) runs through ONNX Runtime
and through ``tt_torch.onnx_compile.compile_onnx`` on the emulated device, both checked
against the expected outputs at rtol = atol = 1e-3
(``tt_torch/onnx_compile/conformance.py``): strictly (every node on the device: the headline
figure), then, for a case that fails so, with the CPU fallback on (how many then pass, and
how many of those run nodes on the host). Cases run in a worker process: one that
crashes or exceeds --timeout is recorded as such and a fresh worker takes the next.
Writes benchmarks/results/onnx_conformance.json (after each case, so --resume continues
an interrupted run) and docs/onnx_coverage.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
import pickle
import platform
import re
import shutil
import sys
import tempfile
import time
import warnings

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
log = logging.getLogger("tt_torch.benchmarks.onnx_conformance")


def _worker(conn, numerics: str) -> None:
    os.environ["TT_TORCH_CACHE_DIR"] = "off"  # 1,900 one-case programs would only fill the cache
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    from tt_torch.config import CompilerConfig
    from tt_torch.onnx_compile import conformance

    config = CompilerConfig(numerics=numerics)
    conn.send("ready")
    while True:
        try:
            path = conn.recv()
        except EOFError:
            return
        with open(path, "rb") as f:
            case = pickle.load(f)
        # ONNX Runtime's result first: a crash in tt-torch's compile loses only tt-torch's
        record, data_sets = conformance.start_record(case["name"], case["model"], case["data_sets"], case["operator"])
        conn.send(record)
        record["ours"] = conformance.check_ours(case["model"], data_sets, config=config)
        conn.send(record)
        # then with the CPU fallback on: a crash here keeps the strict result
        record["fallback"] = conformance.check_fallback(case["model"], data_sets, record["ours"], config=config)
        conn.send(record)


class _Worker:
    def __init__(self, numerics: str) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, numerics), daemon=True)
        self.proc.start()
        child.close()
        if not self.conn.poll(300) or self.conn.recv() != "ready":
            self.close()
            raise RuntimeError(f"the conformance worker did not start (exit code {self.proc.exitcode})")

    def ask(self, path: str, timeout: float) -> tuple[dict | None, str | None]:
        """(the case's record, None), or (its record so far, "timeout" | "crash")."""
        self.conn.send(path)
        deadline = time.monotonic() + timeout
        record = None
        try:
            while True:
                if not self.conn.poll(max(0.0, deadline - time.monotonic())):
                    return record, "timeout"
                record = self.conn.recv()
                if "fallback" in record:
                    return record, None
        except (EOFError, OSError):
            return record, "crash"

    def close(self) -> None:
        self.conn.close()
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)


def _write_cases(pattern: str | None, limit: int | None, directory: str) -> list[tuple[str, str]]:
    """Every (filtered) node test case pickled into ``directory``: [(case name, path)]."""
    import onnx
    from onnx.backend.test.case.node import collect_testcases

    from tt_torch.onnx_compile.conformance import case_operator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = collect_testcases()
    schemas = sorted({s.name for s in onnx.defs.get_all_schemas()}, key=len, reverse=True)
    out = []
    for case in sorted(cases, key=lambda c: c.name):
        if pattern and not re.search(pattern, case.name):
            continue
        path = os.path.join(directory, f"{case.name}.pkl")
        item = {
            "name": case.name,
            "operator": case_operator(case.name, case.model, schemas),
            "model": case.model,
            "data_sets": case.data_sets,
        }
        with open(path, "wb") as f:
            pickle.dump(item, f)
        out.append((case.name, path))
    return out[:limit] if limit is not None else out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", help="only the cases whose name matches this regular expression")
    parser.add_argument("--limit", type=int, help="only the first N cases (by name)")
    parser.add_argument("--resume", action="store_true", help="skip the cases already in the JSON")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per case (default 120)")
    parser.add_argument(
        "--numerics",
        choices=("fast", "emulated"),
        default="fast",
        help="device numerics (default fast: fp32 math, so the bar tests the frontend and compiler; emulated: "
        "the chip's data formats and matmul inputs, which miss 1e-3 on some products)",
    )
    parser.add_argument("--json", default=os.path.join(ROOT, "benchmarks", "results", "onnx_conformance.json"))
    parser.add_argument("--md", default=os.path.join(ROOT, "docs", "onnx_coverage.md"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    data = {"records": {}}
    if args.resume and os.path.exists(args.json):
        with open(args.json) as f:
            data = json.load(f)
    records: dict[str, dict] = data["records"]
    command = "python benchmarks/onnx_conformance.py" + "".join(f" {a}" for a in sys.argv[1:] if a != "--resume")
    data.update(command=command, machine=_machine(), versions=_versions(), numerics=args.numerics)
    directory = tempfile.mkdtemp(prefix="onnx_node_cases_")
    t0 = time.perf_counter()
    worker = None
    try:
        cases = [(n, p) for n, p in _write_cases(args.cases, args.limit, directory) if n not in records]
        log.info("%d cases to run (%d known)", len(cases), len(records))
        for k, (name, path) in enumerate(cases):
            worker = worker or _Worker(args.numerics)
            t = time.perf_counter()
            reply, failure = worker.ask(path, args.timeout)
            if failure is not None:
                worker.close()
                worker = None
                if reply is None:
                    with open(path, "rb") as f:
                        case = pickle.load(f)
                    reply = {
                        "case": name,
                        "operator": case["operator"],
                        "opset": next(
                            (i.version for i in case["model"].opset_import if i.domain in ("", "ai.onnx")), 0
                        ),
                        "ort": {"status": "unknown", "reason": "not measured: the worker was lost"},
                    }
                reason = f"no answer within {args.timeout:g} s" if failure == "timeout" else "the worker died"
                lost = {"status": failure, "reason": reason, "seconds": round(time.perf_counter() - t, 2)}
                reply.setdefault("ours", lost)
                reply["fallback"] = {**lost, "host_nodes": 0}
            records[name] = reply
            log.info(
                "[%d/%d] %s: ort %s, tt-torch %s (with fallback %s, %d host nodes) %s",
                k + 1,
                len(cases),
                name,
                reply["ort"]["status"],
                reply["ours"]["status"],
                reply["fallback"]["status"],
                reply["fallback"].get("host_nodes", 0),
                reply["ours"]["reason"][:160],
            )
            _save(args.json, data)
    finally:
        if worker is not None:
            worker.close()
        shutil.rmtree(directory, ignore_errors=True)
    with open(args.md, "w") as f:
        f.write(markdown(data))
    print(summary_line(records))
    print(fallback_line(records))
    print(f"{time.perf_counter() - t0:.0f} s; {os.path.relpath(args.json)}, {os.path.relpath(args.md)}")
    return 0


def _save(path: str, data: dict) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:  # one line per case: the file stays small and diffs per case
        rest = {k: v for k, v in data.items() if k != "records"}
        records = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in data.get("records", {}).items())
        head = json.dumps(rest, indent=1)[1:-1].strip("\n")
        f.write("{\n" + (head + ",\n" if head else "") + ' "records": {\n' + records + "\n }\n}\n")
    os.replace(path + ".tmp", path)


def _machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def _versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import torch

    return {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__, "torch": torch.__version__}


# --- the page ----------------------------------------------------------------------------------


def _counts(records) -> dict[str, int]:
    ort_pass = [r for r in records if r["ort"]["status"] == "pass"]
    return {
        "cases": len(records),
        "ort": len(ort_pass),
        "ours": sum(r["ours"]["status"] == "pass" for r in records),
        "both": sum(r["ours"]["status"] == "pass" for r in ort_pass),
    }


def summary_line(records: dict[str, dict]) -> str:
    c = _counts(list(records.values()))
    share = 100 * c["both"] / c["ort"] if c["ort"] else 0.0
    bound = sum(
        1
        for r in records.values()
        if r["ort"]["status"] == "pass" and r["ours"]["status"] == "pass" and r["ours"].get("bound")
    )
    return (
        f"{c['cases']} cases: ONNX Runtime passes {c['ort']}, tt-torch {c['ours']}; "
        f"tt-torch passes {c['both']} of the {c['ort']} ONNX Runtime passes ({share:.1f}%), "
        f"{bound} of them with their small control inputs (axes, sizes, k, ...) compiled as constants"
    )


def _fallback_counts(records) -> dict[str, int]:
    """Of the ONNX Runtime passes: how many pass with the CPU fallback on, and how many of those
    run nodes on the host (records without a fallback result count as their strict one)."""
    ort_pass = [r for r in records if r["ort"]["status"] == "pass"]
    passes = [r for r in ort_pass if r.get("fallback", r["ours"])["status"] == "pass"]
    return {
        "ort": len(ort_pass),
        "pass": len(passes),
        "host": sum(1 for r in passes if r.get("fallback", {}).get("host_nodes", 0) > 0),
    }


def fallback_line(records: dict[str, dict]) -> str:
    c = _fallback_counts(list(records.values()))
    share = 100 * c["pass"] / c["ort"] if c["ort"] else 0.0
    return (
        f"With the CPU fallback on, tt-torch passes {c['pass']} of the {c['ort']} ONNX Runtime passes "
        f"({share:.1f}%), {c['host']} of them with nodes run on the host (ONNX Runtime)"
    )


def markdown(data: dict) -> str:
    from tt_torch.onnx_compile.conformance import REASONS, STATUSES

    records = data["records"]
    recs = list(records.values())
    ort_pass = [r for r in recs if r["ort"]["status"] == "pass"]
    v = data.get("versions", {})
    lines = [
        "# ONNX node test cases through tt-torch",
        "",
        "Generated by `" + data.get("command", "python benchmarks/onnx_conformance.py") + "` "
        f"(onnx {v.get('onnx', '?')}, onnxruntime {v.get('onnxruntime', '?')}, device numerics "
        f"{data.get('numerics', 'fast')}, {data.get('machine', '')}); "
        "see docs/onnx.md. Every case of `onnx.backend.test.case.node.collect_testcases()` runs through "
        "ONNX Runtime (CPU) and through `tt_torch.onnx_compile.compile_onnx` on the emulated device, "
        "both checked against the case's expected outputs at rtol = atol = 1e-3.",
        "",
        f"**{summary_line(records)}.**",
        "",
        f"{fallback_line(records)}: the model compiled with `enable_cpu_fallback=True` (the default), "
        "after the strict check above (every node on the device) fails; see docs/onnx.md.",
        "",
        "## tt-torch's result on the cases ONNX Runtime passes",
        "",
        "| result | cases | meaning |",
        "|---|---:|---|",
    ]
    for s in STATUSES:
        n = sum(r["ours"]["status"] == s for r in ort_pass)
        if n:
            lines.append(f"| {s} | {n} | {REASONS[s]} |")
    lines += ["", "## Per operator", ""]
    lines += [
        "Cases: all cases of the operator (its expanded-function variants included); ORT and tt-torch: "
        "cases each passes; tt-torch of ORT: tt-torch's passes among ONNX Runtime's; with fallback: the same "
        "with the CPU fallback on; failures: tt-torch's (strict) results on the ONNX Runtime passes it fails.",
        "",
        "| operator | cases | ORT | tt-torch | tt-torch of ORT | with fallback | failures |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    by_op: dict[str, list[dict]] = {}
    for r in recs:
        by_op.setdefault(r["operator"], []).append(r)
    for op in sorted(by_op, key=str.lower):
        rs = by_op[op]
        oc = _counts(rs)
        fails: dict[str, int] = {}
        for r in rs:
            if r["ort"]["status"] == "pass" and r["ours"]["status"] != "pass":
                fails[r["ours"]["status"]] = fails.get(r["ours"]["status"], 0) + 1
        text = ", ".join(f"{s} {n}" for s, n in sorted(fails.items(), key=lambda kv: -kv[1]))
        fc = _fallback_counts(rs)
        lines.append(
            f"| {op} | {oc['cases']} | {oc['ort']} | {oc['ours']} | {oc['both']}/{oc['ort']} | "
            f"{fc['pass']}/{fc['ort']} | {text} |"
        )
    lines += [
        "",
        "## Failures",
        "",
        "tt-torch's reason for each ONNX Runtime pass it fails (first 200 characters).",
        "",
        "| case | result | reason |",
        "|---|---|---|",
    ]
    for r in sorted(ort_pass, key=lambda r: r["case"]):
        if r["ours"]["status"] != "pass":
            reason = " ".join(r["ours"]["reason"].split())[:200].replace("|", "\\|")
            lines.append(f"| {r['case']} | {r['ours']['status']} | {reason} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
