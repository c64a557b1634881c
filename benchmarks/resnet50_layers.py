"""ResNet-50's time per layer class: tt-torch's runtime against ONNX Runtime, in one process.

tt-torch: the model exported to a ``.ttnn`` and run on a device with fast numerics, each
op timed by the runtime (submit's post-op hook: the kernel's own seconds, the executor's
dispatch between ops excluded). ONNX Runtime: its profiler's per-node kernel times
(``SessionOptions.enable_profiling``), default graph optimizations (NCHWc convolutions with
fused residual sums and relus). Each op's best time over ``--loops`` runs, summed per class
(the minimum: on a shared machine, time lost to other processes only ever adds); a
conv's class comes from its weight (kernel size), its input channels and the ratio of its
input to its output height (stride). Both columns also give the plain call's median and
best time (no hooks, no profiler).

    python benchmarks/resnet50_layers.py [--loops 20] [--md benchmarks/results/resnet50_layers.md]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_one import export_onnx, onnx_session  # noqa: E402
from workloads import WORKLOADS  # noqa: E402

CLASSES = (
    "conv 7x7/2, 3 channels (first layer)",
    "conv 1x1",
    "conv 1x1 with the residual sum",
    "conv 1x1/2 (downsample)",
    "conv 3x3",
    "conv 3x3/2",
    "max pool",
    "global average pool",
    "residual add",
    "relu",
    "linear (classifier)",
    "reorders, reshapes, permutes",
    "other (deallocate, host transfers, constants)",
)


def conv_class(in_channels: int, kernel: int, stride: int, residual: bool = False) -> str:
    if in_channels == 3:
        return CLASSES[0]
    if kernel == 1:
        return CLASSES[3] if stride > 1 else CLASSES[2] if residual else CLASSES[1]
    return CLASSES[5] if stride > 1 else CLASSES[4]


def _call_ms(fn, loops: int) -> tuple[float, float]:
    """(median, best) milliseconds of ``loops`` calls."""
    times = []
    for _ in range(loops):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3, min(times) * 1e3


# --- tt-torch ------------------------------------------------------------------------------
_TENSOR = re.compile(r"tensor<([0-9x]+)x[a-z]")


def _tt_class(event_type: str, debug: str, output_rows: int | None) -> str:
    name = debug.split("(", 1)[0].strip()
    if name == "ttnn.conv2d":
        shapes = [[int(d) for d in m.split("x")] for m in _TENSOR.findall(debug)[:2]]
        (_, _, rows, channels), (_, _, kernel, _) = shapes
        stride = round((rows / output_rows) ** 0.5) if output_rows else 1
        # input, weight, bias and residual (ResNet's convs all have a bias: the batch norm's)
        residual = debug.split(")", 1)[0].count("tensor<") == 4
        return conv_class(channels, kernel, stride, residual)
    return {
        "ttnn.max_pool2d": CLASSES[6],
        "ttnn.sum": CLASSES[7],
        "ttnn.mean": CLASSES[7],
        "ttnn.div": CLASSES[7],
        "ttnn.avg_pool2d": CLASSES[7],
        "ttnn.add": CLASSES[8],
        "ttnn.relu": CLASSES[9],
        "ttnn.linear": CLASSES[10],
        "ttnn.matmul": CLASSES[10],
        "ttnn.reshape": CLASSES[11],
        "ttnn.permute": CLASSES[11],
        "ttnn.to_layout": CLASSES[11],
    }.get(name, CLASSES[12])


def profile_tt(model, inputs, loops: int) -> dict:
    import tt_torch
    from tt_torch import runtime
    from tt_torch.tools.utils import CompilerConfig

    path = os.path.join(tempfile.mkdtemp(), "resnet50.ttnn")
    tt_torch.export(model, inputs, path, compiler_config=CompilerConfig(numerics="fast"))
    loaded = runtime.load(path, numerics="fast")
    program = loaded.public[0]
    full = loaded.full_inputs(program, list(inputs))
    ops = {op["index"]: op for op in loaded.binary.program_ops(program)}

    def submit(**hooks):
        return runtime.submit(loaded.device, loaded.binary, program, full, **hooks)

    rows: dict[int, int] = {}  # conv op index -> its output rows (N*OH*OW)

    def shapes(event) -> None:
        if event.type == "Conv2dOp" and event.output is not None:
            rows[event.index] = event.output.shape[-2]

    for _ in range(3):  # weights packed, caches filled
        submit()
    submit(post_op=shapes)
    call_ms = _call_ms(submit, loops)
    samples: dict[int, list[float]] = defaultdict(list)

    def timed(event) -> None:
        samples[event.index].append(event.seconds)

    for _ in range(loops):
        submit(post_op=timed)
    per_class: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for index, seconds in samples.items():
        cls = _tt_class(ops[index]["type"], ops[index]["debug"], rows.get(index))
        per_class[cls] += min(seconds) * 1e3
        counts[cls] += 1
    return {"call_ms": call_ms, "ms": dict(per_class), "ops": dict(counts), "total_ops": len(samples)}


# --- ONNX Runtime ----------------------------------------------------------------------------
def _shapes(arg: list) -> list[list[int]]:
    return [next(iter(d.values())) for d in arg]


def _ort_class(op: str, inputs: list[list[int]], outputs: list[list[int]]) -> str:
    if op in ("Conv", "FusedConv"):
        x, w, y = inputs[0], inputs[1], outputs[0]
        # FusedConv's inputs: X, W, B and Z, the sum's other operand
        return conv_class(x[1], w[2], max(1, round(x[2] / y[2])), residual=len(inputs) == 4)
    return {
        "MaxPool": CLASSES[6],
        "GlobalAveragePool": CLASSES[7],
        "ReduceMean": CLASSES[7],
        "Add": CLASSES[8],
        "Sum": CLASSES[8],
        "Relu": CLASSES[9],
        "Gemm": CLASSES[10],
        "MatMul": CLASSES[10],
        "FusedGemm": CLASSES[10],
        "ReorderInput": CLASSES[11],
        "ReorderOutput": CLASSES[11],
        "Reshape": CLASSES[11],
        "Flatten": CLASSES[11],
        "Transpose": CLASSES[11],
    }.get(op, CLASSES[12])


def profile_ort(model, inputs, loops: int) -> dict:
    import onnxruntime as ort

    path = export_onnx(model, inputs)
    threads = ort.SessionOptions()
    threads.intra_op_num_threads = torch.get_num_threads()
    plain, feeds = onnx_session(path, inputs, threads)
    for _ in range(3):
        plain.run(None, feeds)
    call_ms = _call_ms(lambda: plain.run(None, feeds), loops)
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.enable_profiling = True
    options.profile_file_prefix = os.path.join(tempfile.mkdtemp(), "ort_resnet50")
    session, feeds = onnx_session(path, inputs, options)
    for _ in range(3 + loops):
        session.run(None, feeds)
    profile = session.end_profiling()
    with open(profile) as f:
        events = json.load(f)
    os.remove(profile)
    timed = sorted((e for e in events if e.get("name") == "model_run"), key=lambda e: e["ts"])[-loops:]
    samples: dict[str, list[float]] = defaultdict(list)
    kinds: dict[str, str] = {}
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        if not any(r["ts"] <= e["ts"] <= r["ts"] + r["dur"] for r in timed):
            continue
        args = e["args"]
        samples[e["name"]].append(e["dur"] / 1e3)
        kinds[e["name"]] = _ort_class(
            args.get("op_name", ""),
            _shapes(args.get("input_type_shape", [])),
            _shapes(args.get("output_type_shape", [])),
        )
    per_class: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for name, ms in samples.items():
        per_class[kinds[name]] += min(ms)
        counts[kinds[name]] += 1
    return {"call_ms": call_ms, "ms": dict(per_class), "ops": dict(counts), "total_ops": len(samples)}


def _without_conv_fusion() -> None:
    from tt_torch.compiler.transforms import fusion, layout

    fusion.RULES["ttir.add"] = [rule for rule in fusion.RULES["ttir.add"] if rule[0] != "conv2d-residual"]
    fusion.RULES.pop("ttir.permute", None)
    layout._fold_reshapes = lambda module: 0
    os.environ["TT_TORCH_CACHE_DIR"] = "off"  # a cached program would be the fused one


def _without_residual_in_place() -> None:
    from tt_torch.compiler import pipelines

    pipelines.PIPELINES = {
        name: [p for p in passes if p != "ttnn-residual-in-place"] for name, passes in pipelines.PIPELINES.items()
    }
    os.environ["TT_TORCH_CACHE_DIR"] = "off"  # a cached program would have the residuals marked


def table(tt: dict, ort: dict, command: str) -> str:
    lines = [
        "| layer class | tt-torch ms (ops) | ONNX Runtime ms (nodes) | ratio |",
        "|---|---:|---:|---:|",
    ]
    for cls in CLASSES:
        a, b = tt["ms"].get(cls, 0.0), ort["ms"].get(cls, 0.0)
        if not a and not b:
            continue
        ratio = f"{a / b:.2f}" if b else "-"
        lines.append(f"| {cls} | {a:.2f} ({tt['ops'].get(cls, 0)}) | {b:.2f} ({ort['ops'].get(cls, 0)}) | {ratio} |")
    a, b = sum(tt["ms"].values()), sum(ort["ms"].values())
    lines.append(f"| sum of the ops | {a:.2f} ({tt['total_ops']}) | {b:.2f} ({ort['total_ops']}) | {a / b:.2f} |")
    for i, what in enumerate(("median", "best")):
        a, b = tt["call_ms"][i], ort["call_ms"][i]
        lines.append(f"| whole call, {what} (no hooks, no profiler) | {a:.2f} | {b:.2f} | {a / b:.2f} |")
    return "\n".join(lines) + f"\n\n`{command}`, {torch.get_num_threads()} threads.\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="a small ResNet, for a smoke run")
    parser.add_argument("--md", help="write the table (Markdown) to this file")
    parser.add_argument("--json", help="write the raw figures to this file")
    parser.add_argument(
        "--without-conv-fusion",
        action="store_true",
        help="compile as before the residual fusion: the conv2d-residual and permute-pair rules and the "
        "reshape folding off (the 'before' table)",
    )
    parser.add_argument(
        "--without-residual-in-place",
        action="store_true",
        help="compile without the ttnn-residual-in-place pass: every fused residual sum written into a fresh "
        "output (the 'before' of the sum accumulated into the residual's own buffer)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="threads of both systems (default: PyTorch's default, which ONNX Runtime's session also takes); "
        "1 gives per-op times that other processes on a shared machine disturb the least",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.without_conv_fusion:
        _without_conv_fusion()
    if args.without_residual_in_place:
        _without_residual_in_place()
    torch.manual_seed(0)
    model, inputs = WORKLOADS["resnet50"](args.quick)
    model.eval()
    with torch.no_grad():
        ort = profile_ort(model, inputs, args.loops)
        gc.collect()  # ONNX Runtime's sessions and their thread pool gone before tt-torch runs
        tt = profile_tt(model, inputs, args.loops)
    command = "python benchmarks/resnet50_layers.py " + " ".join(sys.argv[1:])
    text = table(tt, ort, command.strip())
    print(text)
    if args.md:
        with open(args.md, "w") as f:
            f.write(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"tt": tt, "onnxruntime": ort}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
