"""tt-torch: inspect, run, time and check .ttnn files from the command line.

    tt-torch read model.ttnn [--section version|system_desc|mlir|inputs|outputs|ops] [--json]
    tt-torch run model.ttnn [--program N] [--loops N] [--warmup N] [--golden] [--pcc 0.99] [--atol A]
                            [--save-artifacts DIR] [--seed S] [--plot FILE.svg]
    tt-torch perf model.ttnn [--program N] [--loops N] [--warmup N] [--csv FILE] [--plot FILE.svg]
    tt-torch query
    tt-torch check model.ttnn
    tt-torch compile model.onnx|model.pt2 [-o model.ttnn] [--input-shape NAME=D,D,...] [--target n150]
                            (an ONNX model, or a torch.export.save'd ExportedProgram, to a .ttnn)
    tt-torch report RESULTS_DIR [--xlsx FILE] [--db FILE_OR_URL] [--md DIR]
                                 (op-by-op reports: tt_torch.tools.report)
    tt-torch cache info|clear    (the on-disk compile cache)
    tt-torch --version
    tt-torch tt-mlir model.mlir [--target n150] [--out DIR] [--timeout S]
                                 (compile StableHLO with the real tt-mlir, compile-only)

Exit codes: 0 ok; 1 mismatch (outputs under the PCC/atol bar) or a failed run;
2 bad file (not a tt-torch binary, corrupt, other schema version, missing side file)
or bad usage.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence

import torch

import tt_torch
from tt_torch import env, intermediate, runtime, tt_mlir
from tt_torch.accuracy import compute_atol, compute_pcc, compute_relative_error
from tt_torch.compiler.options import DEFAULT_TARGET, TARGETS
from tt_torch.errors import BinaryError, ConfigError, TTRuntimeError
from tt_torch.runtime import LoadedModel
from tt_torch.runtime.binary_info import SECTIONS, binary_json
from tt_torch.runtime.dataflow import dataflow_problems

OK, MISMATCH, BAD = 0, 1, 2


def _err(message: str) -> None:
    print(f"tt-torch: {message}", file=sys.stderr)


def _load(path: str):
    # a path that is missing, a directory, a FIFO or a device is refused by name, never read
    return runtime.load_binary(path)


def _program(binary, index: int | None) -> int:
    if index is None:
        public = [i for i in range(binary.num_programs) if not binary.program_is_private(i)]
        return public[0] if public else 0
    if not 0 <= index < binary.num_programs:
        names = ", ".join(f"{i}: {binary.program_name(i)}" for i in range(binary.num_programs))
        raise ConfigError(f"--program {index} is out of range: the file has {binary.num_programs} ({names})")
    return index


# --- read ---------------------------------------------------------------------------
def cmd_read(args) -> int:

    binary = _load(args.file)
    if args.section == "mlir" and not args.json:  # MLIR as text, one source after the other
        sources = binary_json(binary, "mlir")["mlir"]
        if not sources:
            print("// this file carries no MLIR (export it with include_mlir=True)")
        for name, text in sources.items():
            print(f"// ---- {name}\n{text.rstrip()}\n")
        return OK
    print(json.dumps(binary_json(binary, args.section), indent=2, default=str))
    return OK


def _stats_ms(seconds: list[float]) -> str:
    """median, p10 and p90 of a list of durations, in ms."""
    if not seconds:
        return "no timed loops"
    median, p10, p90 = _percentiles(seconds)
    return f"median {1e3 * median:.3f} ms, p10 {1e3 * p10:.3f} ms, p90 {1e3 * p90:.3f} ms"


def _percentiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) == 1:
        return values[0], values[0], values[0]
    deciles = statistics.quantiles(values, n=10, method="inclusive")
    return statistics.median(values), deciles[0], deciles[-1]


# --- run ----------------------------------------------------------------------------
def _random_input(desc: dict, generator: torch.Generator) -> torch.Tensor:

    dtype = runtime.torch_dtype(desc["dtype"])
    shape = desc["shape"]
    if dtype.is_floating_point:
        return torch.randn(shape, generator=generator).to(dtype)
    # small non-negative integers: valid indices for embeddings and gathers
    return torch.randint(0, 2, shape, generator=generator, dtype=torch.int64).to(dtype)


def _inputs(
    binary, program: int, golden: dict | None, seed: int, device
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(user inputs, full program inputs): golden or random user inputs, weights from the file,
    const-eval results from its const-eval program (random values when the file carries
    neither, e.g. a bare compiler flatbuffer)."""

    generator = torch.Generator().manual_seed(seed)
    names = set(binary.weight_names)
    consteval = LoadedModel(binary, device)._consteval_values(program)
    user, full = [], []
    for desc in binary.program_inputs(program):
        if desc["arg_type"] != "Input" and desc["name"] in consteval:
            full.append(consteval[desc["name"]])
            continue
        if desc["arg_type"] != "Input" and desc["name"] in names:
            full.append(binary.weight(desc["name"]))
            continue
        if desc["arg_type"] == "Input" and golden is not None:
            key = f"input:{len(user)}"
            if key not in golden:
                raise BinaryError(f"the file has no golden tensor '{key}' for program {program}")
            t = golden[key]
        else:
            t = _random_input(desc, generator)
        if desc["arg_type"] == "Input":
            user.append(t)
        full.append(t)
    return user, full


