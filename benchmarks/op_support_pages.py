"""Regenerates docs/ops/: op-by-op runs of the small test models on both backends, then the report.

    python benchmarks/op_support_pages.py [--out docs/ops] [--results DIR]

Runs MLP, SmallCNN and the small BERT of tests/helpers.py in EXECUTE_OP_BY_OP
with OpByOpBackend.TORCH and STABLEHLO, then
``python -m tt_torch.tools.report RESULTS --md OUT`` (one page per op name).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # the tests package

from tests.helpers import MLP, SmallCNN, compile_tt, small_bert  # noqa: E402
from tt_torch.tools import report  # noqa: E402
from tt_torch.tools.utils import CompileDepth  # noqa: E402

MODELS = {
    "mlp": (MLP, lambda: (torch.randn(4, 32),)),
    "small_cnn": (SmallCNN, lambda: (torch.randn(2, 3, 16, 16),)),
    "small_bert": (small_bert, lambda: (torch.randint(0, 128, (1, 16)),)),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join("docs", "ops"))
    parser.add_argument("--results", help="keep the JSON results here (default: a temporary directory)")
    args = parser.parse_args()
    results = args.results or tempfile.mkdtemp(prefix="tt_op_pages_")
    torch.manual_seed(0)
    for name, (make_model, make_inputs) in MODELS.items():
        for backend in ("TORCH", "STABLEHLO"):
            torch._dynamo.reset()
            compiled, _ = compile_tt(
                make_model().eval(),
                CompileDepth.EXECUTE_OP_BY_OP,
                op_by_op_backend=backend,
                results_path=results,
                model_name=name,
                model_group="tests",
            )
            with torch.no_grad():
                compiled(*make_inputs())
    if os.path.isdir(args.out):
        shutil.rmtree(args.out)
    code = report.main([results, "--md", args.out])
    if not args.results:
        shutil.rmtree(results, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
