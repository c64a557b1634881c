"""PyTorch's OpInfo database through the "tt" backend, with the CPU fallback on and off.

    python benchmarks/op_coverage.py [--mode on|off|tt-mlir|both|all] [--ops NAME,...] [--limit N]
                                     [--resume] [--timeout S] [--json PATH] [--md PATH]

Every OpInfo op that supports float32 on the CPU, its first two sample inputs,
compiled with torch.compile(backend="tt") and compared with eager
(tt_torch/tools/op_coverage.py). Ops run in a worker process; one that crashes
or exceeds --timeout is recorded as such and a fresh worker takes the next op.
Writes benchmarks/results/op_coverage.json (every record, written after each op,
so --resume continues an interrupted run) and docs/op_coverage.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

from tt_torch.tools import op_coverage as oc

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mode",
        choices=(*oc.MODES, "both", "all"),
        default="both",
        help="both: on and off; all: on, off and tt-mlir (the real tt-mlir's programs, needs jax-tt-plugin)",
    )
    parser.add_argument("--ops", help="comma-separated op ids (e.g. add,nn.functional.conv2d,max.reduction_with_dim)")
    parser.add_argument("--limit", type=int, help="only the first N ops")
    parser.add_argument("--resume", action="store_true", help="skip the ops and modes already in the JSON")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per op and mode (default 120)")
    parser.add_argument("--json", default=os.path.join(ROOT, "benchmarks", "results", "op_coverage.json"))
    parser.add_argument("--md", default=os.path.join(ROOT, "docs", "op_coverage.md"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    modes = {"both": ["on", "off"], "all": list(oc.MODES)}.get(args.mode, [args.mode])
    ops = oc.find_ops(args.ops.split(",")) if args.ops else oc.op_db()
    if args.limit is not None:
        ops = ops[: args.limit]
    data = {"records": {}}
    if args.resume and os.path.exists(args.json):
        with open(args.json) as f:
            data = json.load(f)
    records: dict[str, dict[str, dict]] = data["records"]
    jobs = [
        (oc.op_id(op), oc.family(op.name), {"on": True, "off": False}.get(mode, mode))
        for op in ops
        for mode in modes
        if mode not in records.get(oc.op_id(op), {})
    ]
    command = "python benchmarks/op_coverage.py" + "".join(f" {a}" for a in sys.argv[1:] if a != "--resume")
    order = list(oc.MODES)
    data.update(command=command, machine=oc.machine(), modes=sorted({*data.get("modes", []), *modes}, key=order.index))
    print(f"{len(jobs)} runs ({len(ops)} ops x {len(modes)} modes, {sum(len(m) for m in records.values())} known)")
    t = time.perf_counter()

    def save(record: dict) -> None:
        records.setdefault(record["op"], {})[record["mode"]] = record
        os.makedirs(os.path.dirname(args.json), exist_ok=True)
        with open(args.json + ".tmp", "w") as f:
            json.dump(data, f, indent=1)
        os.replace(args.json + ".tmp", args.json)

    oc.run_isolated(jobs, args.timeout, done=save)
    page = oc.markdown(records, data["command"], data["machine"], data["modes"])
    with open(args.md, "w") as f:
        f.write(page)
    for mode in data["modes"]:
        recs = [m[mode] for m in records.values() if mode in m]
        print(f"mode {mode}: {oc.totals(recs)}")
        for fam in ("core", *oc.FAMILIES):
            print(f"  {fam}: {oc.totals([r for r in recs if r.get('family') == fam])}")
    print(
        f"{len(jobs)} runs in {time.perf_counter() - t:.0f} s; {os.path.relpath(args.json)}, {os.path.relpath(args.md)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