def _goldens(binary, program: int) -> dict[str, torch.Tensor]:
    return {key: t for key, p, t in binary.goldens() if p == program}


def cmd_run(args) -> int:

    binary = _load(args.file)
    program = _program(binary, args.program)
    golden = None
    if args.golden:
        golden = _goldens(binary, program)
        if not golden:
            raise BinaryError(
                f"{args.file} has no golden tensors for program {program}: export it with "
                "tt_torch.export(..., golden=True), or run without --golden (random inputs)"
            )
    times, table = [], None
    with runtime.open_device(binary) as device:
        user, full = _inputs(binary, program, golden, args.seed, device)
        t0 = time.perf_counter()
        if golden is not None and any(k.startswith("op:") for k in golden):
            op_goldens = {k[3:]: v for k, v in golden.items() if k.startswith("op:")}
            outputs, table = intermediate.verify_program(device, binary, program, full, op_goldens, args.pcc, args.atol)
        else:
            outputs = runtime.submit(device, binary, program, full)
        first = time.perf_counter() - t0
        for _ in range(args.warmup):
            runtime.submit(device, binary, program, full)
        for _ in range(args.loops):
            t0 = time.perf_counter()
            runtime.submit(device, binary, program, full)
            times.append(time.perf_counter() - t0)
    name = binary.program_name(program)
    checked = " (with per-op verification)" if table is not None else ""
    print(
        f"program {program} ('{name}'): {len(outputs)} output(s); first call {1e3 * first:.3f} ms{checked}; "
        f"{args.loops} timed loop(s) after {args.warmup} warm-up: {_stats_ms(times)}"
    )
    status = OK
    for i, out in enumerate(outputs):
        line = f"  output {i}: {list(out.shape)} {out.dtype}"
        if golden is not None:
            expected = golden.get(f"output:{i}")
            if expected is None:
                line += "  (no golden)"
            else:
                pcc = compute_pcc(expected, out.to(expected.dtype) if expected.shape == out.shape else out)
                atol = compute_atol(expected, out)
                ok = pcc >= args.pcc and (args.atol is None or atol <= args.atol)
                status = status if ok else MISMATCH
                rel = compute_relative_error(expected, out)
                line += f"  PCC {pcc:.6f}  atol {atol:.3g}  rel {rel:.3g}  {'ok' if ok else 'MISMATCH'}"
        print(line)
    if table is not None:
        print(table)
        if args.plot:
            table.plot(args.plot)
            print(f"per-op PCC plot written to {args.plot}")
    elif args.plot:
        _err("--plot draws the per-op PCC of --golden on a file with op goldens; nothing was compared")
    if args.save_artifacts:
        _save(args.save_artifacts, args, program, name, user, outputs, first, times, table)
    if status != OK:
        bar = f"PCC >= {args.pcc}" + (f", atol <= {args.atol}" if args.atol is not None else "")
        _err(f"outputs do not match the golden outputs ({bar})")
    return status


def _save(directory, args, program, name, inputs, outputs, first, times, table) -> None:
    os.makedirs(directory, exist_ok=True)
    for kind, tensors in (("input", inputs), ("output", outputs)):
        for i, t in enumerate(tensors):
            torch.save(t, os.path.join(directory, f"{kind}_{i}.pt"))
    summary = {
        "file": os.path.abspath(args.file),
        "program": program,
        "name": name,
        "seed": args.seed,
        "golden": args.golden,
        "first_call_seconds": first,
        "seconds": times,
        "intermediate_verification": table.as_dicts() if table is not None else None,
    }
    with open(os.path.join(directory, "run.json"), "w") as f:
        json.dump(summary, f, indent=2)


