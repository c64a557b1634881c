"""What seeing every weight write costs per call (CompilerConfig.check_weight_contents).

Each call of a compiled graph looks for writes to its parameters and buffers behind their
version counters (tt_torch.dynamo.weights): ``.data`` reads counted, weights with an alias
and buffers fingerprinted, so that a write through ``param.data`` reaches the cached
consteval results and weight conversions. This times that check on BERT-size weights
(transformers' BertModel from its config, random weights), per call, against fingerprinting every
weight, the version counter alone and against the model's eager forward, for scale.

    python benchmarks/weight_check.py [--config base|mini] [--repeats 20] [--threads N]

On a loaded machine (more runnable threads than cores) torch's intra-op threads wait on
each other: compare --threads 1 with the default.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from transformers import BertConfig, BertModel

from tt_torch.dynamo.weights import WeightWatch
from tt_torch.runtime.versions import tensor_stamp

CONFIGS = {
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
    "mini": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536),
}


def _median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=sorted(CONFIGS), default="base")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--no-forward", action="store_true", help="skip the eager forward")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = BertModel(BertConfig(**CONFIGS[args.config])).eval()
    weights = [*model.parameters(), *model.buffers()]
    nbytes = sum(t.numel() * t.element_size() for t in weights)
    state = tuple(weights)
    full = WeightWatch(list(range(len(weights))), full=True)
    check = _median_ms(lambda: full.check(state), args.repeats)
    watch = WeightWatch(list(range(len(weights))))
    default = _median_ms(lambda: watch.check(state), args.repeats)
    versions = _median_ms(lambda: [tensor_stamp(t) for t in weights], args.repeats)
    ids = torch.randint(0, 1000, (1, 128))
    with torch.no_grad():
        forward = None if args.no_forward else _median_ms(lambda: model(ids), max(3, args.repeats // 4))
    print(
        f"BERT-{args.config}: {len(weights)} tensors, {nbytes / 2**20:.0f} MiB, torch threads {torch.get_num_threads()}"
    )
    print(f"  every weight fingerprinted (full=True): {check:.1f} ms ({nbytes / 2**30 / (check / 1e3):.1f} GiB/s)")
    print(f"  default check per call: {default * 1e3:.0f} us ({watch.fingerprinted} tensors fingerprinted)")
    print(f"  version counters only:  {versions * 1e3:.0f} us")
    if forward is not None:
        print(f"  eager forward, batch 1 x 128 tokens (for scale): {forward:.1f} ms")


if __name__ == "__main__":
    main()
