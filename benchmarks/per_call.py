"""Per-call overhead of a compiled graph: microseconds per call of tiny programs.

A chain of N elementwise ops on a (4, 4) fp32 tensor (N = 1, 10, 100), compiled with
``torch.compile(backend="tt")`` (fast numerics) and run eagerly, one process, calls
alternating between the systems. The kernels of such a program take well under a
microsecond each, so the time per call is the path around them: dynamo's guards, the
Python executor, input narrowing and copies, the pybind crossing, output allocation.
"dynamo (eager backend)" is the same graph through dynamo without a compiler: the part of
the path (frame evaluation, guards) that no backend removes.
"empty" is the intercept of a least-squares line through the N = 1, 10, 100 points (a
graph without ops never reaches the backend); "per op" is its slope.

    python benchmarks/per_call.py [--ops 1 10 100] [--calls 2000] [--blocks 5] [--best] [--clock wall|cpu]
        [--cold MB] [--json PATH]

``--clock cpu`` times the calling thread's CPU time instead of the wall clock: with one
torch thread every system runs its kernels on that thread, so on a machine shared with
other jobs the figure leaves out the time the thread waited for a core.

``--cold MB`` writes MB megabytes of memory before each call and times each call alone
(median of the calls): the caches then hold what a real model's kernels leave in them, not
the path's own code and data, as a steady loop of tiny programs does.

The timed blocks of the three systems alternate (eager, dynamo, tt-torch, eager, ...), so a
busy spell of the machine falls on all of them alike. Each figure is the median block;
``--best`` reports the fastest block instead, which is what the path costs when no other
process takes the core (Python's ``timeit`` reads its repeats the same way: the slower
blocks measure the interference, not the code).

Bar (issue 24): tt-torch <= 25 us + 1.5 us per op.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch


class Chain(torch.nn.Module):
    """``ops`` elementwise ops in sequence (alternating add and multiply, none foldable)."""

    def __init__(self, ops: int):
        super().__init__()
        self.ops = ops

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for k in range(self.ops):
            x = x * 0.999 if k % 2 else x + 0.5
        return x


def _block_us(fn, x: torch.Tensor, calls: int, clock) -> float:
    """One block of ``calls`` calls, in microseconds per call."""
    t = clock()
    for _ in range(calls):
        fn(x)
    return (clock() - t) / calls * 1e6


def _cold_block_us(fn, x: torch.Tensor, calls: int, clock, scratch: torch.Tensor) -> float:
    """Median of ``calls`` calls, each timed alone after ``scratch`` is written, in microseconds."""
    times = []
    for _ in range(calls):
        scratch.add_(1.0)
        t = clock()
        fn(x)
        times.append(clock() - t)
    return statistics.median(times) * 1e6


def _fit(points: dict[int, float]) -> tuple[float, float]:
    """Intercept and slope of the least-squares line through (ops, us)."""
    xs, ys = list(points), list(points.values())
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    slope = sum((a - mx) * (b - my) for a, b in zip(xs, ys)) / sum((a - mx) ** 2 for a in xs)
    return my - slope * mx, slope


def main() -> int:
    from tt_torch.dynamo.backend import BackendOptions
    from tt_torch.tools.utils import CompilerConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--calls", type=int, default=2000, help="calls per timed block")
    parser.add_argument("--blocks", type=int, default=5, help="timed blocks per system, alternating between them")
    parser.add_argument("--best", action="store_true", help="report each system's fastest block, not the median")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="wall clock or this thread's CPU time")
    parser.add_argument("--cold", type=float, metavar="MB", help="write MB megabytes of memory before each call")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    clock = time.perf_counter if args.clock == "wall" else time.thread_time
    x = torch.randn(4, 4)
    scratch = torch.zeros(int(args.cold * 2**20) // 4) if args.cold else None
    results: dict[str, dict[int, float]] = {"eager": {}, "dynamo (eager backend)": {}, "tt-torch": {}}
    with torch.no_grad():
        for n in args.ops:
            model = Chain(n).eval()
            options = BackendOptions(compiler_config=CompilerConfig(numerics="fast"))
            compiled = torch.compile(model, backend="tt", dynamic=False, options=options)
            torch.testing.assert_close(compiled(x), model(x))
            dynamo = torch.compile(model, backend="eager", dynamic=False)
            systems = (("eager", model), ("dynamo (eager backend)", dynamo), ("tt-torch", compiled))
            blocks: dict[str, list[float]] = {name: [] for name, _ in systems}
            for _, fn in systems:
                fn(x)
            for _ in range(args.blocks):
                for name, fn in systems:
                    if scratch is None:
                        blocks[name].append(_block_us(fn, x, args.calls, clock))
                    else:
                        blocks[name].append(_cold_block_us(fn, x, args.calls, clock, scratch))
            for name, times in blocks.items():
                results[name][n] = min(times) if args.best else statistics.median(times)
    rows = []
    for name, points in results.items():
        empty, per_op = _fit(points) if len(points) > 1 else (float("nan"), float("nan"))
        rows.append({"system": name, **{f"{n}_ops_us": v for n, v in points.items()}, "empty_us": empty})
        rows[-1]["per_op_us"] = per_op
    header = ["system", *[f"{n} ops (us)" for n in args.ops], "empty (us)", "per op (us)"]
    which = "fastest" if args.best else "median"
    print(f"{which} of {args.blocks} blocks of {args.calls} calls per system, {args.clock} clock\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        values = [f"{v:.1f}" for k, v in row.items() if k != "system"]
        print(f"| {row['system']} | " + " | ".join(values) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