# --- perf ---------------------------------------------------------------------------
def cmd_perf(args) -> int:

    binary = _load(args.file)
    program = _program(binary, args.program)
    samples: dict[int, list] = {}  # op index -> [type, location, [seconds of each timed loop]]
    timing = False

    def post_op(event) -> None:
        if timing:
            samples.setdefault(event.index, [event.type, event.loc, []])[2].append(event.seconds)

    runs = []
    with runtime.open_device(binary) as device:
        _, full = _inputs(binary, program, None, args.seed, device)
        for _ in range(args.warmup):  # the first call converts weights and fills caches
            runtime.submit(device, binary, program, full)
        timing = True
        for _ in range(args.loops):
            t0 = time.perf_counter()
            runtime.submit(device, binary, program, full, post_op=post_op)
            runs.append(time.perf_counter() - t0)
    stats = {index: _percentiles(row[2]) for index, row in samples.items()}
    rows = sorted(samples.items(), key=lambda kv: -stats[kv[0]][0])
    total = sum(sum(r[2]) for _, r in rows) or 1.0
    # the compiler's roofline estimate of each op's time on the target chip (not a measurement)
    estimated = {op["index"]: op["estimated_ns"] for op in binary.program_ops(program)}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["op", "type", "location", "median_us", "p10_us", "p90_us", "mean_us", "percent", "estimated_device_us"]
    )
    for index, (op_type, loc, seconds) in rows:
        median, p10, p90 = stats[index]
        estimate = estimated.get(index, 0.0)
        writer.writerow(
            [index, op_type, loc]
            + [f"{1e6 * v:.1f}" for v in (median, p10, p90, sum(seconds) / len(seconds))]
            + [f"{100 * sum(seconds) / total:.1f}", f"{estimate / 1e3:.2f}"]
        )
    if args.plot:
        _plot_ops(args.plot, [(f"{i} {r[0]}", stats[i]) for i, r in rows], binary.program_name(program))
    device_ms = sum(estimated.values()) / 1e6
    summary = (
        f"{len(rows)} ops; a run on the emulated device, {args.loops} loop(s) after {args.warmup} warm-up: "
        f"{_stats_ms(runs)} (estimated {device_ms:.3f} ms on {binary.system_desc_name})"
    )
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            f.write(out.getvalue())
        print(f"{summary}; table written to {args.csv}")
    else:
        sys.stdout.write(out.getvalue())
        print(summary, file=sys.stderr)
    if args.plot:
        print(f"per-op plot written to {args.plot}", file=sys.stderr)
    return OK


def _plot_ops(path: str, rows: list[tuple[str, tuple[float, float, float]]], title: str, top: int = 40) -> None:
    """A horizontal bar per op (median, with a p10-p90 whisker), slowest first, as SVG."""
    rows = rows[:top]
    width, label_w, row_h, pad = 900, 300, 18, 30
    scale = max((p90 for _, (_, _, p90) in rows), default=0.0) or 1.0
    bar_w = width - label_w - 2 * pad
    height = 2 * pad + row_h * len(rows) + 20

    def esc(text: str) -> str:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="monospace" '
        'font-size="11">',
        f'<text x="{pad}" y="{pad - 10}">{esc(title)}: per-op time (us), median with p10-p90, '
        f"slowest {len(rows)}</text>",
    ]
    for k, (label, (median, p10, p90)) in enumerate(rows):
        y = pad + k * row_h
        x0 = pad + label_w
        parts.append(f'<text x="{pad}" y="{y + 12}">{esc(label[:40])}</text>')
        parts.append(
            f'<rect x="{x0}" y="{y + 3}" width="{bar_w * median / scale:.1f}" height="{row_h - 6}" fill="#4a7fb5"/>'
        )
        parts.append(
            f'<line x1="{x0 + bar_w * p10 / scale:.1f}" x2="{x0 + bar_w * p90 / scale:.1f}" y1="{y + row_h / 2}" '
            f'y2="{y + row_h / 2}" stroke="black"/>'
        )
        parts.append(f'<text x="{x0 + bar_w * p90 / scale + 4:.1f}" y="{y + 12}">{1e6 * median:.1f}</text>')
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


