"""Where a transformer's time goes: tt-torch's runtime per op class against ONNX Runtime's own profile.

Both systems run the same workload (benchmarks/workloads.py) in this process. tt-torch: the
compiled graph's program is run on the device with a post-op hook timing each TTNN op, with
fast numerics (or ``--numerics emulated``); ONNX Runtime: ``SessionOptions.enable_profiling``,
each node's kernel time. Each op's time is its median over the runs. Ops are grouped in classes (linear, attention, layer norm, gelu,
add, data movement, embedding, other) by their op type; the table gives ms per call.

    python benchmarks/transformer_profile.py [--workloads bert_base gpt2] [--runs 10] [--md FILE]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_one import export_onnx, onnx_session  # noqa: E402
from workloads import WORKLOADS  # noqa: E402

CLASSES = ("linear", "attention", "layer norm", "gelu", "add", "data movement", "embedding", "other")

# TTNN op types (the flatbuffer's OpType names) and ONNX Runtime's op names, by class
_TT = {
    "linear": ("LinearOp", "MatmulOp"),
    "attention": ("ScaledDotProductAttentionOp", "SoftmaxOp"),
    "layer norm": ("LayerNormOp", "RMSNormOp"),
    "gelu": (),
    "add": (),
    "data movement": (
        "ReshapeOp",
        "PermuteOp",
        "TransposeOp",
        "SliceOp",
        "SliceStaticOp",
        "ConcatOp",
        "RepeatOp",
        "ToLayoutOp",
        "ToMemoryConfigOp",
        "TypecastOp",
        "ToDeviceOp",
        "FromDeviceOp",
        "DeallocateOp",
        "SplitOp",
    ),
    "embedding": ("EmbeddingOp",),
}
_ORT = {
    "linear": ("Gemm", "MatMul", "FusedGemm", "FusedMatMul", "MatMulNBits"),
    "attention": ("Attention", "MultiHeadAttention", "Softmax"),
    "layer norm": ("LayerNormalization", "SkipLayerNormalization", "SimplifiedLayerNormalization"),
    "gelu": ("Gelu", "BiasGelu", "FastGelu", "Erf", "Tanh", "Pow"),
    "add": ("Add",),
    "data movement": ("Reshape", "Transpose", "Split", "Slice", "Concat", "Squeeze", "Unsqueeze", "Cast", "Expand"),
    "embedding": ("Gather", "EmbedLayerNormalization"),
}


def _tt_class(op_type: str, debug: str) -> str:
    for cls, names in _TT.items():
        if op_type in names:
            return cls
    text = debug.lower()
    if op_type in ("EltwiseUnaryOp", "EltwiseUnaryCompositeOp") and ("gelu" in text or "tanh" in text or "erf" in text):
        return "gelu"
    if op_type == "EltwiseBinaryOp" and "add" in text:
        return "add"
    return "other"


def _ort_class(op_name: str) -> str:
    for cls, names in _ORT.items():
        if op_name in names:
            return cls
    return "other"


def tt_profile(name: str, runs: int, numerics: str) -> dict:
    from tt_torch import runtime
    from tt_torch.dynamo.artifacts import CompileArtifacts
    from tt_torch.dynamo.backend import BackendOptions
    from tt_torch.tools.utils import CompilerConfig

    torch.manual_seed(0)
    model, inputs = WORKLOADS[name](False)
    model.eval()
    artifacts = CompileArtifacts()
    options = BackendOptions(compiler_config=CompilerConfig(numerics=numerics), artifacts=artifacts)
    compiled = torch.compile(model, backend="tt", dynamic=False, options=options)
    walls = []
    with torch.no_grad():
        for _ in range(3 + runs):
            t = time.perf_counter()
            compiled(*inputs)
            walls.append(time.perf_counter() - t)
    art = artifacts.last
    binary = runtime.load_binary(art.flatbuffer)
    samples: dict[int, list] = {}  # op index -> [class, kind, [seconds of each run]]
    timing = False

    def post_op(event) -> None:
        if timing:
            kind = event.type + (f" {event.debug.split('(')[0][:40]}" if event.type.startswith("Eltwise") else "")
            row = samples.setdefault(event.index, [_tt_class(event.type, event.debug), kind, []])
            row[2].append(event.seconds)

    dtypes = [runtime.torch_dtype(d["dtype"]) for d in binary.program_inputs(0)]
    host = [t.to(dt) for t, dt in zip(art.program_inputs, dtypes)]
    with runtime.open_device(binary, numerics=numerics) as device:
        for _ in range(3):
            runtime.submit(device, binary, 0, host)
        timing = True
        submits = []
        for _ in range(runs):
            t = time.perf_counter()
            runtime.submit(device, binary, 0, host, post_op=post_op)
            submits.append(time.perf_counter() - t)
    # each op's median over the runs: robust to the preemptions of a shared machine
    per_class: dict[str, float] = collections.defaultdict(float)
    per_type: dict[str, list] = {}
    for cls, kind, seconds in samples.values():
        ms = statistics.median(seconds) * 1e3
        per_class[cls] += ms
        row = per_type.setdefault(kind, [0.0, 0])
        row[0] += ms
        row[1] += 1
    return {
        "wall_ms": statistics.median(walls[3:]) * 1e3,
        "submit_ms": statistics.median(submits) * 1e3,
        "classes": {c: per_class[c] for c in CLASSES},
        "types": dict(sorted(per_type.items(), key=lambda kv: -kv[1][0])),
    }


def ort_profile(name: str, runs: int) -> dict:
    import onnxruntime as ort

    torch.manual_seed(0)
    model, inputs = WORKLOADS[name](False)
    model.eval()
    with torch.no_grad():
        path = export_onnx(model, inputs)
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session, feeds = onnx_session(path, inputs, options)
    walls = []
    for _ in range(3 + runs):
        t = time.perf_counter()
        session.run(None, feeds)
        walls.append(time.perf_counter() - t)
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.enable_profiling = True
    options.profile_file_prefix = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"ort_{name}_{os.getpid()}")
    session, feeds = onnx_session(path, inputs, options)
    for _ in range(3 + runs):
        session.run(None, feeds)
    profile = session.end_profiling()
    events = json.load(open(profile))
    os.remove(profile)
    timed = sorted((e for e in events if e.get("name") == "model_run"), key=lambda e: e["ts"])[-runs:]
    nodes: dict[str, list] = {}  # node name -> [op name, [us of each run]]
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        if not any(r["ts"] <= e["ts"] <= r["ts"] + r["dur"] for r in timed):
            continue
        nodes.setdefault(e["name"], [e["args"].get("op_name", "?"), []])[1].append(e["dur"])
    per_class: dict[str, float] = collections.defaultdict(float)
    per_type: dict[str, float] = collections.defaultdict(float)
    for op, us in nodes.values():
        ms = statistics.median(us) / 1e3
        per_class[_ort_class(op)] += ms
        per_type[op] += ms
    return {
        "wall_ms": statistics.median(walls[3:]) * 1e3,
        "run_ms": statistics.median(r["dur"] for r in timed) / 1e3,
        "classes": {c: per_class[c] for c in CLASSES},
        "types": dict(sorted(per_type.items(), key=lambda kv: -kv[1])),
    }


def table(name: str, tt: dict, onnx: dict) -> str:
    lines = [
        f"### {name}",
        "",
        f"Wall per call: tt-torch {tt['wall_ms']:.2f} ms (submit alone {tt['submit_ms']:.2f} ms), "
        f"ONNX Runtime {onnx['wall_ms']:.2f} ms (profiled run {onnx['run_ms']:.2f} ms).",
        "",
        "| op class | tt-torch ms | ONNX Runtime ms |",
        "|---|---:|---:|",
    ]
    for c in CLASSES:
        lines.append(f"| {c} | {tt['classes'][c]:.2f} | {onnx['classes'][c]:.2f} |")
    lines.append(f"| **sum of ops** | {sum(tt['classes'].values()):.2f} | {sum(onnx['classes'].values()):.2f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=["bert_base", "gpt2"])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--numerics", default="fast", choices=("fast", "emulated"))
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads of both systems (0: torch's default)")
    parser.add_argument("--md", help="write the tables to this Markdown file")
    parser.add_argument("--types", action="store_true", help="also print the time per op type")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = []
    for name in args.workloads:
        tt = tt_profile(name, args.runs, args.numerics)
        onnx = ort_profile(name, args.runs)
        out.append(table(name, tt, onnx))
        print(out[-1])
        if args.types:
            for k, (ms, n) in tt["types"].items():
                print(f"  tt  {k:60s} {n:4d} {ms:8.3f} ms")
            for k, ms in onnx["types"].items():
                print(f"  ort {k:60s} {ms:8.3f} ms")
    if args.md:
        with open(args.md, "w") as f:
            f.write("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
