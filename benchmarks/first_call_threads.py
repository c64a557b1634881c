"""The first call of a freshly compiled model from four threads at once, in N fresh processes.

Each run is a new Python process (no compile cache, no warm dynamo): four threads call a
just-compiled ``nn.Linear`` together behind a barrier; the run passes when every thread
gets eager's answer and the graph compiled once. Counts by outcome: ok, wrong (an answer
off or more than one compile), error (an exception in a thread), crash (killed by a
signal), hang (past the timeout).

    python benchmarks/first_call_threads.py [--runs 50] [--timeout 300]
"""

from __future__ import annotations

import argparse
import collections
import os
import signal
import subprocess
import sys
import time

CHILD = r"""
import threading, torch
import tt_torch
from tt_torch.dynamo import BackendOptions, CompileArtifacts
torch.manual_seed(0)
model = torch.nn.Linear(16, 8).eval()
x = torch.randn(4, 16)
art = CompileArtifacts()
compiled = torch.compile(model, backend="tt", options=BackendOptions(artifacts=art))
outs, errors, start = [None] * 4, [], threading.Barrier(4)
def call(k):
    start.wait()
    try:
        with torch.no_grad():
            outs[k] = compiled(x)
    except Exception as e:
        errors.append(f"{type(e).__name__}: {e}")
threads = [threading.Thread(target=call, args=(k,)) for k in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
if errors:
    print("ERROR", errors[0][:300]); raise SystemExit(3)
golden = model(x).detach()
if any((o - golden).abs().max() > 1e-2 for o in outs) or len(art.graphs) != 1:
    print("WRONG", len(art.graphs)); raise SystemExit(4)
print("OK")
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds one run may take")
    args = parser.parse_args()
    env = dict(os.environ, TT_TORCH_CACHE_DIR="off")
    counts: collections.Counter[str] = collections.Counter()
    t0 = time.perf_counter()
    for k in range(args.runs):
        try:
            proc = subprocess.run(
                [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=args.timeout
            )
        except subprocess.TimeoutExpired:
            counts["hang"] += 1
            print(f"run {k}: hang", flush=True)
            continue
        code = proc.returncode
        outcome = {0: "ok", 3: "error", 4: "wrong"}.get(code, "crash" if code < 0 else f"exit {code}")
        counts[outcome] += 1
        if outcome != "ok":
            how = signal.Signals(-code).name if code < 0 else (proc.stdout.strip() or proc.stderr[-300:])
            print(f"run {k}: {outcome}: {how}", flush=True)
    summary = ", ".join(f"{name} {n}" for name, n in sorted(counts.items()))
    print(f"{args.runs} runs in {time.perf_counter() - t0:.0f} s: {summary}")
    return 0 if counts["ok"] == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