# --- query --------------------------------------------------------------------------
def cmd_query(args) -> int:

    devices = [runtime.system_info(name) for name in runtime.system_names()]
    print(json.dumps({"schema_version": ".".join(map(str, runtime.schema_version())), "devices": devices}, indent=2))
    return OK


# --- check --------------------------------------------------------------------------
def cmd_check(args) -> int:

    binary = _load(args.file)  # identifier, structure, version and hash
    problems = []
    arch = binary.arch
    archs = {runtime.system_info(n)["arch"] for n in runtime.system_names()}
    if arch is not None and arch not in archs:
        problems.append(f"its arch {arch} is not one this runtime emulates ({', '.join(sorted(archs))})")

    def inspect(what: str, fn) -> None:
        """One inspection; an error it raises is a reason the file cannot run, not a failed check."""
        try:
            with runtime.translated_errors():
                fn()
        except (BinaryError, TTRuntimeError) as e:
            problems.append(f"{what}: {e}" if what else str(e))

    def program(i: int) -> None:
        missing = sorted({op["type"] for op in binary.program_ops(i) if not op["has_kernel"]})
        if missing:
            problems.append(f"program {i} uses ops this runtime has no kernel for: {', '.join(missing)}")
        for desc in binary.program_inputs(i):
            try:
                runtime.torch_dtype(desc["dtype"])
            except TTRuntimeError as e:
                problems.append(f"program {i} input '{desc['name']}': {e}")

    for i in range(binary.num_programs):
        inspect(f"program {i}", lambda i=i: program(i))
    inspect("", lambda: problems.extend(dataflow_problems(binary)))  # what the runtime would fail on mid-run
    weights = binary.weight_names
    for name in weights:  # embedded bytes, or the side file: present, size and CRC-32
        inspect("", lambda name=name: binary.weight(name))
    inspect("its golden tensors", binary.goldens)
    print(
        f"{args.file}: tt-torch binary, schema {'.'.join(map(str, binary.version))}, "
        f"{binary.num_programs} program(s), {len(weights)} weight(s), system '{binary.system_desc_name}' ({arch})"
    )
    if problems:
        for p in dict.fromkeys(problems):  # two inspections can meet the same fault
            print(f"  cannot run: {p}")
        return BAD
    print("  this runtime can run it")
    return OK


# --- compile ------------------------------------------------------------------------
def cmd_compile(args) -> int:
    """An ONNX model (``.onnx``) or an ExportedProgram saved by ``torch.export.save`` (``.pt2``)
    compiled and exported to one ``.ttnn`` with its weights and goldens."""
    from tt_torch.config import CompilerConfig  # lazy: the compilers load for `tt-torch compile` only
    from tt_torch.errors import CompileError  # lazy: as above

    if not os.path.isfile(args.file):
        raise ConfigError(f"{args.file}: no such file")
    out = args.output or os.path.splitext(args.file)[0] + ".ttnn"
    config = CompilerConfig(target=args.target)
    try:
        if args.file.endswith(".onnx"):
            from tt_torch.onnx_compile import compile_onnx  # lazy: the ONNX frontend, for `tt-torch compile` only

            model = compile_onnx(args.file, config, input_shapes=_input_shapes(args.input_shape))
            try:
                result = model.export(out, embed_limit=args.embed_limit, golden=not args.no_golden)
            finally:
                model.close()
        elif args.file.endswith((".pt2", ".pt")):
            if args.input_shape:
                raise ConfigError(
                    "--input-shape is for ONNX models; an ExportedProgram's example inputs fix its shapes"
                )
            from tt_torch.dynamo.export import export  # lazy: the torch frontend, for `tt-torch compile` only

            program = torch.export.load(args.file)
            example = program.example_inputs
            if example is None or example[1]:
                raise ConfigError(
                    f"{args.file} holds no positional example inputs; save it with "
                    "torch.export.save(torch.export.export(model, (x, ...)), path)"
                )
            result = export(
                program.module(), example[0], out, config, embed_limit=args.embed_limit, golden=not args.no_golden
            )
        else:
            raise ConfigError(f"{args.file}: compile takes an ONNX model (.onnx) or a torch.export.save'd file (.pt2)")
    except CompileError as e:
        _err(f"{args.file} did not compile: {e}")
        return MISMATCH
    side = f", weights in {result.weights_path}" if result.weights_path else ""
    print(
        f"{args.file} -> {result.path}: {len(result.programs)} program(s) ({', '.join(result.programs)}), "
        f"{result.size_bytes} bytes{side}; run it with `tt-torch run {result.path} --golden`"
    )
    return OK


