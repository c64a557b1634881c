"""Runs compiler passes on an .mlir file, one at a time or as a pipeline.

python -m tt_torch.compiler.opt --pass stablehlo-to-ttir model.stablehlo.mlir
python -m tt_torch.compiler.opt --pass ttir-to-ttnn --pass ttnn-deallocate model.ttir.mlir -o model.ttnn.mlir
python -m tt_torch.compiler.opt --pipeline ttir-to-ttnn-pipeline model.ttir.mlir
python -m tt_torch.compiler.opt --to-flatbuffer model.ttnn.mlir -o model.ttnn

The device passes take their options as a compile does (``--target``,
``--math-fidelity``, ``--weight-dtype``, ``--optimization-level``).
"""

from __future__ import annotations

import argparse
import json
import sys

from torch_mlir import ir

from tt_torch.errors import TTTorchError

from . import context, pipelines
from .options import (
    DEFAULT_MATH_FIDELITY,
    DEFAULT_TARGET,
    MATH_FIDELITIES,
    OPTIMIZATION_LEVELS,
    TARGETS,
    WEIGHT_DTYPES,
    CompileOptions,
)
from .report import Report
from .target.flatbuffer import to_flatbuffer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tt_torch.compiler.opt", description=__doc__.splitlines()[0])
    parser.add_argument("input", help="an .mlir file ('-' for stdin)")
    parser.add_argument("--pass", dest="passes", action="append", default=[], choices=sorted(pipelines.PASSES))
    parser.add_argument("--pipeline", choices=sorted(pipelines.PIPELINES))
    parser.add_argument("--to-flatbuffer", action="store_true", help="serialize a TTNN module as a .ttnn binary")
    parser.add_argument("--target", default=DEFAULT_TARGET, help=f"device the program is for ({', '.join(TARGETS)})")
    parser.add_argument("--math-fidelity", default=DEFAULT_MATH_FIDELITY, choices=MATH_FIDELITIES)
    parser.add_argument("--weight-dtype", default="", choices=WEIGHT_DTYPES, help="block-float format of the weights")
    parser.add_argument("--optimization-level", type=int, default=0, choices=OPTIMIZATION_LEVELS)
    parser.add_argument("--verify-each", action="store_true", help="verify the module after every pass")
    parser.add_argument("--report", action="store_true", help="print the compile report (JSON) on stderr")
    parser.add_argument("-o", "--output", default="-", help="output file (default: stdout)")
    args = parser.parse_args(argv)

    text = sys.stdin.read() if args.input == "-" else open(args.input).read()
    ctx = context.new_context()
    try:
        with ctx:
            module = ir.Module.parse(text)
        names = list(args.passes) + (pipelines.PIPELINES[args.pipeline] if args.pipeline else [])
        report = Report()
        options = CompileOptions(
            target=args.target,
            math_fidelity=args.math_fidelity,
            experimental_weight_dtype=args.weight_dtype,
            optimization_level=args.optimization_level,
        )
        for name in names:
            pipelines.run_pass(name, module, report, options, verify=args.verify_each)
        if args.to_flatbuffer:
            data = to_flatbuffer(module, args.target)
            if args.output == "-":
                sys.stdout.buffer.write(data)
            else:
                with open(args.output, "wb") as f:
                    f.write(data)
        else:
            out = module.operation.get_asm(enable_debug_info=True)
            if args.output == "-":
                sys.stdout.write(out)
            else:
                with open(args.output, "w") as f:
                    f.write(out)
        if args.report:
            print(json.dumps(report.as_dict(), indent=2), file=sys.stderr)
    except (TTTorchError, ir.MLIRError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
