"""The worker process of op-by-op mode: compiles and runs one-op graphs, one request at a time.

It is started once (``python -m tt_torch.tools.op_by_op_worker``) and fed requests
over its stdin; it answers over its original stdout, while everything the
compiler or runtime prints (fd 1 and 2) goes to a log file the parent reads
when the worker dies. A crash or hang costs one op and one restart, not a
process start per op.

Framing: 8-byte big-endian length, then a pickle. The parent's first message
is ``{"sys_path": [...]}``; the worker answers ``{"ready": pid}``. Each request
then gets zero or more ``{"stage": int, "ir": {...}}`` messages (the furthest
stage reached so far, so a crash later still counts it) and one final message
with ``"done": True``.
"""

from __future__ import annotations

import importlib
import os
import pickle
import struct
import sys
import time
import traceback
from typing import Any, BinaryIO

# True inside the worker process. Test-only ops read it to crash or hang only here.
IN_WORKER = False

_HEADER = struct.Struct(">Q")


def send(stream: BinaryIO, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def read_exact(read, n: int) -> bytes | None:
    """Reads n bytes with ``read(k)``; None at end of stream."""
    chunks, got = [], 0
    while got < n:
        chunk = read(n - got)
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv(read) -> Any:
    header = read_exact(read, _HEADER.size)
    if header is None:
        return None
    data = read_exact(read, _HEADER.unpack(header)[0])
    if data is None:
        return None
    return pickle.loads(data)


# --- the stages ------------------------------------------------------------------------


class _Session:
    """What a worker keeps between requests: open devices."""

    def __init__(self) -> None:
        self.devices: dict[str, Any] = {}
        self._golden_context = None
        self._compile_context = None

    def compile_context(self):
        """One context (torch, StableHLO, TTIR, TTNN) for all one-op compiles of this worker."""
        if self._compile_context is None:
            from torch_mlir import ir
            from torch_mlir.dialects import torch as torch_d

            from tt_torch.compiler import context

            self._compile_context = ir.Context()
            torch_d.register_dialect(self._compile_context)
            context.prepare(self._compile_context)
        return self._compile_context

    def golden_context(self):
        """One context for all golden evaluations: making one costs ~15 ms, an evaluation ~2 ms."""
        if self._golden_context is None:
            from tt_torch.compiler import context

            self._golden_context = context.new_context()
        return self._golden_context

    def device(self, target: str, binary):
        from tt_torch import runtime

        if target not in self.devices:
            self.devices[target] = runtime.open_device_for_target(target, binary)
        return self.devices[target]


def _torch_to_stablehlo(gm, inputs, stage, context) -> Any:
    """One-op FX graph -> StableHLO module, reporting each of torch-mlir's stages."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.passes.fake_tensor_prop import FakeTensorProp
    from torch_mlir.compiler_utils import OutputType, lower_mlir_module, run_pipeline_with_repro_report
    from torch_mlir.extras.fx_importer import FxImporter

    from tt_torch.dynamo.importer import _LocatingCache

    mode = FakeTensorMode(allow_non_fake_inputs=True)
    FakeTensorProp(gm, mode).propagate(*[mode.from_tensor(t) for t in inputs])
    stage(1)  # CREATED_GRAPH
    importer = FxImporter(context=context)
    importer._cc = _LocatingCache(context, py_attr_tracker=importer._py_attr_tracker)
    importer.import_stateless_graph(gm.graph, func_name="main")
    module = importer.module
    stage(2)  # CONVERTED_TO_TORCH_IR
    run_pipeline_with_repro_report(
        module,
        "builtin.module(func.func(torch-match-quantized-custom-ops), "
        "torchdynamo-export-to-torch-backend-pipeline{ extra-library=})",
        "Lowering TorchFX IR -> Torch Backend IR",
    )
    stage(3)  # CONVERTED_TO_TORCH_BACKEND_IR
    lower_mlir_module(False, OutputType.STABLEHLO, module)
    return module


def _compile_and_run(session: _Session, module, req: dict, stage) -> dict:
    """StableHLO module -> TTIR -> TTNN -> flatbuffer -> device, reporting each stage."""
    from tt_torch import runtime
    from tt_torch.compiler import context, pipelines
    from tt_torch.compiler.conversion.common import Report
    from tt_torch.compiler.target.flatbuffer import to_flatbuffer
    from tt_torch.runtime.loaded import narrow

    text = module.operation.get_asm(enable_debug_info=True, large_elements_limit=16)
    stage(4, {"stablehlo": text})  # CONVERTED_TO_STABLE_HLO
    context.prepare(module.context)
    num_args = len(module.body.operations[0].regions[0].blocks[0].arguments)
    names = [f"input_{i}" for i in range(num_args)]
    pipelines.tag_arguments(module, names, ["input"] * num_args)
    report = Report()
    texts = {}
    for status, dialect, pipeline in ((5, "ttir", "stablehlo-to-ttir-pipeline"), (6, "ttnn", "ttir-to-ttnn-pipeline")):
        for name in pipelines.PIPELINES[pipeline]:
            pipelines.run_pass(name, module, report, req.get("verify", False))
        texts[dialect] = module.operation.get_asm(enable_debug_info=True, large_elements_limit=16)
        stage(status, {dialect: texts[dialect]})
    flatbuffer = to_flatbuffer(module, req["target"], texts)
    if not req["execute"]:
        return {}
    binary = runtime.load_binary(flatbuffer)
    descs = binary.program_inputs(0)
    host = [narrow(t, runtime.torch_dtype(d["dtype"]), d["name"]) for t, d in zip(req["inputs"], descs)]
    t = time.perf_counter()
    outputs = runtime.submit(session.device(req["target"], binary), binary, 0, host)
    run_s = time.perf_counter() - t
    stage(7)  # EXECUTED
    return {"outputs": outputs, "run_s": run_s}


def stablehlo_golden(module_text: str, inputs: list, context=None) -> list:
    """CPU golden of a one-op StableHLO module, from StableHLO's reference interpreter."""
    import numpy as np
    import torch
    from torch_mlir import ir
    from torch_mlir._mlir_libs import _stablehlo

    from tt_torch.compiler import context as ctx

    # the interpreter knows stablehlo.constant, not arith.constant (same syntax)
    module_text = module_text.replace("arith.constant", "stablehlo.constant")
    with context or ctx.new_context():
        module = ir.Module.parse(module_text)
        args = [ir.DenseElementsAttr.get(np.array(t.detach().numpy(), order="C")) for t in inputs]  # keeps 0-d
        results = _stablehlo.eval_module(module, args)
        # a splat attribute reads back as one element: broadcast it to the result's shape
        return [torch.from_numpy(np.broadcast_to(np.array(r), ir.ShapedType(r.type).shape).copy()) for r in results]


def handle(session: _Session, req: dict, out: BinaryIO) -> dict:
    """Runs one request; returns the final message (also on a Python exception)."""
    reached = {"status": 0}

    def stage(status: int, ir: dict | None = None) -> None:
        reached["status"] = status
        send(out, {"stage": status, "ir": ir or {}})

    t0 = time.perf_counter()
    try:
        for name in req.get("imports", ()):
            importlib.import_module(name)
        if req["kind"] == "golden":
            return {"done": True, "golden": stablehlo_golden(req["module"], req["inputs"], session.golden_context())}
        if req["kind"] == "torch":
            gm = pickle.loads(req["graph"])
            module = _torch_to_stablehlo(gm, req["inputs"], stage, session.compile_context())
        else:
            from torch_mlir import ir

            module = ir.Module.parse(req["module"], session.compile_context())
            stage(1)  # CREATED_GRAPH: the one-op module parses
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
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # elsewhere the worker still ends when its stdin closes, between requests


def main() -> int:
    global IN_WORKER
    IN_WORKER = True
    _die_with_parent()
    # under `python -m` this file runs as __main__: flag the module others import, too
    from tt_torch.tools import op_by_op_worker

    op_by_op_worker.IN_WORKER = True
    proto_in = os.fdopen(os.dup(0), "rb", buffering=0)
    proto_out = os.fdopen(os.dup(1), "wb")
    # whatever the compiler, the runtime or an op prints goes to the log (our stderr)
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    hello = recv(proto_in.read)
    if hello is None:
        return 0
    sys.path[:] = hello["sys_path"]
    import torch  # noqa: F401  (the heavy imports, once, before saying ready)

    import tt_torch.compiler.pipelines  # noqa: F401
    import tt_torch.runtime  # noqa: F401

    send(proto_out, {"ready": os.getpid()})
    session = _Session()
    while True:
        req = recv(proto_in.read)
        if req is None:
            return 0
        send(proto_out, handle(session, req, proto_out))


if __name__ == "__main__":
    sys.exit(main())