def _input_shapes(items: list[str] | None) -> dict[str, tuple[int, ...]] | None:
    """``["x=1,3,224,224"]`` -> ``{"x": (1, 3, 224, 224)}``."""
    if not items:
        return None
    shapes = {}
    for item in items:
        name, _, dims = item.rpartition("=")
        try:
            shapes[name] = tuple(int(d) for d in dims.split(",") if d.strip())
        except ValueError:
            name = ""
        if not name:
            raise ConfigError(f"--input-shape {item!r}: expected NAME=D,D,... (e.g. input_ids=1,128)")
    return shapes


# --- report -------------------------------------------------------------------------
def cmd_report(argv: Sequence[str]) -> int:
    try:
        from tt_torch.tools import report  # lazy: a tool of its own, loaded for `tt-torch report` only
    except ImportError as e:
        _err(f"the report command needs tt_torch.tools.report, which is not available here ({e})")
        return BAD
    result = report.main(list(argv))
    return int(result or 0)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tt-torch",
        description=__doc__.split("\n\n")[0],
        epilog="environment variables:\n" + env.describe(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=_version())
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    ttnn = "the .ttnn file (from tt_torch.export or tt-torch compile)"

    r = sub.add_parser("read", help="print a .ttnn's sections (JSON; --section mlir as MLIR text)")
    r.add_argument("file", help=ttnn)
    r.add_argument("--section", choices=SECTIONS, help="one section only (default: all)")
    r.add_argument("--json", action="store_true", help="--section mlir as JSON strings too")

    r = sub.add_parser("run", help="run a program on random (or golden) inputs")
    r.add_argument("file", help=ttnn)
    r.add_argument("--program", type=int, help="program index (default: the first public one)")
    r.add_argument("--loops", type=_non_negative, default=1, help="timed runs after the first call (default 1)")
    r.add_argument("--warmup", type=_non_negative, default=0, help="untimed runs before them (default 0)")
    r.add_argument("--golden", action="store_true", help="use the embedded golden inputs and check the outputs")
    r.add_argument("--pcc", type=float, default=0.99, help="required PCC with --golden (default 0.99)")
    r.add_argument("--atol", type=float, default=None, help="required max abs error with --golden (default: none)")
    r.add_argument("--save-artifacts", metavar="DIR", help="write inputs, outputs (.pt) and run.json to DIR")
    r.add_argument("--plot", metavar="FILE.svg", help="with --golden: draw each op's PCC in program order as SVG")
    r.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")

    r = sub.add_parser(
        "perf", help="per-op time table, slowest first, as CSV, with the compiler's estimated device time per op"
    )
    r.add_argument("file", help=ttnn)
    r.add_argument("--program", type=int, help="program index (default: the first public one)")
    r.add_argument("--loops", type=_positive, default=10, help="timed runs (default 10)")
    r.add_argument("--warmup", type=_non_negative, default=2, help="untimed runs before them (default 2)")
    r.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    r.add_argument("--csv", metavar="FILE", help="write the CSV table to FILE instead of stdout")
    r.add_argument("--plot", metavar="FILE.svg", help="also draw each op's median and p10-p90 time as SVG")

    sub.add_parser("query", help="the emulated devices and their descriptions")

    r = sub.add_parser("check", help="verify a .ttnn and say whether this runtime can run it")
    r.add_argument("file", help=ttnn)

    r = sub.add_parser("tt-mlir", help="compile a StableHLO .mlir with the real tt-mlir (compile-only)")
    r.add_argument("file", help="a StableHLO module (.mlir), e.g. a graph's artifacts.last.stablehlo")
    r.add_argument("--target", default=DEFAULT_TARGET, choices=TARGETS, help=f"device (default {DEFAULT_TARGET})")
    r.add_argument("--out", metavar="DIR", help="write every stage's IR, the .ttnn and result.json to DIR")
    r.add_argument("--timeout", type=float, default=60.0, help="seconds tt-mlir may take (default 60)")

    r = sub.add_parser(
        "compile", help="compile an ONNX model (.onnx) or a torch.export.save'd program (.pt2) to a .ttnn"
    )
    r.add_argument("file", help="an ONNX model (.onnx) or a torch.export.save'd ExportedProgram (.pt2)")
    r.add_argument("-o", "--output", metavar="FILE", help="the .ttnn to write (default: FILE with .ttnn)")
    r.add_argument(
        "--input-shape",
        action="append",
        metavar="NAME=D,D,...",
        help="bind an ONNX input's dynamic dims (repeatable)",
    )
    r.add_argument("--target", default=DEFAULT_TARGET, choices=TARGETS, help=f"device (default {DEFAULT_TARGET})")
    r.add_argument(
        "--embed-limit",
        type=int,
        default=1 << 20,
        help="weights of this many bytes or more go to FILE.weights (default 1 MiB)",
    )
    r.add_argument("--no-golden", action="store_true", help="store no golden inputs and outputs")

    sub.add_parser("report", help="op-by-op reports (tt_torch.tools.report); arguments are passed on", add_help=False)

    r = sub.add_parser("cache", help="the on-disk compile cache: its size and entries, or clear it")
    r.add_argument(
        "action", choices=("info", "clear"), help="info: where, how many entries, how large; clear: empty it"
    )
    return p


