"""Data parallel stress run: one small model compiled per chip of an emulated system, all chips
driven at once from host threads (and with ``async_mode=True`` from one thread), many times.

    python benchmarks/data_parallel.py [--system t3k] [--iterations 200] [--md PATH] [--json PATH]

Each iteration every chip runs its model on its own input, concurrently (threads meet at a
barrier before each call, so the calls overlap); every output is compared bit for bit with
the same model run alone on one chip, and each chip's device memory must be back to its
level before the loop. A thread that does not finish within --timeout seconds is a deadlock
and fails the run. Prints and writes: wall time of the concurrent loop, the same calls made
one after another from one thread, the async-mode loop, and one model whose every call
splits a batch of all chips' inputs across the chips (``data_parallel=True``). Exit status 1 on any mismatch,
leak or hang.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path

import torch
from torch import nn

from tt_torch import runtime
from tt_torch.dynamo.backend import BackendOptions
from tt_torch.tools.device_manager import DeviceManager
from tt_torch.tools.utils import CompilerConfig


class SmallMLP(nn.Module):
    def __init__(self, width: int = 256):
        super().__init__()
        self.fc1 = nn.Linear(width, 2 * width)
        self.fc2 = nn.Linear(2 * width, width)
        self.norm = nn.LayerNorm(width)

    def forward(self, x):
        return self.norm(self.fc2(torch.nn.functional.gelu(self.fc1(x))) + x)


def _compile(model, device, async_mode: bool = False):
    options = BackendOptions(compiler_config=CompilerConfig(), devices=[device], async_mode=async_mode)
    return torch.compile(model, backend="tt", dynamic=False, options=options)


def _threads_loop(models, inputs, reference, iterations: int, timeout: float) -> tuple[float, list[str]]:
    """Every chip's model on its input, ``iterations`` times, all chips at once."""
    barrier = threading.Barrier(len(models))
    problems: list[str] = []

    def work(k: int) -> None:
        # grad mode and dynamo's config overrides are per thread: set them as the main thread has them
        torch._dynamo.config.recompile_limit = 64
        try:
            with torch.no_grad():
                _calls(k)
        except Exception as e:  # noqa: BLE001 - reported
            problems.append(f"chip {k}: {type(e).__name__}: {e}")
            barrier.abort()

    def _calls(k: int) -> None:
        for i in range(iterations):
            barrier.wait(timeout=timeout)
            out = models[k](inputs[k][i % len(inputs[k])])
            if not torch.equal(out, reference[k][i % len(inputs[k])]):
                problems.append(f"chip {k}, iteration {i}: output differs from the one-chip run")

    threads = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(len(models))]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    wall = time.perf_counter() - t0
    hung = [k for k, t in enumerate(threads) if t.is_alive()]
    if hung:
        problems.append(f"threads of chips {hung} did not finish within {timeout} s: deadlock")
    return wall, problems


def _sequential_loop(models, inputs, iterations: int) -> float:
    """The same calls one after another, from one host thread that is not the main one: on a
    loaded machine ATen's kernels called from the main thread ran several times slower than from
    another thread (its OpenMP team waits for busy cores), so both loops run off the main thread."""
    wall = []

    def work() -> None:
        torch._dynamo.config.recompile_limit = 64
        with torch.no_grad():
            t0 = time.perf_counter()
            for i in range(iterations):
                for k, model in enumerate(models):
                    model(inputs[k][i % len(inputs[k])])
            wall.append(time.perf_counter() - t0)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    return wall[0]


