"""The ONNX CPU fallback and ONNX op by op on a BERT-style encoder with a node the device path refuses.

    python benchmarks/onnx_fallback.py [--json PATH] [--results DIR]

The encoder of ``tests/onnx/models.py`` (exported with ``torch.onnx.export``) gets, after its
first ``Erf``, ``v + 0 * ReduceSum(Det(Reshape(v, [-1, 2, 2])))``: the same outputs, and a
``Det`` node torch-mlir cannot lower to StableHLO. It is compiled with the CPU fallback on
(the default) and checked against ONNX Runtime (PCC), then run op by op
(``EXECUTE_OP_BY_OP``, ``OpByOpBackend.STABLEHLO``): one record per unique ONNX node.
Prints and writes (``--json``) the host nodes, partitions, bytes crossing per call, compile
and probe seconds, PCCs, and the op-by-op summary.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time

import onnx
from onnx import TensorProto, helper

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)


def with_det(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with ``v + 0 * ReduceSum(Det(Reshape(v, [-1, 2, 2])))`` after its first Erf's output v."""
    g = model.graph
    k = next(i for i, n in enumerate(g.node) if n.op_type == "Erf")
    v = g.node[k].output[0]
    g.initializer.extend(
        [
            helper.make_tensor("det_zero", TensorProto.FLOAT, [], [0.0]),
            helper.make_tensor("det_shape", TensorProto.INT64, [3], [-1, 2, 2]),
        ]
    )
    for n in g.node[k + 1 :]:
        for j, name in enumerate(n.input):
            if name == v:
                n.input[j] = "det_out"
    added = [
        helper.make_node("Reshape", [v, "det_shape"], ["det_in"], name="det_reshape"),
        helper.make_node("Det", ["det_in"], ["det"], name="injected_det"),
        helper.make_node("ReduceSum", ["det"], ["det_sum"], keepdims=0, name="det_sum"),
        helper.make_node("Mul", ["det_sum", "det_zero"], ["det_zeroed"], name="det_mul"),
        helper.make_node("Add", [v, "det_zeroed"], ["det_out"], name="det_add"),
    ]
    for j, n in enumerate(added):
        g.node.insert(k + 1 + j, n)
    return model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--results", default=None, help="op-by-op results folder (default: a temporary one)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    os.environ.setdefault("TT_TORCH_CACHE_DIR", "off")

    from tests.onnx.models import bert_style
    from tt_torch.accuracy import compute_pcc
    from tt_torch.onnx_compile import compile_onnx
    from tt_torch.tools.utils import CompileDepth, CompilerConfig, OpByOpBackend

    work = tempfile.mkdtemp(prefix="onnx_fallback_")
    path = os.path.join(work, "bert.onnx")
    inputs = bert_style(path)
    proto = with_det(onnx.load(path))
    out: dict = {"nodes": len(proto.graph.node)}
    t = time.perf_counter()
    model = compile_onnx(proto)
    out["compile_seconds"] = round(time.perf_counter() - t, 2)
    fallback = model.report["cpu_fallback"]
    out["host_nodes"] = [(e["source"], e["opset"], e["stage"]) for e in fallback["ops"]]
    out["partitions"] = [
        (p["name"], p["ops"], p["to_device_bytes"], p["from_device_bytes"]) for p in fallback["partitions"]
    ]
    out["transfers"] = fallback["transfers"]
    out["probe_seconds"] = fallback["probe_seconds"]
    ours, golden = model(*inputs), model.run_reference(list(inputs))
    out["pcc"] = {name: compute_pcc(g, o) for name, g, o in zip(ours.names, golden, ours)}
    model.close()
    config = CompilerConfig(
        compile_depth=CompileDepth.EXECUTE_OP_BY_OP,
        op_by_op_backend=OpByOpBackend.STABLEHLO,
        results_path=args.results or os.path.join(work, "results"),
    )
    t = time.perf_counter()
    stepwise = compile_onnx(proto, config)
    stepwise(*inputs)
    out["op_by_op_seconds"] = round(time.perf_counter() - t, 2)
    summary = stepwise.report["op_by_op"]
    out["op_by_op"] = {k: summary[k] for k in ("unique_ops", "total_ops", "by_status", "low_pcc")}
    print(json.dumps(out, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