def _version() -> str:
    schema = ".".join(map(str, runtime.schema_version()))
    return f"tt-torch {tt_torch.__version__} (flatbuffer schema {schema})"


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


# --- tt-mlir --------------------------------------------------------------------------
def cmd_tt_mlir(args) -> int:
    """Exit 0 when tt-mlir compiled the module, 1 when it rejected it (or crashed), 2 when it is absent."""

    if not os.path.isfile(args.file):
        raise ConfigError(f"{args.file}: no such file")
    with open(args.file) as f:
        result = tt_mlir.compile_stablehlo(f.read(), target=args.target, timeout=args.timeout)
    summary = result.summary()
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        for stage, text in result.irs.items():
            with open(os.path.join(args.out, f"{stage}.mlir"), "w") as f:
                f.write(text)
        if result.flatbuffer is not None:
            with open(os.path.join(args.out, "model.ttnn"), "wb") as f:
                f.write(result.flatbuffer)
        with open(os.path.join(args.out, "result.json"), "w") as f:
            json.dump(summary, f, indent=1)
    print(json.dumps(summary, indent=1))
    if result.status == "unavailable":
        _err(result.error)
        return BAD
    return OK if result.ok else MISMATCH


# --- cache --------------------------------------------------------------------------
def cmd_cache(args) -> int:
    from tt_torch.compiler.cache import CompileCache  # lazy: the compiler loads for `tt-torch cache` only

    cache = CompileCache.open(None)
    if cache is None:
        print(f"the compile cache is off ({env.CACHE_DIR.name}={env.CACHE_DIR.get()!r}, or not writable)")
        return OK
    if args.action == "clear":
        print(f"removed {cache.clear()} entries from {cache.directory}")
        return OK
    info = cache.info()
    print(
        f"{info['directory']}: {info['entries']} entries, {info['bytes'] / 1e6:.1f} MB of {info['limit_bytes'] / 1e6:.0f} MB "
        f"({env.CACHE_SIZE.name}); least recently used {info['oldest_use'] or '-'}, most {info['newest_use'] or '-'}"
    )
    return OK


COMMANDS = {
    "read": cmd_read,
    "run": cmd_run,
    "perf": cmd_perf,
    "query": cmd_query,
    "check": cmd_check,
    "tt-mlir": cmd_tt_mlir,
    "compile": cmd_compile,
    "cache": cmd_cache,
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "report":
        return cmd_report(argv[1:])
    try:
        args = parser().parse_args(argv)
    except SystemExit as e:  # argparse: usage errors exit 2, --help exits 0
        return int(e.code or 0)

    try:
        with runtime.translated_errors():  # the extension's errors as tt-torch's
            return COMMANDS[args.command](args)
    except (BinaryError, ConfigError) as e:
        _err(str(e))
        return BAD
    except TTRuntimeError as e:
        _err(str(e))
        return MISMATCH
    except BrokenPipeError:  # `tt-torch perf x.ttnn | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return OK


if __name__ == "__main__":
    sys.exit(main())
