"""The model zoo (tests/models/zoo.py) through the real tt-mlir and through tt-torch, run on the
emulated device: a differential report.

    python benchmarks/tt_mlir_zoo.py [--models bert,gpt2] [--json out.json] [--md out.md]
    python benchmarks/tt_mlir_zoo.py --from-json out.json [--md out.md]   # the table again

For each model, both compilers' programs run on the emulated device with the same numerics, once
with ``numerics="fast"`` (fp32 everywhere: the compiler's correctness) and once with
``numerics="emulated"`` (the hardware's matrix-unit and rounding behaviour). Per model: the PCC of
each program's outputs against eager PyTorch, the compute-op counts of the two TTNN programs side by
side (``tt_torch.tt_mlir.compare``), and, from intermediate verification of the emulated runs, the
op whose output is furthest from its eager value in each program. Needs jax-tt-plugin.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time
import traceback

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # the tests package: its models and helpers

COMPILERS = ("tt-mlir", "tt-torch")
NUMERICS = ("fast", "emulated")
# acceptance bars of the report, per numerics
REQUIRED = {"fast": 0.99, "emulated": 0.98}


def _outputs(result) -> list[torch.Tensor]:
    from tests.helpers import outputs_of

    return outputs_of(result)


def output_pcc(golden, result) -> float:
    """The lowest PCC over the model's floating-point outputs (integer outputs: 1.0 when equal)."""
    from tt_torch.accuracy import compute_pcc

    pccs = []
    for g, r in zip(_outputs(golden), _outputs(result)):
        if g.is_floating_point():
            pccs.append(compute_pcc(g.float(), r.float()))
        else:
            pccs.append(1.0 if torch.equal(g, r.to(g.dtype)) else 0.0)
    return min(pccs) if pccs else float("nan")


def worst_op(art) -> dict | None:
    """The op whose output has the lowest PCC against its eager value (intermediate verification)."""
    table = getattr(art, "intermediate_verification", None)
    rows = table.rows if table is not None else []
    if not rows:
        return None
    r = min(rows, key=lambda r: (r.pcc, -r.atol))
    return {"op": r.type, "loc": r.loc[:160], "pcc": round(r.pcc, 6), "atol": float(f"{r.atol:.4g}"), "of": len(rows)}


