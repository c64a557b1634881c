"""Estimated time of a GPT-2-sized transformer block, tensor parallel over 1, 2, 4 and 8 chips.

    python benchmarks/tensor_parallel.py [--seq 128 1024] [--batch 1] [--dtype fp32|bf16] [--target t3k]
        [--md PATH] [--json PATH]

The block is GPT-2 small's (hidden 768, 12 heads, MLP 3072, pre-norm, causal attention), split
Megatron-style: q, k, v and the MLP's first Linear column-parallel, the attention output and
the MLP's second Linear row-parallel (one all_reduce each). Every row is compiled (not run)
for the chips of ``--target`` (t3k: Wormhole n300 chips, 2 ethernet ports of 100 Gb/s between
neighbours) and timed by the compiler's cost model: a roofline *estimate* per op (matrix unit
at the chip's peak and fidelity, DRAM bandwidth, 1 us dispatch per op) plus ring collectives
over the links. Not a measurement. One chip is the same chip type with no plan.

Columns: per-chip compute split into matrix-unit time, everything else (vector ops, data
movement), and per-op dispatch; the all_reduces; the critical path (chips run in lockstep
between collectives); speed-up over one chip.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from torch import nn

from tt_torch import parallel
from tt_torch.compiler import pipelines
from tt_torch.compiler.options import CompileOptions
from tt_torch.compiler.target import cost_model
from tt_torch.config import CompilerConfig
from tt_torch.dynamo.artifacts import GraphArtifacts
from tt_torch.dynamo.executor import Executor, _frontend
from tt_torch.frontend.importer import import_stablehlo
from tt_torch.parallel import stablehlo as parallel_stablehlo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests package: the block and its plan

from tests.multichip.models import BLOCK_PLAN, Block  # noqa: E402


def frontend(model: nn.Module, x: torch.Tensor, target: str):
    """The post-pass FX graph the compiler starts from, as a compile of ``model`` makes it."""
    captured = {}

    def capture(gm, example_inputs):
        # the inputs' sources (parameter names) are read while dynamo still holds them
        captured["ex"] = Executor(gm, CompilerConfig(target=target), None, "gpt2_block")
        captured["inputs"] = example_inputs
        return gm.forward

    torch._dynamo.reset()
    with torch.no_grad():
        torch.compile(model, backend=capture)(x)
    ex = captured["ex"]
    graph = _frontend(ex, tuple(captured["inputs"]), GraphArtifacts(name="gpt2_block", input_signature=()))
    return ex, graph


def estimate(model: nn.Module, x: torch.Tensor, target: str, chips: int) -> dict:
    ex, graph = frontend(model, x, target)
    part = None
    if chips == 1:
        module = import_stablehlo(graph.fx_gm, func_name="main")
    else:
        ce = graph.consteval
        consteval = (ce.graph, [ex.inputs[i].name for i in ce.inputs]) if ce.graph is not None else None
        state = [info.name for info in ex.inputs if info.kind != "input"]
        part = parallel.partition_program(graph.fx_gm, graph.arg_names, BLOCK_PLAN, chips, state, consteval)
        module = import_stablehlo(part.gm, func_name="main")
        parallel_stablehlo.annotate(module, part)
    options = CompileOptions(
        target=target, arg_names=graph.arg_names, arg_kinds=graph.arg_kinds, emit_flatbuffer=False, cache_dir="off"
    )
    result = pipelines.compile_stablehlo(module, options)
    ops = [o for o in cost_model.estimate(result.ttnn, target).ops if o.op not in cost_model.HOST_OPS]
    ccl = [o for o in ops if o.op in cost_model.CCL_OPS]
    work = [o for o in ops if o.op not in cost_model.CCL_OPS and o.op not in cost_model.FREE_OPS]
    matrix = sum(o.estimated_ns - o.overhead_ns for o in work if o.unit == "matrix")
    dispatch = sum(o.overhead_ns for o in work)
    other = sum(o.estimated_ns for o in work) - matrix - dispatch
    links = sum(o.estimated_ns for o in ccl)
    return {
        "chips": chips,
        "device_ops": len(work),
        "matrix_us": matrix / 1e3,
        "other_us": other / 1e3,
        "dispatch_us": dispatch / 1e3,
        "compute_us": (matrix + other + dispatch) / 1e3,
        "all_reduce": sum(o.op == "ttnn.all_reduce" for o in ccl),
        "all_gather": sum(o.op == "ttnn.all_gather" for o in ccl),
        "collective_us": links / 1e3,
        "bytes_per_link": sum(o.bytes for o in ccl),
        "critical_path_us": (matrix + other + dispatch + links) / 1e3,
        "reasons": [] if part is None else part.reasons,
    }


def table(rows: list[dict], seq: int, batch: int, target: str, dtype: str) -> str:
    base = rows[0]["critical_path_us"]
    lines = [
        f"GPT-2 block (hidden 768, 12 heads, MLP 3072), batch {batch}, seq {seq}, {dtype} (HiFi4), {target} chips",
        "",
        "| chips | ops/chip | matrix us | other us | dispatch us | compute us | all_reduce | all_gather "
        "| link us | bytes/link | critical path us | speed-up |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['chips']} | {r['device_ops']} | {r['matrix_us']:.1f} | {r['other_us']:.1f} | {r['dispatch_us']:.1f} "
            f"| {r['compute_us']:.1f} | {r['all_reduce']} | {r['all_gather']} | {r['collective_us']:.1f} "
            f"| {r['bytes_per_link']:,} | {r['critical_path_us']:.1f} | {base / r['critical_path_us']:.2f}x |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seq", type=int, nargs="+", default=[128])
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--chips", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--target", default="t3k")
    p.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32", help="weights and activations")
    p.add_argument("--md", type=Path)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    torch.manual_seed(0)
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    model = Block(768, 12).eval().to(dtype)
    out, tables = {}, []
    for seq in args.seq:
        x = torch.randn(args.batch, seq, 768, dtype=dtype)
        rows = [estimate(model, x, args.target, n) for n in args.chips]
        out[seq] = rows
        tables.append(table(rows, seq, args.batch, args.target, args.dtype))
        print(tables[-1], flush=True)
        for r in rows:
            for reason in r["reasons"]:
                print(f"  {r['chips']} chips: {reason}")
        print()
    if args.md:
        args.md.write_text("\n\n".join(tables) + "\n")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
