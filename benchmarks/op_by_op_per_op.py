"""Time per unique op in op-by-op mode, on a small op (add on 32x32).

    python benchmarks/op_by_op_per_op.py [--ops 50] [--backend TORCH|STABLEHLO] [--depth EXECUTE_OP_BY_OP]

The graph is one add; it is run through ``op_by_op.run_graph`` --ops times with
one warm worker, so each run compiles (and runs) one unique op: the figure is
what one unique op costs end to end (one-op graph, worker round trip, torch-mlir,
TTIR, TTNN, flatbuffer, device run, PCC, JSON). The worker's start-up, paid
once per run and after each crash or hang, is reported apart.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
from torch.fx.experimental.proxy_tensor import make_fx

from tt_torch import op_by_op
from tt_torch.frontend.importer import import_stablehlo
from tt_torch.tools.utils import CompilerConfig, OpByOpBackend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=50)
    parser.add_argument("--backend", default="TORCH", choices=[b.name for b in OpByOpBackend])
    parser.add_argument("--depth", default="EXECUTE_OP_BY_OP", choices=["COMPILE_OP_BY_OP", "EXECUTE_OP_BY_OP"])
    args = parser.parse_args()

    x, y = torch.randn(32, 32), torch.randn(32, 32)
    gm = make_fx(lambda a, b: a + b)(x, y)
    quiet = lambda ops, **_: ops  # noqa: E731  (no progress bar)
    with tempfile.TemporaryDirectory(prefix="tt_op_by_op_bench_") as results, op_by_op.OpWorker() as worker:
        config = CompilerConfig(
            compile_depth=args.depth, op_by_op_backend=args.backend, results_path=results, model_name="add32"
        )
        t = time.perf_counter()
        worker.start()
        start_s = time.perf_counter() - t
        times = []
        for _ in range(args.ops + 1):
            module = import_stablehlo(gm) if args.backend == "STABLEHLO" else None
            t = time.perf_counter()
            summary = op_by_op.run_graph(
                gm, [x, y], config, "add", stablehlo_module=module, worker=worker, progress=quiet
            )
            times.append(time.perf_counter() - t)
            assert summary.unique_ops == 1 and summary.low_pcc == 0, summary
    times = times[1:]  # the first run warms the worker's imports of the compiler stages
    print(
        f"add 32x32, {args.backend}, {args.depth}: {statistics.median(times) * 1e3:.1f} ms per unique op "
        f"(median of {len(times)}, min {min(times) * 1e3:.1f} ms); worker start-up {start_s:.2f} s "
        f"(paid once, and after each crash or hang)"
    )


if __name__ == "__main__":
    main()
