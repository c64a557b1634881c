"""How fast the matrix kernels alone let a workload be: the floor under the 0.9 x ONNX Runtime bar.

Two measurements, in this process, on this machine:

1. ONNX Runtime's own profile of each workload: the share of its run time spent in
   matrix ops (Gemm, MatMul, Conv and their fused forms). If tt-torch's matrix ops ran
   exactly as fast as ONNX Runtime's and everything else were free, tt-torch would take
   that share of ONNX Runtime's time.
2. One product at the workloads' shapes under each kernel the runtime could call: ATen's
   ``F.linear`` (MKL), oneDNN with the weight reordered once (what tt-torch runs), and
   ONNX Runtime's Gemm (MLAS), as GFLOP/s.

Reaching 0.9 x ONNX Runtime needs tt-torch's matrix kernels to be faster than ONNX Runtime's
by more than what is left outside them; (2) says whether any kernel on this CPU is.

    python benchmarks/kernel_floor.py [--workloads mlp gpt2] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_one import export_onnx, onnx_session  # noqa: E402
from workloads import WORKLOADS  # noqa: E402

MATRIX_OPS = ("Gemm", "MatMul", "Conv", "FusedGemm", "FusedMatMul", "FusedConv", "NchwcConv", "MatMulNBits")
# (rows, in features, out features) of the workloads' linears
SHAPES = {
    "mlp": [(64, 784, 512), (64, 512, 512)],
    "bert_base": [(128, 768, 768), (128, 768, 3072), (128, 3072, 768)],
    "gpt2": [(64, 768, 2304), (64, 768, 3072), (64, 3072, 768)],
}


def ort_matrix_share(name: str, runs: int) -> dict:
    import onnxruntime as ort

    torch.manual_seed(0)
    model, inputs = WORKLOADS[name](False)
    model.eval()
    with torch.no_grad():
        path = export_onnx(model, inputs)
    session, feeds = onnx_session(path, inputs)
    walls = []
    for _ in range(3 + 5 * runs):
        t = time.perf_counter()
        session.run(None, feeds)
        walls.append(time.perf_counter() - t)
    walls = walls[3:]
    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"ort_{name}_{os.getpid()}")
    session, feeds = onnx_session(path, inputs, options)
    for _ in range(3 + runs):
        session.run(None, feeds)
    profile = session.end_profiling()
    events = json.load(open(profile))
    os.remove(profile)
    # the node kernels inside each of the timed runs
    timed = sorted((e for e in events if e.get("name") == "model_run"), key=lambda e: e["ts"])[-runs:]
    nodes = [
        e
        for e in events
        if e.get("cat") == "Node"
        and e["name"].endswith("_kernel_time")
        and any(r["ts"] <= e["ts"] <= r["ts"] + r["dur"] for r in timed)
    ]
    run_us = sum(r["dur"] for r in timed)
    matrix = sum(e["dur"] for e in nodes if e["args"].get("op_name") in MATRIX_OPS)
    other = sum(e["dur"] for e in nodes) - matrix
    return {
        "workload": name,
        "ort_ms": statistics.median(walls) * 1e3,
        "matrix_share": matrix / run_us,
        "other_share": other / run_us,
        "outside_share": max(run_us - matrix - other, 0) / run_us,
    }


def _median_us(fn, iters: int = 200) -> float:
    for _ in range(20):
        fn()
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e6


def gemm_rates(m: int, k: int, n: int) -> dict:
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    x, w, b = torch.randn(m, k), torch.randn(n, k), torch.randn(n)
    packed = torch.ops.mkldnn._reorder_linear_weight(w, m)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)],
        "gemm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [m, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])],
        [numpy_helper.from_array(w.numpy(), "w"), numpy_helper.from_array(b.numpy(), "b")],
    )
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    session = ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    xn = x.numpy()
    us = {
        "aten_linear": _median_us(lambda: F.linear(x, w, b)),
        "onednn_packed": _median_us(lambda: torch.ops.mkldnn._linear_pointwise(x, packed, b, "none", [], "")),
        "ort_gemm": _median_us(lambda: session.run(None, {"x": xn})),
    }
    return {kernel: 2 * m * k * n / t / 1e3 for kernel, t in us.items()}  # GFLOP/s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=["mlp", "resnet50", "bert_base", "gpt2"])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)

    lines = [
        "# The matrix-kernel floor under the 0.9 x ONNX Runtime bar",
        "",
        f"`python benchmarks/kernel_floor.py` on {os.cpu_count()} cores, torch {torch.__version__}.",
        "",
        "Shares of ONNX Runtime's run time (its own profile; the wall time is without profiling):",
        "",
        "| workload | ORT (ms) | matrix ops | other kernels | outside kernels | matrix ops at ORT's speed, rest free (ms) | 0.9 x ORT (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in args.workloads:
        r = ort_matrix_share(name, args.runs)
        lines.append(
            f"| {name} | {r['ort_ms']:.3f} | {r['matrix_share']:.0%} | {r['other_share']:.0%} | "
            f"{r['outside_share']:.0%} | {r['matrix_share'] * r['ort_ms']:.3f} | {0.9 * r['ort_ms']:.3f} |"
        )
        print(lines[-1], flush=True)
    lines += [
        "",
        "One linear at the workloads' shapes, GFLOP/s (higher is faster):",
        "",
        "| linear (rows x in x out) | ATen F.linear | oneDNN, packed weight | ORT Gemm |",
        "|---|---|---|---|",
    ]
    for name in args.workloads:
        for m, k, n in SHAPES.get(name, []):
            g = gemm_rates(m, k, n)
            lines.append(
                f"| {name} {m}x{k}x{n} | {g['aten_linear']:.0f} | {g['onednn_packed']:.0f} | {g['ort_gemm']:.0f} |"
            )
            print(lines[-1], flush=True)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "kernel_floor.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