def run_one(model, inputs, golden, compiler: str, numerics: str, verify: bool) -> dict:
    from tests.helpers import compile_tt
    from tt_torch.tt_mlir import compare

    torch._dynamo.reset()
    args, kwargs = ((), inputs) if isinstance(inputs, dict) else (inputs, {})
    t0 = time.perf_counter()
    try:
        compiled, artifacts = compile_tt(
            model, compiler=compiler, numerics=numerics, enable_intermediate_verification=verify
        )
        with torch.no_grad():
            result = compiled(*args, **kwargs)
    except Exception as e:  # a model one compiler cannot run is a row of the report, not the end of it
        first = (str(e).strip().splitlines() or [""])[0]
        return {
            "status": "error",
            "error": f"{type(e).__name__}: {first[:400]}",
            "trace": traceback.format_exc()[-2000:],
        }
    record = {
        "status": "ok",
        "pcc": round(output_pcc(golden, result), 6),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    ops: collections.Counter = collections.Counter()
    for g in artifacts.graphs:
        ops.update(compare.compute_ops(g.ttnn or ""))
    record["graphs"] = len(artifacts.graphs)
    record["compute_ops"] = dict(sorted(ops.items()))
    fallback = [g.report.get("cpu_fallback") for g in artifacts.graphs if g.report.get("cpu_fallback")]
    if fallback:
        record["cpu_fallback"] = True
    if verify:
        worst = [w for w in (worst_op(g) for g in artifacts.graphs) if w]
        record["worst_op"] = min(worst, key=lambda w: w["pcc"]) if worst else None
    return record


def run_model(name: str) -> dict:
    from tests.models.zoo import ZOO

    make_model, make_inputs = ZOO[name]
    torch.manual_seed(0)
    model, inputs = make_model().eval(), make_inputs()
    args, kwargs = ((), inputs) if isinstance(inputs, dict) else (inputs, {})
    with torch.no_grad():
        golden = model(*args, **kwargs)
    record: dict = {}
    for compiler in COMPILERS:
        for numerics in NUMERICS:
            record[f"{compiler}/{numerics}"] = run_one(
                model, inputs, golden, compiler, numerics, numerics == "emulated"
            )
    return record


def _pcc(r: dict) -> str:
    if r["status"] != "ok":
        return "error"
    return f"{r['pcc']:.5f}" + (" (cpu fallback)" if r.get("cpu_fallback") else "")


def _ops(record: dict) -> str:
    theirs = record["tt-mlir/fast"].get("compute_ops")
    mine = record["tt-torch/fast"].get("compute_ops")
    if theirs is None or mine is None:
        return ""
    return f"{sum(theirs.values())} / {sum(mine.values())}"


def _worst(r: dict) -> str:
    w = r.get("worst_op")
    if r["status"] != "ok" or not w:
        return ""
    loc = w["loc"].split("(", 1)[0].strip('"')
    return f"{w['op']} `{loc}` {w['pcc']:.4f}"


def _op_differences(record: dict, top: int = 4) -> str:
    """The compute ops whose counts differ most between the two programs."""
    theirs = collections.Counter(record["tt-mlir/fast"].get("compute_ops") or {})
    mine = collections.Counter(record["tt-torch/fast"].get("compute_ops") or {})
    diffs = sorted(set(theirs) | set(mine), key=lambda k: -abs(theirs[k] - mine[k]))
    return ", ".join(f"{k.removeprefix('ttnn.')} {theirs[k]}/{mine[k]}" for k in diffs[:top] if theirs[k] != mine[k])


def table(records: dict) -> str:
    lines = [
        "| model | tt-mlir fast | tt-mlir emulated | tt-torch fast | tt-torch emulated | compute ops tt-mlir / tt-torch "
        "| largest count differences (tt-mlir/tt-torch) | worst op, tt-mlir (emulated) | worst op, tt-torch (emulated) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, rec in records.items():
        cells = [_pcc(rec[f"{c}/{n}"]) for c in COMPILERS for n in NUMERICS]
        cells += [_ops(rec), _op_differences(rec), _worst(rec["tt-mlir/emulated"]), _worst(rec["tt-torch/emulated"])]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary(records: dict) -> str:
    def meets(rec: dict) -> bool:
        return all(
            rec[f"tt-mlir/{n}"]["status"] == "ok" and rec[f"tt-mlir/{n}"]["pcc"] >= REQUIRED[n] for n in NUMERICS
        )

    good = [n for n, r in records.items() if meets(r)]
    lines = [
        f"tt-mlir's programs: {len(good)} of {len(records)} zoo models match eager at PCC >= {REQUIRED['fast']} "
        f"(fast numerics) and >= {REQUIRED['emulated']} (emulated)."
    ]
    for name, rec in records.items():
        if name in good:
            continue
        for n in NUMERICS:
            r = rec[f"tt-mlir/{n}"]
            why = r["error"] if r["status"] != "ok" else f"PCC {r['pcc']:.4f}"
            lines.append(f"- {name} ({n}): {why}")
    return "\n".join(lines)


def main() -> int:
    from tests.models.zoo import ZOO
    from tt_torch.tt_mlir import unavailable_reason

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", help="comma-separated names (default: the whole zoo)")
    p.add_argument("--json", help="write the per-model records here")
    p.add_argument("--md", help="write the markdown table and summary here")
    p.add_argument("--from-json", help="only render the table of an earlier run's --json records")
    args = p.parse_args()
    if args.from_json:
        with open(args.from_json) as f:
            records = json.load(f)
        return _write(records, args.md)
    if unavailable_reason():
        print(unavailable_reason(), file=sys.stderr)
        return 2
    names = args.models.split(",") if args.models else list(ZOO)
    records: dict = {}
    for name in names:
        records[name] = run_model(name)
        print(table({name: records[name]}).splitlines()[-1], file=sys.stderr, flush=True)
        if args.json:  # kept up to date: a long run leaves what it measured
            with open(args.json, "w") as f:
                json.dump(records, f, indent=1)
    return _write(records, args.md)


def _write(records: dict, md: str | None) -> int:
    text = f"{summary(records)}\n\n{table(records)}\n"
    print(text)
    if md:
        with open(md, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
