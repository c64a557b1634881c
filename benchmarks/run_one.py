"""Measures one workload under one system, in this process, and prints one JSON line.

    python benchmarks/run_one.py WORKLOAD SYSTEM [--iters 20] [--quick]

SYSTEM: eager | inductor | onnxruntime | tt. First call = everything up to the
first result (compile, export, session creation). Steady state: the median
of ``--iters`` timed calls after ``--warmup`` untimed ones. Every system runs under
``torch.inference_mode()``, PyTorch's recommendation for inference (no autograd
bookkeeping, no version counters on the tensors made inside it).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workloads import WORKLOADS  # noqa: E402

SYSTEMS = ("eager", "inductor", "onnxruntime", "tt")


def cold_process(cmd: list[str], timeout: float) -> dict:
    """Runs a measuring process (``cmd`` prints one JSON line) cold: inductor gets an empty
    cache directory of its own (its default, shared one in /tmp, would make a second run's
    compile a cache hit) and tt-torch's compile cache is off. Returns the process's last JSON
    line, or ``{"error": ...}`` with its exit status and last line of output."""
    with tempfile.TemporaryDirectory(prefix="bench-inductor-") as cache:
        env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=cache, TT_TORCH_CACHE_DIR="off")
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"error": f"exit {proc.returncode}: {tail[0][:160]}"}
    return json.loads(lines[-1])


def export_onnx(model: torch.nn.Module, inputs: tuple) -> str:
    path = os.path.join(tempfile.mkdtemp(), "model.onnx")
    try:
        torch.onnx.export(model, inputs, path, dynamo=False)
    except Exception:  # noqa: BLE001 - the TorchScript exporter lacks some ops (aten::diff): use torch.export's
        torch.onnx.export(model, inputs, path, dynamo=True)
    return path


def onnx_session(path: str, inputs: tuple, options=None):
    """ONNX Runtime's CPU session for the ONNX model at `path`, and its input feeds."""
    import onnxruntime as ort

    session = ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session, {n: t.numpy() for n, t in zip(names, inputs)}


def _callable(system: str, model: torch.nn.Module, inputs: tuple):
    if system == "eager":
        return lambda: model(*inputs)
    if system == "inductor":
        compiled = torch.compile(model)
        return lambda: compiled(*inputs)
    if system == "tt":
        from tt_torch.dynamo.backend import BackendOptions
        from tt_torch.tools.utils import CompilerConfig

        # deployment speed: the device's numerics emulation off (benchmarks/emulation_overhead.py
        # measures what it costs)
        options = BackendOptions(compiler_config=CompilerConfig(numerics="fast"))
        compiled = torch.compile(model, backend="tt", dynamic=False, options=options)
        return lambda: compiled(*inputs)
    if system == "onnxruntime":
        session, feeds = onnx_session(export_onnx(model, inputs), inputs)
        return lambda: session.run(None, feeds)
    raise SystemExit(f"unknown system {system!r}; known: {', '.join(SYSTEMS)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("system", choices=SYSTEMS)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small models, for a smoke run")
    args = parser.parse_args()

    torch.manual_seed(0)
    model, inputs = WORKLOADS[args.workload](args.quick)
    model.eval()
    with torch.inference_mode():
        t0 = time.perf_counter()
        call = _callable(args.system, model, inputs)
        call()
        first = time.perf_counter() - t0
        for _ in range(args.warmup):
            call()
        times = []
        for _ in range(args.iters):
            t = time.perf_counter()
            call()
            times.append(time.perf_counter() - t)
    deciles = statistics.quantiles(times, n=10) if len(times) > 1 else times * 9
    print(
        json.dumps(
            {
                "workload": args.workload,
                "system": args.system,
                "median_ms": statistics.median(times) * 1e3,
                "p10_ms": deciles[0] * 1e3,
                "p90_ms": deciles[-1] * 1e3,
                "first_call_s": first,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "threads": torch.get_num_threads(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