def _async_loop(models, inputs, reference, iterations: int, timeout: float) -> tuple[float, list[str]]:
    problems = []
    t0 = time.perf_counter()
    for i in range(iterations):
        pending = [m(inputs[k][i % len(inputs[k])]) for k, m in enumerate(models)]
        for k, p in enumerate(pending):
            if not isinstance(p, runtime.PendingTensor):
                problems.append(f"async chip {k}: the call returned {type(p).__name__}, not a pending output")
                continue
            out = p.wait(timeout)
            if not torch.equal(out, reference[k][i % len(inputs[k])]):
                problems.append(f"async chip {k}, iteration {i}: output differs from the one-chip run")
    return time.perf_counter() - t0, problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--system", default="t3k", help="emulated system (DeviceManager.system): n300, t3k, ...")
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds before a thread counts as hung")
    parser.add_argument("--json", default=None, help="write the figures as JSON here")
    parser.add_argument("--md", default=None, help="write a markdown summary here")
    args = parser.parse_args()

    torch.manual_seed(0)
    torch._dynamo.config.recompile_limit = 64  # one dynamo cache entry per chip's compile
    DeviceManager.system = args.system
    model = SmallMLP(args.width).eval()
    parent, devices = DeviceManager.acquire_available_devices()
    n = len(devices)
    inputs = [[torch.randn(args.batch, args.width) for _ in range(4)] for _ in range(n)]
    problems: list[str] = []
    with torch.no_grad():
        t0 = time.perf_counter()
        single = _compile(model, None)
        reference = [[single(x) for x in per_chip] for per_chip in inputs]
        models = [_compile(model, d) for d in devices]
        for k, m in enumerate(models):  # compile (once per chip) and a first call
            if not torch.equal(m(inputs[k][0]), reference[k][0]):
                problems.append(f"chip {k}: first call differs from the one-chip run")
        compile_s = time.perf_counter() - t0
        in_use = [d.runtime_device().dram_bytes_in_use for d in devices]
        threads_s, found = _threads_loop(models, inputs, reference, args.iterations, args.timeout)
        problems += found
        leaked = [k for k, d in enumerate(devices) if d.runtime_device().dram_bytes_in_use != in_use[k]]
        if leaked:
            problems.append(f"device memory of chips {leaked} not back to its level before the loop")
        sequential_s = _sequential_loop(models, inputs, args.iterations)
        async_models = [_compile(model, d, async_mode=True) for d in devices]
        for k, m in enumerate(async_models):
            runtime.to_host(m(inputs[k][0]))
        async_s, found = _async_loop(async_models, inputs, reference, args.iterations, args.timeout)
        problems += found
        # one model, each call's batch split across all chips (BackendOptions.data_parallel)
        batches = [torch.cat([inputs[k][j] for k in range(n)]) for j in range(4)]
        whole = [torch.cat([reference[k][j] for k in range(n)]) for j in range(4)]
        options = BackendOptions(compiler_config=CompilerConfig(), devices=devices, data_parallel=True)
        split = torch.compile(model, backend="tt", dynamic=False, options=options)
        split(batches[0])
        t0 = time.perf_counter()
        for i in range(args.iterations):
            if not torch.equal(split(batches[i % 4]), whole[i % 4]):
                problems.append(f"data_parallel call {i}: output differs from the one-chip runs")
        split_s = time.perf_counter() - t0
    DeviceManager.release_parent_device(parent, cleanup_sub_devices=True)

    calls = n * args.iterations
    result = {
        "system": args.system,
        "chips": n,
        "iterations": args.iterations,
        "calls": calls,
        "batch": args.batch,
        "model": f"SmallMLP(width={args.width}), input [{args.batch}, {args.width}] fp32, emulated numerics",
        "compile_and_first_calls_s": round(compile_s, 2),
        "threads_wall_s": round(threads_s, 2),
        "sequential_wall_s": round(sequential_s, 2),
        "async_wall_s": round(async_s, 2),
        "split_wall_s": round(split_s, 2),
        "threads_ms_per_call": round(1e3 * threads_s / calls, 3),
        "speedup_threads_vs_sequential": round(sequential_s / threads_s, 2),
        "host_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "problems": problems,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    if args.md:
        Path(args.md).write_text(_markdown(result))
    return 1 if problems else 0


def _markdown(r: dict) -> str:
    status = "no mismatch, no leak, no hang" if not r["problems"] else "; ".join(r["problems"][:5])
    return f"""# Data parallel stress run

`python benchmarks/data_parallel.py --system {r["system"]} --iterations {r["iterations"]}` on a host with
{r["host_cpus"]} CPUs (torch intra-op threads: {r["torch_threads"]}). One {r["model"]} compiled per chip
of the emulated {r["system"]} ({r["chips"]} chips); every output compared bit for bit with the one-chip run.

| loop | calls | wall time (s) | ms per call |
|---|---|---|---|
| {r["chips"]} host threads, one per chip, calls aligned by a barrier | {r["calls"]} | {r["threads_wall_s"]} | {r["threads_ms_per_call"]} |
| the same calls one after another, from one (non-main) thread | {r["calls"]} | {r["sequential_wall_s"]} | {round(1e3 * r["sequential_wall_s"] / r["calls"], 3)} |
| `async_mode=True`, all chips started from one thread, then read | {r["calls"]} | {r["async_wall_s"]} | {round(1e3 * r["async_wall_s"] / r["calls"], 3)} |
| one model, `data_parallel=True`: each call's batch of {r["chips"]} x {r["batch"]} rows split across the chips | {r["iterations"]} calls ({r["calls"]} shards) | {r["split_wall_s"]} | {round(1e3 * r["split_wall_s"] / r["calls"], 3)} per shard |

Compile (once per chip, from the on-disk compile cache after the first) and first calls: {r["compile_and_first_calls_s"]} s.
Result: {status}.
"""


if __name__ == "__main__":
    sys.exit(main())
