"""ResNet-50 through tt-torch: compile, run on the emulated n150, check against CPU, export.

    python demos/resnet/resnet50_demo.py [--runs 5] [--out resnet50.ttnn]

The model is transformers' ResNet-50 (ResNetConfig() defaults: 2 classes) with
random weights, batch 1, 224x224. The flatbuffer goes to --out (default: a
folder under the system's temporary directory, never into the checkout). The
logits have 2 values, too few for a correlation: the PCC printed is tt-torch's
small-output measure (1 - relative error, tt_torch.accuracy), beside the
absolute and relative error. The check is the relative error against
MAX_RELATIVE_ERROR: with the device's emulated numerics (TF32 operands in every
conv and matmul) the error of the logits grows over the network's 53 convolutions
to about 2e-2 of their largest magnitude; TT_TORCH_NUMERICS=fast gives fp32 math.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch
import transformers

from tt_torch.accuracy import compute_relative_error
from tt_torch.dynamo import BackendOptions, CompileArtifacts
from tt_torch.tools.utils import CompilerConfig
from tt_torch.tools.verify import compute_atol, compute_pcc

MAX_RELATIVE_ERROR = 5e-2  # of the largest logit's magnitude, emulated numerics (see above)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed steady-state runs")
    parser.add_argument(
        "--out",
        default=os.path.join(tempfile.gettempdir(), "tt_torch_demo", "resnet50.ttnn"),
        help="where to write the flatbuffer (default: tt_torch_demo/resnet50.ttnn in the temporary directory)",
    )
    args = parser.parse_args()

    torch.manual_seed(0)
    model = transformers.ResNetForImageClassification(transformers.ResNetConfig()).eval()
    image = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        golden = model(image).logits

    artifacts = CompileArtifacts()
    options = BackendOptions(compiler_config=CompilerConfig(model_name="resnet50"), artifacts=artifacts)
    compiled = torch.compile(model, backend="tt", options=options)

    with torch.no_grad():
        t0 = time.perf_counter()
        out = compiled(image).logits  # first call: trace, compile, load, run
        first_call = time.perf_counter() - t0
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            out = compiled(image).logits
            times.append(time.perf_counter() - t)

    graph = artifacts.last
    compile_seconds = graph.stage_seconds["total"]
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    graph.save_flatbuffer(args.out)
    ops = graph.report["op_counts"]["ttnn"]
    print(f"ResNet-50 on emulated {options.compiler_config.target}")
    print(
        f"  vs CPU:            PCC {compute_pcc(golden, out):.6f}, atol {compute_atol(golden, out):.2e}, "
        f"relative error {compute_relative_error(golden, out):.2e} ({golden.numel()} logits)"
    )
    print(
        f"  compile time:      {compile_seconds:.2f} s  ("
        + ", ".join(f"{k} {v:.2f}s" for k, v in graph.stage_seconds.items() if k != "total")
        + ")"
    )
    print(f"  first call:        {first_call:.2f} s")
    print(
        f"  steady latency:    {statistics.median(times) * 1e3:.1f} ms median of {len(times)} (min {min(times) * 1e3:.1f})"
    )
    print(
        f"  TTNN ops:          {sum(v for k, v in ops.items() if k != 'func.return')} "
        f"({ops.get('ttnn.conv2d', 0)} conv2d, {ops.get('ttnn.max_pool2d', 0)} max_pool2d)"
    )
    print(f"  flatbuffer:        {args.out} ({os.path.getsize(args.out) / 1e6:.1f} MB)")
    relative = compute_relative_error(golden, out)
    if relative > MAX_RELATIVE_ERROR:
        raise SystemExit(f"relative error {relative:.2e} above {MAX_RELATIVE_ERROR:.0e}")


if __name__ == "__main__":
    main()
