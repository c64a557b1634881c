"""Cost of the device's numerics emulation: the same compiled program on an "emulated" and a
"fast" device (tt_torch.runtime.open_device(numerics=...)), alternating calls in one process.

    python benchmarks/emulation_overhead.py [--models resnet50 bert] [--iters 10] [--quick]

Prints median latency per mode and the ratio emulated / fast (target <= 1.3x) and writes
benchmarks/results/emulation_overhead.md. The models are the harness' full-size workloads
(workloads.py), fp32, default compile options (HiFi4, fp32 accumulation): emulation costs the
TF32 truncation of matmul/conv/multiply activations (weights' truncations are cached).
"""

from __future__ import annotations

import argparse
import os
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


def measure(name: str, quick: bool, iters: int) -> dict:
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
        times = {"fast": [], "emulated": []}
        pcc = {}
        for _ in range(iters):
            for mode in ("fast", "emulated"):
                t = time.perf_counter()
                out = compiled[mode](*inputs)
                times[mode].append(time.perf_counter() - t)
                pcc[mode] = compute_pcc(_tensor(golden), _tensor(out))
    fast, emulated = (statistics.median(times[m]) * 1e3 for m in ("fast", "emulated"))
    return {
        "model": name,
        "fast_ms": fast,
        "emulated_ms": emulated,
        "ratio": emulated / fast,
        **{f"pcc_{m}": v for m, v in pcc.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["resnet50", "bert_base"])
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="small models, for a smoke run")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "emulation_overhead.md"))
    args = parser.parse_args()
    torch.manual_seed(0)
    rows = [measure(name, args.quick, args.iters) for name in args.models]
    lines = [
        f"# Emulation overhead ({os.cpu_count()} CPUs, {args.iters} iterations, median; "
        "same binary, emulated vs fast device)",
        "",
        "| model | fast ms | emulated ms | emulated / fast | PCC fast | PCC emulated |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['fast_ms']:.1f} | {r['emulated_ms']:.1f} | {r['ratio']:.2f}x | "
            f"{r['pcc_fast']:.6f} | {r['pcc_emulated']:.6f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.quick:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
