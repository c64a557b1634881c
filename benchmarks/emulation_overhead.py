"""Cost of the device's numerics emulation: the same compiled program on an "emulated" and a
"fast" device (tt_torch.runtime.open_device(numerics=...)), alternating calls in one process.

    python benchmarks/emulation_overhead.py [--models mlp resnet50 bert_base gpt2] [--iters 20] [--quick]

Prints median latency per mode and the ratio emulated / fast (target <= 1.1x) and writes
benchmarks/results/emulation_overhead.md. The models are the harness' full-size workloads
(workloads.py), fp32, default compile options (HiFi4, fp32 accumulation): emulation costs the
TF32 truncation of matmul/conv/multiply activations (weights' truncations are cached), the
activation of a linear or conv that oneDNN's kernel applies in Fast mode (emulated: ATen's,
in place), and attention as two matrix-unit products around an fp32 softmax instead of
one flash-attention kernel. A sample times enough back-to-back calls to last about
--sample-ms (at least one), so that small models are not measured at the timer's grain.
On a shared machine, `--threads 1 --clock cpu` times the calling thread's CPU time: the
work of each mode, without the waits for a core (with two threads, an OpenMP barrier
waits whenever the other thread is descheduled). `--append` adds the table to --out.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from workloads import WORKLOADS  # noqa: E402

from tt_torch.dynamo import CompileArtifacts  # noqa: E402
from tt_torch.dynamo.backend import BackendOptions  # noqa: E402
from tt_torch.tools.utils import CompilerConfig  # noqa: E402
from tt_torch.tools.verify import compute_pcc  # noqa: E402


def _tensor(out) -> torch.Tensor:
    """The first tensor of a model output (a tensor, a tuple or a transformers ModelOutput)."""
    if isinstance(out, torch.Tensor):
        return out
    return _tensor(out.to_tuple() if hasattr(out, "to_tuple") else out[0]) if not isinstance(out, tuple) else out[0]


def measure(name: str, quick: bool, iters: int, sample_ms: float, clock) -> dict:
    model, inputs = WORKLOADS[name](quick)
    model = model.eval()
    compiled = {}
    with torch.no_grad():
        golden = model(*inputs)
        for mode in ("fast", "emulated"):
            cfg = CompilerConfig(numerics=mode)
            options = BackendOptions(compiler_config=cfg, artifacts=CompileArtifacts())
            compiled[mode] = torch.compile(model, backend="tt", options=options)
            out = compiled[mode](*inputs)  # compile (cached on disk after the first mode)
        pcc = {}
        for mode in ("fast", "emulated"):  # warm, and the accuracy of each mode
            for _ in range(2):
                out = compiled[mode](*inputs)
            pcc[mode] = compute_pcc(_tensor(golden), _tensor(out))
        one = []
        for _ in range(5):
            t = clock()
            compiled["fast"](*inputs)
            one.append(clock() - t)
        reps = max(1, round(sample_ms / 1e3 / max(statistics.median(one), 1e-6)))
        times = {"fast": [], "emulated": []}
        for _ in range(iters):
            for mode in ("fast", "emulated"):
                t = clock()
                for _ in range(reps):
                    compiled[mode](*inputs)
                times[mode].append((clock() - t) / reps)
    fast, emulated = (statistics.median(times[m]) * 1e3 for m in ("fast", "emulated"))
    return {
        "model": name,
        "calls_per_sample": reps,
        "fast_ms": fast,
        "emulated_ms": emulated,
        "ratio": emulated / fast,
        **{f"pcc_{m}": v for m, v in pcc.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["mlp", "resnet50", "bert_base", "gpt2"])
    parser.add_argument("--iters", type=int, default=20, help="samples per mode (median)")
    parser.add_argument("--sample-ms", type=float, default=25.0, help="about how long one sample runs")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: torch's)")
    parser.add_argument(
        "--clock", choices=["wall", "cpu"], default="wall", help="wall time, or the calling thread's CPU time"
    )
    parser.add_argument("--append", action="store_true", help="add the table to --out instead of replacing it")
    parser.add_argument("--quick", action="store_true", help="small models, for a smoke run")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "emulation_overhead.md"))
    args = parser.parse_args()
    torch.manual_seed(0)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    rows = [measure(name, args.quick, args.iters, args.sample_ms, clock) for name in args.models]
    command = shlex.join(["python", "benchmarks/emulation_overhead.py", *sys.argv[1:]])
    lines = [
        f"# Emulation overhead ({os.cpu_count()} CPUs, {torch.get_num_threads()} threads, median of "
        f"{args.iters} samples per mode, {'calling thread CPU' if args.clock == 'cpu' else 'wall'} time; "
        "same binary, emulated vs fast device, alternating)",
        "",
        f"`{command}`",
        "",
        "| model | fast ms | emulated ms | emulated / fast | calls per sample | PCC fast | PCC emulated |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['fast_ms']:.3f} | {r['emulated_ms']:.3f} | {r['ratio']:.3f}x | "
            f"{r['calls_per_sample']} | {r['pcc_fast']:.6f} | {r['pcc_emulated']:.6f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.quick:
        out = Path(args.out)
        out.write_text((out.read_text() + "\n" if args.append and out.exists() else "") + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
