"""The model zoo (tests/models/zoo.py) through the real tt-mlir, compile-only, next to tt-torch.

    python benchmarks/tt_mlir_zoo.py [--models bert,gpt2] [--json out.json]

For each model (CompilerConfig.cross_check_tt_mlir at TTNN_IR depth): tt-torch's StableHLO goes
to the real tt-mlir and to tt-torch's own compiler; prints tt-mlir's status (or its first error line) and the compute ops
that only one of the two TTNN programs has (tt_torch.tt_mlir.compare). Needs jax-tt-plugin.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # the tests package: its models and helpers


def cross_check(make_model, make_inputs) -> list[dict]:
    """tt-torch to TTNN with CompilerConfig.cross_check_tt_mlir: one record per graph."""
    from tt_torch.dynamo import BackendOptions, CompileArtifacts
    from tt_torch.tools.utils import CompileDepth, CompilerConfig

    torch._dynamo.reset()
    model, inputs = make_model().eval(), make_inputs()
    art = CompileArtifacts()
    config = CompilerConfig(compile_depth=CompileDepth.TTNN_IR, cross_check_tt_mlir=True)
    compiled = torch.compile(model, backend="tt", options=BackendOptions(compiler_config=config, artifacts=art))
    with torch.no_grad():
        compiled(**inputs) if isinstance(inputs, dict) else compiled(*inputs)
    return [g.report["tt_mlir"] for g in art.graphs]


def main() -> int:
    from tests.models.zoo import ZOO
    from tt_torch.tt_mlir import compare, unavailable_reason

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", help="comma-separated names (default: the whole zoo)")
    p.add_argument("--json", help="write the per-model records here")
    args = p.parse_args()
    if unavailable_reason():
        print(unavailable_reason(), file=sys.stderr)
        return 2
    names = args.models.split(",") if args.models else list(ZOO)
    records: dict = {}
    rows = []
    for name in names:
        try:
            graphs = cross_check(*ZOO[name])
        except Exception as e:  # a model tt-torch cannot bring to TTNN is reported, not fatal
            records[name] = {"status": "tt-torch failed", "error": f"{type(e).__name__}: {str(e)[:300]}"}
            rows.append(f"| {name} | (tt-torch did not reach TTNN) | | |")
            continue
        bad = [g for g in graphs if g["status"] != "ok"]
        records[name] = {"status": bad[0]["status"] if bad else "ok", "graphs": graphs}
        if bad:
            first = (bad[0]["error"].splitlines() or [""])[0][:140].replace("|", "/")
            rows.append(f"| {name} | {bad[0]['status']}: {first} | | |")
        else:
            only_real = sum((collections.Counter(g["only_tt_mlir"]) for g in graphs), collections.Counter())
            only_ours = sum((collections.Counter(g["only_tt_torch"]) for g in graphs), collections.Counter())
            rows.append(f"| {name} | ok | {compare._fmt(dict(only_real))} | {compare._fmt(dict(only_ours))} |")
        print(rows[-1], file=sys.stderr)
    ok = sum(1 for r in records.values() if r["status"] == "ok")
    reached = sum(1 for r in records.values() if r["status"] != "tt-torch failed")
    print(
        f"tt-mlir compiled {ok} of the {reached} zoo models tt-torch brought to StableHLO ({len(names)} in the zoo)\n"
    )
    print("| model | tt-mlir | only in tt-mlir's program | only in tt-torch's program |")
    print("|---|---|---|---|")
    print("\n".join(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
