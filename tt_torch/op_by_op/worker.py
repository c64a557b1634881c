"""The worker process of op-by-op mode: compiles and runs one-op graphs, one request at a time.

It is started once (``python -m tt_torch.op_by_op.worker``) and fed requests
over its stdin (:mod:`.protocol`); it answers over its original stdout, while
everything the compiler or runtime prints (fd 1 and 2) goes to a log file the
parent reads when the worker dies. A crash or hang costs one op and one restart,
not a process start per op. Each one-op module goes through the same
``compile_stablehlo`` as a whole graph, device passes included.
"""

from __future__ import annotations

import ctypes
import dataclasses
import importlib
import os
import pickle
import signal
import sys
import time
import traceback
from typing import Any, BinaryIO

import numpy as np
import torch
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.fx.passes.fake_tensor_prop import FakeTensorProp
from torch_mlir import ir
from torch_mlir._mlir_libs import _stablehlo
from torch_mlir.compiler_utils import OutputType, lower_mlir_module, run_pipeline_with_repro_report
from torch_mlir.dialects import torch as torch_d

from tt_torch import runtime
from tt_torch.compiler import context, pipelines
from tt_torch.compiler.ir_helpers import module_text
from tt_torch.config import OpCompilationStatus as Status
from tt_torch.frontend.importer import locating_importer

from . import protocol

# the status an op reaches with each stage of the compiler (pipelines.STAGES)
_STAGE_STATUS = {"ttir": Status.CONVERTED_TO_TTIR, "ttnn": Status.CONVERTED_TO_TTNN}


class _Session:
    """What a worker keeps between requests: open devices and MLIR contexts."""

    def __init__(self) -> None:
        self.devices: dict[str, Any] = {}
        self._golden_context = None
        self._compile_context = None

    def compile_context(self) -> ir.Context:
        """One context (torch, StableHLO, TTIR, TTNN) for all one-op compiles of this worker."""
        if self._compile_context is None:
            self._compile_context = ir.Context()
            torch_d.register_dialect(self._compile_context)
            context.prepare(self._compile_context)
        return self._compile_context

    def golden_context(self) -> ir.Context:
        """One context for all golden evaluations: making one costs ~15 ms, an evaluation ~2 ms."""
        if self._golden_context is None:
            self._golden_context = context.new_context()
        return self._golden_context

    def device(self, target: str, binary) -> runtime.Device:
        if target not in self.devices:
            self.devices[target] = runtime.open_device_for_target(target, binary)
        return self.devices[target]


def _torch_to_stablehlo(gm, inputs, stage, mlir_context: ir.Context) -> ir.Module:
    """One-op FX graph -> StableHLO module, reporting each of torch-mlir's stages."""
    mode = FakeTensorMode(allow_non_fake_inputs=True)
    FakeTensorProp(gm, mode).propagate(*[mode.from_tensor(t) for t in inputs])
    stage(Status.CREATED_GRAPH)
    importer = locating_importer(mlir_context)
    importer.import_stateless_graph(gm.graph, func_name="main")
    module = importer.module
    stage(Status.CONVERTED_TO_TORCH_IR)
    run_pipeline_with_repro_report(
        module,
        "builtin.module(func.func(torch-match-quantized-custom-ops), "
        "torchdynamo-export-to-torch-backend-pipeline{ extra-library=})",
        "Lowering TorchFX IR -> Torch Backend IR",
    )
    stage(Status.CONVERTED_TO_TORCH_BACKEND_IR)
    lower_mlir_module(False, OutputType.STABLEHLO, module)
    return module


# how far a one-node ONNX model got when its import fails: the torch-mlir pipeline the error names
_ONNX_PIPELINE_STATUS = {
    "(Torch ops -> Torch backend IR)": Status.CONVERTED_TO_TORCH_IR,
    "(Torch backend IR -> StableHLO)": Status.CONVERTED_TO_TORCH_BACKEND_IR,
}


def _onnx_to_stablehlo(model_bytes: bytes, stage, mlir_context: ir.Context) -> ir.Module:
    """One-node ONNX model -> StableHLO module, through compile_onnx's import."""
    import onnx  # lazy: only ONNX requests need onnx and its importer

    from tt_torch.errors import FrontendError  # lazy: with the ONNX importer below
    from tt_torch.frontend import onnx_importer  # lazy: a second of start-up that torch requests do not need

    prepared = onnx_importer.prepare(onnx.load_from_string(model_bytes))
    stage(Status.CREATED_GRAPH)
    try:
        module = onnx_importer.import_stablehlo(prepared, mlir_context)
    except FrontendError as e:
        for pipeline, status in _ONNX_PIPELINE_STATUS.items():
            if pipeline in str(e):
                stage(status)
        raise
    stage(Status.CONVERTED_TO_TORCH_BACKEND_IR)
    return module


