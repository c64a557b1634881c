"""Where a decode step's program spends its time: each TTNN op timed by a post-op hook.

    python benchmarks/decode_profile.py [--models gpt2 llama] [--threads 2] [--runs 30] [--top 12]

The step is the generation benchmark's model (benchmarks/generate.py: random weights, a
static cache of 96 positions) compiled by tt-torch with fast numerics for one token, the way
generate() compiles it. Its program is then run alone on the device with the inputs of that
call: the program's time without a hook (median and best of ``--runs``), and each op's median
with the hook (the hook adds a clock read per op, so the op sum is the finer figure). The one-
row products are listed by weight shape with the rate they read the weight at; other ops are
grouped by type.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import generate  # noqa: E402

_WEIGHT = re.compile(r"tensor<1x(\d+)xf32[^>]*>>, tensor<(\d+)x(\d+)xf32")


def compiled_step(name: str):
    """The model's one-token step compiled by tt-torch; returns the last compiled graph's artifacts."""
    from transformers import StaticCache

    from tt_torch.config import CompilerConfig
    from tt_torch.dynamo.artifacts import CompileArtifacts
    from tt_torch.dynamo.backend import BackendOptions

    m = generate.model(name)
    artifacts = CompileArtifacts()
    options = BackendOptions(compiler_config=CompilerConfig(numerics="fast"), artifacts=artifacts)
    step = torch.compile(m, backend="tt", fullgraph=True, dynamic=False, options=options)
    cache = StaticCache(config=m.config, max_cache_len=96)
    prompt = torch.randint(1, m.config.vocab_size, (1, 32), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = m(input_ids=prompt, cache_position=torch.arange(32), past_key_values=cache, use_cache=True)
        token = out.logits[0, -1].argmax().reshape(1, 1)
        step(input_ids=token, cache_position=torch.tensor([32]), past_key_values=cache, use_cache=True)
    return artifacts.last


def profile(name: str, runs: int) -> dict:
    from tt_torch import runtime

    art = compiled_step(name)
    binary = runtime.load_binary(art.flatbuffer)
    dtypes = [runtime.torch_dtype(d["dtype"]) for d in binary.program_inputs(0)]
    host = [t.to(dt) for t, dt in zip(art.program_inputs, dtypes)]
    device = runtime.open_device(binary, numerics="fast")
    samples: dict[int, tuple[str, str, list[float]]] = {}

    def post_op(event) -> None:
        samples.setdefault(event.index, (event.type, event.debug, []))[2].append(event.seconds)

    for _ in range(3):  # the weights' cached layouts are made on the first call
        runtime.submit(device, binary, 0, host)
    plain = []
    for i in range(2 * runs):  # runs with and without the hook alternate
        t0 = time.perf_counter()
        runtime.submit(device, binary, 0, host, post_op=post_op if i % 2 else None)
        if i % 2 == 0:
            plain.append(time.perf_counter() - t0)
    device.close()
    products: dict[tuple[int, int], list[float]] = collections.defaultdict(list)
    others: dict[str, list[float]] = collections.defaultdict(list)
    for op_type, debug, seconds in samples.values():
        ms = statistics.median(seconds) * 1e3
        found = _WEIGHT.search(debug) if op_type in ("MatmulOp", "LinearOp") else None
        if found and found.group(1) == found.group(2):
            products[(int(found.group(2)), int(found.group(3)))].append(ms)
        else:
            others[op_type].append(ms)
    return {
        "model": name,
        "program_ms": statistics.median(plain) * 1e3,
        "best_ms": min(plain) * 1e3,
        "op_sum_ms": sum(statistics.median(s) for _, _, s in samples.values()) * 1e3,
        "ops": len(samples),
        "products": products,
        "others": others,
    }


def report(r: dict, top: int) -> str:
    lines = [
        f"## {r['model']}",
        "",
        f"program {r['program_ms']:.2f} ms (best {r['best_ms']:.2f}); {r['ops']} ops, their medians sum to "
        f"{r['op_sum_ms']:.2f} ms",
        "",
        "| one-row product (weight K x N) | count | ms each | GB/s |",
        "|---|---|---|---|",
    ]
    for (k, n), ms in sorted(r["products"].items(), key=lambda kv: -sum(kv[1])):
        each = statistics.median(ms)
        lines.append(f"| {k} x {n} | {len(ms)} | {each:.3f} | {k * n * 4 / each / 1e6:.1f} |")
    lines += ["", "| other ops | count | ms in all |", "|---|---|---|"]
    for op_type, ms in sorted(r["others"].items(), key=lambda kv: -sum(kv[1]))[:top]:
        lines.append(f"| {op_type} | {len(ms)} | {sum(ms):.3f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(generate.MODELS), choices=generate.MODELS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--top", type=int, default=12, help="other op types listed")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    header = f"# Decode step profile ({args.threads} threads, {args.runs} runs)\n"
    sys.stdout.write(header + "\n" + "\n".join(report(profile(m, args.runs), args.top) for m in args.models))
    return 0


if __name__ == "__main__":
    sys.exit(main())
