"""Side-by-side benchmark: every workload under eager, inductor, ONNX Runtime and tt-torch.

    pip install -r benchmarks/requirements.txt
    python benchmarks/run.py [--workloads mlp resnet50 ...] [--rounds 2] [--iters 20] [--quick] [--generate] [--out DIR]

Each (workload, system) runs in its own process; systems alternate in order
from round to round, so drift on the machine does not favour one of them. The
result per pair is the median over rounds of each round's median. First calls
are cold: each inductor process gets an empty cache directory, and tt-torch's
compile cache is off. Every system runs under ``torch.inference_mode()``. Writes
results.md (median, spread, first call, peak memory and the ratio of tt-torch to each
peer), results.json and results.png (one plot of every ratio, tt-torch over each peer)
into --out, by default a new temporary folder; the committed results are updated only
when asked: ``--out benchmarks/results``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from run_one import SYSTEMS, cold_process  # noqa: E402
from workloads import OPS_PER_CALL, WORKLOADS  # noqa: E402


def measure(workload: str, system: str, iters: int, quick: bool, timeout: float) -> dict:
    cmd = [sys.executable, os.path.join(HERE, "run_one.py"), workload, system, "--iters", str(iters)]
    if quick:
        cmd.append("--quick")
    return cold_process(cmd, timeout)


def combine(runs: list[dict]) -> dict:
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[-1]
    return {
        "median_ms": statistics.median(r["median_ms"] for r in ok),
        "p10_ms": min(r["p10_ms"] for r in ok),
        "p90_ms": max(r["p90_ms"] for r in ok),
        "first_call_s": statistics.median(r["first_call_s"] for r in ok),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in ok),
    }


def table(results: dict, workloads: list[str], quick: bool) -> str:
    lines = [
        "| workload | system | median ms | p10-p90 ms | first call s | peak MB | tt-torch / system |",
        "|---|---|---|---|---|---|---|",
    ]
    for w in workloads:
        tt = results[w].get("tt", {})
        for s in SYSTEMS:
            r = results[w][s]
            if "error" in r:
                lines.append(f"| {w} | {s} | {r['error']} | | | | |")
                continue
            ratio = f"{tt['median_ms'] / r['median_ms']:.2f}" if "median_ms" in tt and s != "tt" else ""
            extra = ""
            if w in OPS_PER_CALL:
                extra = f" ({r['median_ms'] * 1e3 / OPS_PER_CALL[w](quick):.2f} us/op)"
            lines.append(
                f"| {w} | {s} | {r['median_ms']:.3f}{extra} | {r['p10_ms']:.3f}-{r['p90_ms']:.3f} | "
                f"{r['first_call_s']:.2f} | {r['peak_rss_mb']:.0f} | {ratio} |"
            )
    return "\n".join(lines)


def chart(results: dict, workloads: list[str], path: str) -> None:
    """One plot of every ratio: tt-torch's median over each peer's, per workload (< 1: tt-torch is faster)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    peers = [s for s in SYSTEMS if s != "tt"]
    width = 0.8 / len(peers)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 + 1.3 * len(workloads)), 3.8))
    for k, (peer, color) in enumerate(zip(peers, ["#888", "#58a", "#a85", "#6a6"])):
        xs, ratios = [], []
        for x, w in enumerate(workloads):
            tt, other = results[w].get("tt", {}), results[w].get(peer, {})
            if "median_ms" in tt and "median_ms" in other:
                xs.append(x + (k - (len(peers) - 1) / 2) * width)
                ratios.append(tt["median_ms"] / other["median_ms"])
        bars = ax.bar(xs, ratios, width, label=f"tt-torch / {peer}", color=color)
        ax.bar_label(bars, fmt="%.2f", fontsize=7, rotation=90, padding=2)
    ax.axhline(1.0, color="#c33", linewidth=1)
    ax.set_yscale("log")  # a ratio of 2 and one of 1/2 are as far from 1
    ax.set_xticks(range(len(workloads)), workloads)
    ax.set_ylabel("median time ratio (log)")
    ax.legend(fontsize=7, ncol=len(peers), loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per process")
    parser.add_argument("--quick", action="store_true", help="small models, for a smoke run")
    parser.add_argument(
        "--generate",
        action="store_true",
        help="also the generation benchmark (benchmarks/generate.py: prefill ms, decode tokens/s; "
        "generation.md in --out), with the same --rounds",
    )
    parser.add_argument(
        "--out",
        help="folder for results.md/.json/.png (default: a new temporary folder; "
        "benchmarks/results to update the committed results)",
    )
    args = parser.parse_args()
    args.out = args.out or tempfile.mkdtemp(prefix="tt_torch_bench_")

    runs: dict = {w: {s: [] for s in SYSTEMS} for w in args.workloads}
    for rnd in range(args.rounds):
        order = SYSTEMS if rnd % 2 == 0 else tuple(reversed(SYSTEMS))
        for w in args.workloads:
            for s in order:
                r = measure(w, s, args.iters, args.quick, args.timeout)
                runs[w][s].append(r)
                print(f"round {rnd} {w:10s} {s:12s} {r.get('median_ms', r.get('error'))}", flush=True)
    results = {w: {s: combine(runs[w][s]) for s in SYSTEMS} for w in args.workloads}

    os.makedirs(args.out, exist_ok=True)
    cpu = platform.processor() or platform.machine()
    header = (
        f"# Benchmark results\n\n`python benchmarks/run.py {' '.join(sys.argv[1:])}` on {os.cpu_count()} cores ({cpu}); "
        f"{args.rounds} rounds x {args.iters} iterations per system, each in its own process.\n"
        "Ratio < 1: tt-torch is faster than that system.\n\n"
    )
    text = header + table(results, args.workloads, args.quick) + "\n"
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(text)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"runs": runs, "results": results}, f, indent=1)
    chart(results, args.workloads, os.path.join(args.out, "results.png"))
    print(text)
    if args.generate:
        cmd = [sys.executable, os.path.join(HERE, "generate.py"), "--rounds", str(args.rounds), "--out", args.out]
        subprocess.run(cmd, check=True, timeout=args.timeout * 8 * args.rounds)
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