def _compile_and_run(session: _Session, module: ir.Module, req: dict, stage) -> dict:
    """StableHLO module -> TTIR -> TTNN -> flatbuffer (the whole compiler) -> device."""
    # with every constant written out too: what the real tt-mlir parses (cross_check_tt_mlir)
    full = module.operation.get_asm(enable_debug_info=True) if req.get("full_stablehlo") else None
    stage(Status.CONVERTED_TO_STABLE_HLO, {"stablehlo": module_text(module), "stablehlo_full": full})
    num_args = len(module.body.operations[0].regions[0].blocks[0].arguments)
    options = dataclasses.replace(
        req["options"], arg_names=[f"input_{i}" for i in range(num_args)], arg_kinds=["input"] * num_args
    )
    result = pipelines.compile_stablehlo(
        module, options, on_stage=lambda dialect, text: stage(_STAGE_STATUS[dialect], {dialect: text})
    )
    if not req["execute"]:
        return {}
    binary = runtime.load_binary(result.flatbuffer)
    descs = binary.program_inputs(0)
    host = [runtime.narrow(t, runtime.torch_dtype(d["dtype"]), d["name"]) for t, d in zip(req["inputs"], descs)]
    t = time.perf_counter()
    outputs = runtime.submit(session.device(options.target, binary), binary, 0, host)
    run_s = time.perf_counter() - t
    stage(Status.EXECUTED)
    return {"outputs": outputs, "run_s": run_s}


def stablehlo_golden(module_text: str, inputs: list, golden_context: ir.Context | None = None) -> list:
    """CPU golden of a one-op StableHLO module, from StableHLO's reference interpreter."""
    # the interpreter knows stablehlo.constant, not arith.constant (same syntax)
    module_text = module_text.replace("arith.constant", "stablehlo.constant")
    with golden_context or context.new_context():
        module = ir.Module.parse(module_text)
        args = [ir.DenseElementsAttr.get(np.array(t.detach().numpy(), order="C")) for t in inputs]  # keeps 0-d
        results = _stablehlo.eval_module(module, args)
        # a splat attribute reads back as one element: broadcast it to the result's shape
        return [torch.from_numpy(np.broadcast_to(np.array(r), ir.ShapedType(r.type).shape).copy()) for r in results]


def handle(session: _Session, req: dict, out: BinaryIO) -> dict:
    """Runs one request; returns the final message (also on a Python exception)."""

    def stage(status: Status, ir_texts: dict | None = None) -> None:
        protocol.send(out, {"stage": int(status), "ir": ir_texts or {}})

    t0 = time.perf_counter()
    try:
        for name in req.get("imports", ()):
            importlib.import_module(name)
        if req["kind"] == "golden":
            return {"done": True, "golden": stablehlo_golden(req["module"], req["inputs"], session.golden_context())}
        if req["kind"] == "torch":
            gm = pickle.loads(req["graph"])
            module = _torch_to_stablehlo(gm, req["inputs"], stage, session.compile_context())
        elif req["kind"] == "onnx":
            module = _onnx_to_stablehlo(req["model"], stage, session.compile_context())
        else:
            module = ir.Module.parse(req["module"], session.compile_context())
            stage(Status.CREATED_GRAPH)  # the one-op module parses
        result = _compile_and_run(session, module, req, stage)
        result.update(done=True, seconds=time.perf_counter() - t0)
        return result
    except Exception as e:  # a failing stage is a result: it is recorded, not raised
        text = f"{type(e).__name__}: {e}".strip()
        return {
            "done": True,
            "error": text,
            "traceback": traceback.format_exc(limit=8),
            "seconds": time.perf_counter() - t0,
        }


def _die_with_parent() -> None:
    """A worker stuck in a hanging op must not outlive a parent that was killed (Linux only)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # elsewhere the worker still ends when its stdin closes, between requests


def main() -> int:
    protocol.IN_WORKER = True
    _die_with_parent()
    proto_in = os.fdopen(os.dup(0), "rb", buffering=0)
    proto_out = os.fdopen(os.dup(1), "wb")
    # whatever the compiler, the runtime or an op prints goes to the log (our stderr)
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    hello = protocol.recv(proto_in.read)
    if hello is None:
        return 0
    sys.path[:] = hello["sys_path"]
    protocol.send(proto_out, {"ready": os.getpid()})
    session = _Session()
    while True:
        req = protocol.recv(proto_in.read)
        if req is None:
            return 0
        protocol.send(proto_out, handle(session, req, proto_out))


if __name__ == "__main__":
    sys.exit(main())
