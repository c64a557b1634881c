"""Where a transformer's time goes: tt-torch's runtime per op class against ONNX Runtime's own profile.

Both systems run the same workload (benchmarks/workloads.py) in this process, their runs
interleaved. tt-torch: the compiled graph's program is run on the device with a post-op hook
timing each TTNN op, with fast numerics (or ``--numerics emulated``); ONNX Runtime:
``SessionOptions.enable_profiling``, each node's kernel time. Each op's time is its median
over the runs (robust to preemption on a shared machine). Ops are grouped in classes
(linear, attention, layer norm, gelu, add, data movement, embedding, other) by their op
type; the table gives ms per call. ``--threads`` sets both systems' intra-op threads. Where
ONNX Runtime fuses a class into another (SkipLayerNormalization: the residual add in the
layer norm; tt-torch: gelu in the linear, attention's products and mask in one op), the
fused op's time counts in the class it is named after.

    python benchmarks/transformer_profile.py [--workloads bert_base gpt2] [--runs 10] [--threads N] [--md FILE]
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
    "linear": ("Gemm", "MatMulNBits"),
    # MatMul / FusedMatMul without a weight: attention's two products in these models
    "attention": ("Attention", "MultiHeadAttention", "Softmax", "MatMul", "FusedMatMul", "Where"),
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


class TTSide:
    """The workload compiled by tt-torch; ``profiled()`` runs its program with a timing hook."""

    def __init__(self, name: str, numerics: str):
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
        self.call = lambda: compiled(*inputs)
        self.call()
        art = artifacts.last
        self.runtime = runtime
        self.binary = runtime.load_binary(art.flatbuffer)
        dtypes = [runtime.torch_dtype(d["dtype"]) for d in self.binary.program_inputs(0)]
        self.host = [t.to(dt) for t, dt in zip(art.program_inputs, dtypes)]
        self.device = runtime.open_device(self.binary, numerics=numerics)
        self.samples: dict[int, list] = {}  # op index -> [class, kind, [seconds of each run]]

    def _post_op(self, event) -> None:
        kind = event.type + (f" {event.debug.split('(')[0][:40]}" if event.type.startswith("Eltwise") else "")
        row = self.samples.setdefault(event.index, [_tt_class(event.type, event.debug), kind, []])
        row[2].append(event.seconds)

    def profiled(self) -> None:
        self.runtime.submit(self.device, self.binary, 0, self.host, post_op=self._post_op)

    def result(self) -> dict:
        self.device.close()
        # each op's median over the runs: robust to the preemptions of a shared machine
        per_class: dict[str, float] = collections.defaultdict(float)
        per_type: dict[str, list] = {}
        for cls, kind, seconds in self.samples.values():
            ms = statistics.median(seconds) * 1e3
            per_class[cls] += ms
            row = per_type.setdefault(kind, [0.0, 0])
            row[0] += ms
            row[1] += 1
        return {
            "classes": {c: per_class[c] for c in CLASSES},
            "types": dict(sorted(per_type.items(), key=lambda kv: -kv[1][0])),
        }


class OrtSide:
    """The workload's ONNX export in ONNX Runtime, plain and with its profiler on."""

    def __init__(self, name: str):
        import onnxruntime as ort

        torch.manual_seed(0)
        model, inputs = WORKLOADS[name](False)
        model.eval()
        with torch.no_grad():
            path = export_onnx(model, inputs)
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session, feeds = onnx_session(path, inputs, options)
        self.call = lambda: session.run(None, feeds)
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"ort_{name}_{os.getpid()}")
        self.session, profiled_feeds = onnx_session(path, inputs, options)
        self.profiled = lambda: self.session.run(None, profiled_feeds)

    def result(self, runs: int) -> dict:
        profile = self.session.end_profiling()
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
            "classes": {c: per_class[c] for c in CLASSES},
            "types": dict(sorted(per_type.items(), key=lambda kv: -kv[1])),
        }


def profile(name: str, runs: int, numerics: str) -> tuple[dict, dict]:
    """Both systems, their runs interleaved so that both see the same machine."""
    tt, onnx = TTSide(name, numerics), OrtSide(name)
    walls: dict[str, list] = {"tt": [], "ort": []}
    for i in range(3 + runs):
        if i == 3:  # after the warm-up
            tt.samples.clear()
        for key, side in (("tt", tt), ("ort", onnx)):
            t = time.perf_counter()
            side.call()
            walls[key].append(time.perf_counter() - t)
            side.profiled()
    tt_result, ort_result = tt.result(), onnx.result(runs)
    for key, result in (("tt", tt_result), ("ort", ort_result)):
        result["wall_ms"] = statistics.median(walls[key][3:]) * 1e3
    return tt_result, ort_result


def table(name: str, tt: dict, onnx: dict) -> str:
    lines = [
        f"### {name}",
        "",
        f"Wall per call (median, unprofiled): tt-torch {tt['wall_ms']:.2f} ms, ONNX Runtime {onnx['wall_ms']:.2f} ms.",
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
        tt, onnx = profile(name, args.runs, args.numerics)
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
