"""Wall time of a GPT-2-sized transformer block, tensor parallel on a 4-chip mesh spread over
1, 2 and 4 processes of this machine (torch.distributed, gloo), and the communication share.

    flock /tmp/tt_bench.lock nice python benchmarks/distributed_block.py [--procs 1 2 4] [--seq 128]
        [--iterations 5] [--mesh 2 2] [--md PATH] [--json PATH]

The block is GPT-2 small's (hidden 768, 12 heads, MLP 3072, pre-norm, causal attention), split
Megatron-style (q, k, v and the MLP's first Linear column-parallel; the attention output and
the MLP's second Linear row-parallel), compiled for a p150x4 mesh (2x2 Blackhole chips) and run
in the emulated numerics. With P processes each runs 4/P chips (a P=1 run has no traffic).
Every rank runs the same program; the script starts the ranks itself, as torchrun would.

Columns: wall time per run (the slowest rank, after a warm-up run), the time a rank spends
inside torch.distributed (gathering the partial sums of the collectives, waiting for slower
ranks included) and its share of the wall time (the mean over ranks), the bytes a rank sends
per run, and whether the output equals the one-process run bit for bit. These are emulation
timings on this machine's CPUs, not silicon estimates (benchmarks/tensor_parallel.py has those).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests package: the block and its plan

from tests.multichip.models import BLOCK_PLAN, Block  # noqa: E402


def rank_main(args: argparse.Namespace) -> None:
    """One rank: compile, one warm-up run, then timed runs; writes its figures and output."""
    import tt_torch.distributed as ttd
    from tt_torch.dynamo.backend import BackendOptions
    from tt_torch.tools.utils import CompilerConfig

    mesh = ttd.init_mesh(tuple(args.mesh), timeout_s=600)
    torch.manual_seed(0)
    model, x = Block(768, 12).eval(), torch.randn(1, args.seq, 768)
    config = CompilerConfig(sharding_plan=BLOCK_PLAN, target=mesh.system)  # the compile target is the mesh's system
    options = BackendOptions(compiler_config=config, devices=[mesh])
    compiled = torch.compile(model, backend="tt", options=options, dynamic=False)
    with torch.no_grad():
        out = compiled(x)
        torch.distributed.barrier()
        mesh.reset_stats()
        start = time.perf_counter()
        for _ in range(args.iterations):
            out = compiled(x)
        wall = (time.perf_counter() - start) / args.iterations
    stats = mesh.stats
    result = {
        "rank": mesh.rank,
        "wall_s": wall,
        "comm_s": stats.seconds / args.iterations,
        "bytes_sent": stats.bytes_sent / args.iterations,
        "collectives": stats.calls / args.iterations,
    }
    Path(args.out, f"rank{mesh.rank}.json").write_text(json.dumps(result))
    torch.save(out, Path(args.out, f"out{mesh.rank}.pt"))
    mesh.close()
    torch.distributed.destroy_process_group()


def launch(procs: int, args: argparse.Namespace, out: Path) -> list[dict]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    threads = max(1, (os.cpu_count() or 1) // procs)
    children = []
    for rank in range(procs):
        env = dict(
            os.environ,
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
            RANK=str(rank),
            WORLD_SIZE=str(procs),
            LOCAL_RANK=str(rank),
            LOCAL_WORLD_SIZE=str(procs),
            OMP_NUM_THREADS=str(threads),
        )
        cmd = [sys.executable, __file__, "--rank-of", str(procs), "--out", str(out), "--seq", str(args.seq)]
        cmd += ["--iterations", str(args.iterations), "--mesh", *map(str, args.mesh)]
        children.append(subprocess.Popen(cmd, env=env))
    for child in children:
        if child.wait() != 0:
            raise SystemExit(f"a rank of the {procs}-process run failed (exit {child.returncode})")
    return [json.loads(Path(out, f"rank{r}.json").read_text()) for r in range(procs)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--mesh", type=int, nargs=2, default=[2, 2])
    parser.add_argument("--md", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--rank-of", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rank_of:
        rank_main(args)
        return
    rows, first = [], None
    for procs in args.procs:
        with tempfile.TemporaryDirectory() as tmp:
            ranks = launch(procs, args, Path(tmp))
            out = torch.load(Path(tmp, "out0.pt"))
        first = out if first is None else first
        wall = max(r["wall_s"] for r in ranks)
        share = sum(r["comm_s"] / r["wall_s"] for r in ranks) / len(ranks)
        rows.append(
            {
                "processes": procs,
                "chips_per_process": args.mesh[0] * args.mesh[1] // procs,
                "wall_ms": 1e3 * wall,
                "comm_ms": 1e3 * max(r["comm_s"] for r in ranks),
                "comm_share": share,
                "collectives_per_run": ranks[0]["collectives"],
                "mb_sent_per_rank": ranks[0]["bytes_sent"] / 1e6,
                "equal_to_first": bool(torch.equal(out, first)),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    cpus = os.cpu_count()
    lines = [
        f"GPT-2 block (768 hidden, 12 heads), batch 1, seq {args.seq}, tensor parallel on a {args.mesh} mesh, "
        f"emulated numerics, {args.iterations} runs after a warm-up, {cpus} CPU cores:",
        "",
        "| processes | chips/process | wall ms/run | in torch.distributed ms | comm share | collectives/run "
        "| MB sent/rank/run | bits equal to 1 process |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['processes']} | {r['chips_per_process']} | {r['wall_ms']:.1f} | {r['comm_ms']:.1f} "
            f"| {100 * r['comm_share']:.1f}% | {r['collectives_per_run']:.0f} | {r['mb_sent_per_rank']:.2f} "
            f"| {'yes' if r['equal_to_first'] else 'NO'} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.md:
        args.md.write_text(text)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
