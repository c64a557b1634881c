"""Op-by-op bring-up: every unique op of a graph compiled and run on its own.

``CompileDepth.COMPILE_OP_BY_OP`` / ``EXECUTE_OP_BY_OP`` call :func:`run_graph`
from the executor with the graph's real inputs. Two backends split the graph:

- ``OpByOpBackend.TORCH``: one-op FX graphs, one per unique aten op (name +
  input shapes + dtypes + non-tensor arguments); their inputs are the values the
  model really computed (the CPU run of the FX graph).
- ``OpByOpBackend.STABLEHLO``: one-op StableHLO modules, split from the
  graph's StableHLO module; CPU goldens come from StableHLO's reference
  interpreter, op after op, so real values flow from one op to the next.

Each unique op is compiled (and, for EXECUTE_OP_BY_OP, run against its CPU
golden) in a persistent worker process (:mod:`.worker`); a crash or a
hang longer than ``single_op_timeout`` is that op's failure and the next op
gets a fresh worker. One JSON file per unique op is written as soon as the op
finishes. ``python -m tt_torch.tools.report`` turns them into reports.

:func:`probe_support` uses the same machinery (TORCH backend, compile only, no
files written) to answer, per FX node, whether the device path takes the op: the
CPU fallback of ``CompilerConfig.enable_cpu_fallback`` partitions a graph by it. Its
worker is kept for the process's later probes, and its answers per unique op.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import operator
import os
import pickle
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx
from torch.utils import _pytree as pytree

from tt_torch import tt_mlir
from tt_torch.accuracy import REQUIRED_PCC, compute_atol, compute_pcc
from tt_torch.compiler.options import CompileOptions
from tt_torch.composite import node_of_location
from tt_torch.config import CompileDepth, CompilerConfig, OpByOpBackend, OpCompilationStatus
from tt_torch.errors import TTTorchError
from tt_torch.frontend.importer import source_line
from tt_torch.tt_mlir import compare

from . import protocol

_WORKER_START_TIMEOUT = 300.0
_OUTPUT_TAIL = 4000
_BUILTIN_NAMESPACES = {"aten", "prims", "quantized", "_quant", "torch", "rngprims", "higher_order"}


class WorkerError(TTTorchError):
    """The op-by-op worker process could not be started."""


@dataclass
class OpRecord:
    """What is recorded of one unique op (one JSON file)."""

    op_name: str
    torch_name: str
    backend: str
    model_name: str
    model_group: str
    graph_name: str
    run_id: str
    index: int
    input_shapes: list[list[int]]
    input_dtypes: list[str]
    output_shapes: list[list[int]]
    output_dtypes: list[str]
    args: str = ""  # the op's non-tensor arguments, as text
    num_ops: int = 1
    status: int = 0
    status_name: str = "NOT_STARTED"
    target_status: str = "EXECUTED"
    error: str | None = None
    worker_output: str | None = None
    stablehlo: str | None = None
    ttir: str | None = None
    ttnn: str | None = None
    pcc: float | None = None
    atol: float | None = None
    compile_seconds: float | None = None
    run_seconds: float | None = None
    fx_nodes: list[str] = field(default_factory=list)
    # CompilerConfig.cross_check_tt_mlir: the real tt-mlir on the op's StableHLO
    # (status: ok / rejected / crash / timeout / unavailable / not_compiled), its error,
    # and the TTNN op differences (tt_torch.tt_mlir.compare).
    tt_mlir_status: str | None = None
    tt_mlir_error: str | None = None
    tt_mlir_ops_diff: str | None = None
    tt_mlir: dict | None = None
    # where the op runs when the model is compiled whole: "device" (it compiles to TTNN on its
    # own), "cpu" (it does not, and CompilerConfig.enable_cpu_fallback moves it to the host) or
    # "none" (it does not, and the fallback is off: the model's compile fails)
    runs_on: str | None = None

    def reaches_device(self) -> bool:
        """Whether the op compiled to TTNN without an error: the CPU fallback's test of support."""
        return self.status >= OpCompilationStatus.CONVERTED_TO_TTNN and not self.error

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class UniqueOp:
    key: Any
    record: OpRecord
    request: dict[str, Any]
    goldens: list[torch.Tensor] | None
    full_stablehlo: str | None = None  # the worker's StableHLO with every constant (torch ops)


# --- the worker, seen from the parent ---------------------------------------------------


@dataclass
class WorkerReply:
    final: dict[str, Any] | None  # the worker's final message; None when it crashed or hung
    stage: int = 0  # furthest stage reported
    ir: dict[str, str] = field(default_factory=dict)
    failure: str | None = None  # "crashed ..." / "timed out ..."
    output: str = ""  # what the worker printed during the request (on failure)


class OpWorker:
    """A persistent worker process fed over a pipe; restarted after a crash or hang."""

    def __init__(self, log_dir: str | None = None):
        self._own_log_dir = log_dir is None
        self._log_dir = log_dir or tempfile.mkdtemp(prefix="tt_op_by_op_")
        self._proc: subprocess.Popen | None = None
        self._log_path = ""
        self.starts = 0
        # One request at a time: the pipe carries one conversation (threads share the probe worker).
        self._lock = threading.RLock()

    def _start(self) -> None:
        self.starts += 1
        os.makedirs(self._log_dir, exist_ok=True)
        self._log_path = os.path.join(self._log_dir, f"worker_{os.getpid()}_{self.starts}.log")
        log = open(self._log_path, "ab")  # O_APPEND: the worker's writes and our reads do not share an offset
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "tt_torch.op_by_op.worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                close_fds=True,
            )
        finally:
            log.close()
        protocol.send(self._proc.stdin, {"sys_path": list(sys.path)})
        msg = self._read(time.monotonic() + _WORKER_START_TIMEOUT)
        if not isinstance(msg, dict) or "ready" not in msg:
            out = self._log_tail(0)
            self.close()
            raise WorkerError(
                f"the op-by-op worker did not start ({'no answer' if msg is None else msg!r}); it printed:\n{out}\n"
                f"  Check that `{sys.executable} -m tt_torch.op_by_op.worker` imports cleanly."
            )

    def _read(self, deadline: float) -> Any:
        """The next message, None if the worker died, "timeout" past the deadline."""
        fd = self._proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return "timeout"
        return protocol.recv(lambda n: os.read(fd, n))

    def _log_size(self) -> int:
        try:
            return os.path.getsize(self._log_path)
        except OSError:
            return 0

    def _log_tail(self, start: int) -> str:
        try:
            with open(self._log_path, "rb") as f:
                f.seek(start)
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return text[-_OUTPUT_TAIL:]

    def start(self) -> None:
        """Starts the worker unless it is running (requests start it when needed)."""
        if self._proc is None or self._proc.poll() is not None:
            self._start()

    def request(self, message: dict[str, Any], timeout: float) -> WorkerReply:
        with self._lock:
            return self._request(message, timeout)

    def _request(self, message: dict[str, Any], timeout: float) -> WorkerReply:
        self.start()
        start = self._log_size()
        reply = WorkerReply(final=None)
        try:
            protocol.send(self._proc.stdin, message)
        except (BrokenPipeError, OSError):
            pass  # it died; the read below says how
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read(deadline)
            if msg == "timeout":
                self._kill()
                reply.failure = f"timed out after {timeout:g} s (single_op_timeout); the worker was killed"
                break
            if msg is None:
                code = self._proc.wait()
                how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
                reply.failure = f"the worker crashed ({how})"
                self._proc = None
                break
            if "stage" in msg:
                reply.stage = max(reply.stage, msg["stage"])
                reply.ir.update(msg["ir"])
            if msg.get("done"):
                reply.final = msg
                return reply
        reply.output = self._log_tail(start)
        return reply

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            try:
                self._proc.stdin.close()
                self._proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self._kill()
        self._proc = None
        if self._own_log_dir:
            shutil.rmtree(self._log_dir, ignore_errors=True)

    def __enter__(self) -> OpWorker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- describing ops -----------------------------------------------------------------------


def _describe(value: Any) -> Any:
    """A hashable description of an argument: tensors by shape and dtype, the rest by value."""
    if isinstance(value, torch.Tensor):
        return ("tensor", tuple(value.shape), str(value.dtype))
    if isinstance(value, (list, tuple)):
        return tuple(_describe(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _describe(v)) for k, v in value.items()))
    return repr(value)


def _tensors(value: Any) -> list[torch.Tensor]:
    return [t for t in pytree.tree_flatten(value)[0] if isinstance(t, torch.Tensor)]


def _shapes(tensors: list[torch.Tensor]) -> tuple[list[list[int]], list[str]]:
    return [list(t.shape) for t in tensors], [str(t.dtype).removeprefix("torch.") for t in tensors]


def _imports_for(target: Any) -> list[str]:
    """Python modules the worker must import to know a non-aten op (e.g. a torch.library custom op)."""
    if not isinstance(target, torch._ops.OpOverload) or target.namespace in _BUILTIN_NAMESPACES:
        return []
    from torch._library import custom_ops

    opdef = custom_ops.OPDEFS.get(target._schema.name)
    module = getattr(getattr(opdef, "_init_fn", None), "__module__", None)
    if module is None or module == "__main__":
        return []
    return [module]


# --- TORCH backend: one-op FX graphs ------------------------------------------------------


def _one_op_graph(node: fx.Node, env: dict[fx.Node, Any]) -> tuple[fx.GraphModule, list[torch.Tensor]]:
    """An FX graph holding only ``node``; tensor arguments become its inputs."""
    graph = fx.Graph()
    placeholders: dict[fx.Node, fx.Node] = {}
    inputs: list[torch.Tensor] = []

    def arg(a: fx.Node) -> Any:
        value = env[a]
        if not isinstance(value, torch.Tensor):
            return value
        if a not in placeholders:
            placeholders[a] = graph.placeholder(f"input_{len(inputs)}")
            inputs.append(value.contiguous())
        return placeholders[a]

    args = fx.node.map_arg(node.args, arg)
    kwargs = fx.node.map_arg(node.kwargs, arg)
    out = graph.call_function(node.target, args, kwargs)
    if isinstance(env[node], (tuple, list)):  # a multi-output op returns what the model uses of it
        out = tuple(graph.call_function(operator.getitem, (out, i)) for i in _used_outputs(node, env[node]))
    graph.output(out)
    return fx.GraphModule(torch.nn.Module(), graph), inputs


def _used_outputs(node: fx.Node, result: Any) -> list[int]:
    """Indices of a multi-output op's results the graph reads (all when it reads none)."""
    used = sorted({u.args[1] for u in node.users if u.target is operator.getitem})
    return used or list(range(len(result)))


def _collect_torch(
    fx_gm: fx.GraphModule, inputs: list[torch.Tensor], base: dict[str, Any], execute: bool
) -> list[UniqueOp]:
    unique: dict[Any, UniqueOp] = {}
    env: dict[fx.Node, Any] = {}
    placeholders = iter(inputs)
    with torch.no_grad():
        for node in fx_gm.graph.nodes:
            if node.op == "placeholder":
                env[node] = next(placeholders)
                continue
            if node.op == "output":
                break
            if node.op == "get_attr":
                env[node] = getattr(fx_gm, node.target)
                continue
            args = fx.node.map_arg(node.args, lambda n: env[n])
            kwargs = fx.node.map_arg(node.kwargs, lambda n: env[n])
            result = node.target(*args, **kwargs)
            env[node] = result
            if node.op != "call_function" or node.target is operator.getitem:
                continue
            if isinstance(result, (tuple, list)):
                result = [result[i] for i in _used_outputs(node, result)]
            key = (str(node.target), _describe(args), _describe(kwargs), _describe(result))
            if key in unique:
                unique[key].record.num_ops += 1
                unique[key].record.fx_nodes.append(node.name)
                continue
            gm, op_inputs = _one_op_graph(node, env)
            outs = _tensors(result)
            in_shapes, in_dtypes = _shapes(op_inputs)
            out_shapes, out_dtypes = _shapes(outs)
            non_tensor = [a for a in pytree.tree_flatten((args, kwargs))[0] if not isinstance(a, torch.Tensor)]
            record = OpRecord(
                op_name=str(node.target),
                torch_name=str(node.target),
                index=len(unique),
                input_shapes=in_shapes,
                input_dtypes=in_dtypes,
                output_shapes=out_shapes,
                output_dtypes=out_dtypes,
                args=repr(non_tensor) if non_tensor else "",
                fx_nodes=[node.name],
                **base,
            )
            request = {
                "kind": "torch",
                "graph": pickle.dumps(gm),
                "imports": _imports_for(node.target),
                "inputs": [t.detach() for t in op_inputs],
            }
            unique[key] = UniqueOp(key, record, request, [o.clone() for o in outs])
    return list(unique.values())


# --- STABLEHLO backend: one-op modules ----------------------------------------------------


def split_stablehlo(module) -> list[tuple[Any, str, str, list[int], list[int]]]:
    """Splits the main function of a StableHLO module into one-op modules.

    Returns, per op in order: the op, the one-op module's text (with
    locations), its text without locations (the op's identity), the ids of its
    operand values and the ids of its result values (ids are the function
    arguments 0..n-1, then each op result in order).
    """
    from torch_mlir import ir
    from torch_mlir.dialects import func

    main = module.body.operations[0]
    block = main.regions[0].blocks[0]
    ids: dict[Any, int] = {}
    for a in block.arguments:
        ids[a] = len(ids)
    out = []
    with module.context, ir.Location.unknown():
        for op in block.operations:
            if op.operation.name == "func.return":
                continue
            op = op.operation
            # one argument per operand, also when an operand repeats (x * x is the op of x * y)
            operand_ids = [ids[v] for v in op.operands]
            one = ir.Module.create()
            with ir.InsertionPoint(one.body):
                fn_type = ir.FunctionType.get([v.type for v in op.operands], [r.type for r in op.results])
                fn = func.FuncOp("main", fn_type)
                entry = fn.add_entry_block()
                with ir.InsertionPoint(entry):
                    clone = op.clone()
                    for k in range(len(operand_ids)):
                        clone.operands[k] = entry.arguments[k]
                    func.ReturnOp(list(clone.results))
            text = one.operation.get_asm(enable_debug_info=True, large_elements_limit=16)
            result_ids = []
            for r in op.results:
                ids[r] = len(ids)
                result_ids.append(ids[r])
            out.append((op, text, one.operation.get_asm(), operand_ids, result_ids))
    return out


def _collect_stablehlo(
    module,
    fx_gm: fx.GraphModule | None,
    inputs: list[torch.Tensor],
    base: dict[str, Any],
    execute: bool,
    worker: OpWorker,
    timeout: float,
    progress: Callable,
) -> list[UniqueOp]:
    nodes = fx_gm.graph.nodes if fx_gm is not None else []
    targets = {n.name: str(n.target) for n in nodes if n.op == "call_function"}
    values: dict[int, torch.Tensor] = dict(enumerate(t.detach().contiguous() for t in inputs))
    missing: dict[int, str] = {}  # value id -> why its golden is unknown
    unique: dict[str, UniqueOp] = {}
    split = split_stablehlo(module)
    for op, text, key, operand_ids, result_ids in progress(split, desc="CPU goldens", unit="op"):
        fx_node = node_of_location(op.location) or ""
        op_inputs = [values.get(i) for i in operand_ids]
        lost = [missing[i] for i in operand_ids if i in missing]
        goldens = None
        golden_error = None
        if not execute:  # compiling needs no values
            lost = []
        elif not lost:
            reply = worker.request({"kind": "golden", "module": text, "inputs": op_inputs}, timeout)
            if reply.final is not None and "golden" in reply.final:
                goldens = reply.final["golden"]
            else:
                why = reply.failure or (reply.final or {}).get("error", "")
                golden_error = f"CPU golden (StableHLO reference interpreter) failed: {why}\n{reply.output}".strip()
                root = f"{op.name} at {fx_node or 'an unnamed node'}: {why.splitlines()[0] if why else 'no golden'}"
        else:
            root = lost[0]
            golden_error = f"no CPU golden for the inputs: they come from an op without one ({root})"
        for k, rid in enumerate(result_ids):
            if goldens is not None:
                values[rid] = goldens[k]
            elif execute:
                missing[rid] = root
        if key in unique:
            unique[key].record.num_ops += 1
            unique[key].record.fx_nodes.append(fx_node)
            continue
        in_types = [str(v.type) for v in op.operands]
        out_types = [str(r.type) for r in op.results]
        record = OpRecord(
            op_name=op.name,
            torch_name=targets.get(fx_node, fx_node),
            index=len(unique),
            input_shapes=[_mlir_shape(t) for t in in_types],
            input_dtypes=[_mlir_dtype(t) for t in in_types],
            output_shapes=[_mlir_shape(t) for t in out_types],
            output_dtypes=[_mlir_dtype(t) for t in out_types],
            args=_op_attributes(op),
            fx_nodes=[fx_node],
            error=golden_error,
            **base,
        )
        can_run = execute and not lost
        request = {"kind": "stablehlo", "module": text, "inputs": op_inputs if can_run else []}
        unique[key] = UniqueOp(key, record, request, goldens if can_run else None)
    return list(unique.values())


def _mlir_shape(type_text: str) -> list[int]:
    m = re.match(r"tensor<((?:\d+x)*)", type_text)
    return [int(d) for d in m.group(1).split("x") if d] if m else []


def _mlir_dtype(type_text: str) -> str:
    m = re.match(r"tensor<(?:\d+x)*([a-z0-9_]+)", type_text)
    return m.group(1) if m else type_text


def _op_attributes(op) -> str:
    attrs = op.attributes
    parts = [f"{attrs[i].name}={attrs[i].attr}" for i in range(len(attrs))]
    for region in op.regions:  # e.g. the reduction of stablehlo.reduce
        body = [o.operation.name for block in region.blocks for o in block.operations]
        parts.append("body=" + ";".join(n for n in body if not n.endswith("return")))
    return ", ".join(parts)


# --- support probe (CPU fallback) ------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """Why the device path does not take one FX node's op, compiled on its own."""

    op: str  # the aten op, e.g. "aten.sort.default"
    stage: str  # the OpCompilationStatus name the op reached
    reason: str  # the error (or the worker's crash or hang)
    source: str  # "file:line" of the model line that made the op, "" when unknown


_probe_answers: dict[Any, tuple[str, str, str] | None] = {}  # (op key, options) -> None or (op, stage, reason)
_probe_workers: dict[int, OpWorker] = {}  # per process id: a forked child does not share its parent's pipes
_probe_lock = threading.Lock()


def probe_worker() -> OpWorker:
    """The op-by-op worker all probes of this process share; started on first use, closed at exit."""
    with _probe_lock:
        worker = _probe_workers.get(os.getpid())
        if worker is None:
            worker = _probe_workers[os.getpid()] = OpWorker()
            atexit.register(worker.close)
    return worker


def probe_support(
    fx_gm: fx.GraphModule, inputs: list[torch.Tensor], config: CompilerConfig, graph_name: str = "graph"
) -> dict[str, Refusal | None]:
    """Whether the device path takes each op of ``fx_gm``, by compiling every unique op alone.

    ``inputs`` are the graph's real input values. Each unique op goes through the
    whole pipeline (torch-mlir, StableHLO -> TTIR -> TTNN -> flatbuffer) in the
    op-by-op worker process, so a crash in one op cannot take the caller's process
    down. Returns, per call_function node name (``getitem`` nodes excluded: they
    follow their producer), None when the op reached CONVERTED_TO_TTNN without an
    error, else its :class:`Refusal`. One worker serves every probe of the process
    (started on the first, replaced after a crash or hang, closed at exit), and each
    answer is kept per unique op (name, argument shapes, dtypes and values, device
    options): an op seen before is not compiled again (a hang is asked again).
    """
    base = dict(
        backend=OpByOpBackend.TORCH.name,
        model_name=config.model_name or graph_name,
        model_group=config.model_group,
        graph_name=graph_name,
        run_id=uuid.uuid4().hex[:12],
        target_status=OpCompilationStatus.CONVERTED_TO_TTNN.name,
    )
    ops = _collect_torch(fx_gm, inputs, base, execute=False)
    nodes = {n.name: n for n in fx_gm.graph.nodes}
    answers: dict[str, Refusal | None] = {}
    options = repr(CompileOptions.from_config(config, verify_each_pass=config.verify_passes, cache_dir="off"))
    for op in ops:
        key = (op.key, options)
        if key not in _probe_answers:
            run_one(op, probe_worker(), config, execute=False)
            rec = op.record
            ok = rec.reaches_device()
            answer = None if ok else (rec.op_name, rec.status_name, (rec.error or "stopped before TTNN").strip())
            if answer is None or "timed out" not in answer[2]:  # a hang may be the machine's load: asked again
                _probe_answers[key] = answer
        else:
            answer = _probe_answers[key]
        for name in op.record.fx_nodes:
            answers[name] = None if answer is None else Refusal(*answer, source=source_line(nodes[name]))
    return answers


# --- running ---------------------------------------------------------------------------------


def _cross_check(ops: list[UniqueOp], config: CompilerConfig) -> None:
    """Every unique op's StableHLO through the real tt-mlir (one worker for all)."""
    todo = [op for op in ops if op.record.stablehlo]
    for op in ops:
        if not op.record.stablehlo:
            op.record.tt_mlir_status = "not_compiled"
            op.record.tt_mlir_error = "tt-torch did not reach StableHLO for this op; nothing to give tt-mlir"
    # the op's module with every constant written out (a StableHLO op's key, a torch op's
    # full_stablehlo): the record's text elides large constants, which tt-mlir cannot parse
    texts = [op.key if isinstance(op.key, str) else op.full_stablehlo or op.record.stablehlo for op in todo]
    results = tt_mlir.compile_many(texts, config.target, config.single_op_timeout)
    for op, theirs in zip(todo, results):
        rec = compare.compare(op.record.ttnn, theirs)
        op.record.tt_mlir = rec
        op.record.tt_mlir_status, op.record.tt_mlir_error = theirs.status, theirs.error or None
        op.record.tt_mlir_ops_diff = compare.one_line(rec)


def run_one(op: UniqueOp, worker: OpWorker, config: CompilerConfig, execute: bool) -> None:
    record, req = op.record, dict(op.request)
    run_device = execute and op.goldens is not None
    options = CompileOptions.from_config(config, verify_each_pass=config.verify_passes, cache_dir="off")
    req.update(options=options, execute=run_device, full_stablehlo=config.cross_check_tt_mlir)
    t = time.perf_counter()
    reply = worker.request(req, config.single_op_timeout)
    record.compile_seconds = time.perf_counter() - t
    record.status = reply.stage
    op.full_stablehlo = reply.ir.get("stablehlo_full")
    for name in ("stablehlo", "ttir", "ttnn"):
        if name in reply.ir:
            setattr(record, name, reply.ir[name])
    errors = [record.error] if record.error else []
    if reply.failure is not None:
        reached = OpCompilationStatus(reply.stage)
        errors.append(f"{reply.failure} while {_DOING[reached]} (stage reached: {reached.name})")
        record.worker_output = reply.output
    elif reply.final.get("error"):
        errors.append(reply.final["error"])
        record.worker_output = reply.final.get("traceback")
    elif "outputs" in reply.final:
        record.run_seconds = reply.final["run_s"]
        record.compile_seconds -= record.run_seconds
        mismatch = _compare(record, op.goldens, reply.final["outputs"])
        if mismatch:
            errors.append(mismatch)
    record.error = "\n".join(errors) or None
    record.status_name = OpCompilationStatus(record.status).name


# what the worker does after reaching each status, for crash and hang messages
_DOING = {
    OpCompilationStatus.NOT_STARTED: "building the one-op graph",
    OpCompilationStatus.CREATED_GRAPH: "importing it to Torch IR",
    OpCompilationStatus.CONVERTED_TO_TORCH_IR: "lowering to Torch backend IR",
    OpCompilationStatus.CONVERTED_TO_TORCH_BACKEND_IR: "lowering to StableHLO",
    OpCompilationStatus.CONVERTED_TO_STABLE_HLO: "lowering StableHLO to TTIR",
    OpCompilationStatus.CONVERTED_TO_TTIR: "lowering TTIR to TTNN",
    OpCompilationStatus.CONVERTED_TO_TTNN: "writing the flatbuffer or running on the device",
    OpCompilationStatus.EXECUTED: "returning the outputs",
}


def _compare(record: OpRecord, goldens: list[torch.Tensor], outputs: list[torch.Tensor]) -> str | None:
    """Sets the record's PCC (the worst output's) and atol; returns what did not match, if anything."""
    if len(goldens) != len(outputs):
        return f"the device returned {len(outputs)} outputs, the CPU golden has {len(goldens)}"
    pccs, atols = [], []
    for k, (g, o) in enumerate(zip(goldens, outputs)):
        if tuple(g.shape) != tuple(o.shape):
            return f"output {k}: the device returned shape {tuple(o.shape)}, the CPU golden has {tuple(g.shape)}"
        o = o.to(g.dtype) if o.dtype != g.dtype else o
        pccs.append(compute_pcc(g, o))
        atols.append(compute_atol(g, o))
    record.pcc = min(pccs) if pccs else 1.0
    record.atol = max(atols) if atols else 0.0
    return None


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "op"


def _write_json(path: str, data: dict[str, Any]) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, default=str)
    os.replace(tmp, path)


@dataclass
class Summary:
    model_name: str
    backend: str
    unique_ops: int
    total_ops: int
    by_status: dict[str, int]
    low_pcc: int
    target_status: str
    results_dir: str

    def line(self) -> str:
        reached = self.by_status.get(self.target_status, 0)
        failed = ", ".join(f"{n} stopped at {s}" for s, n in self.by_status.items() if s != self.target_status)
        verb = "executed" if self.target_status == "EXECUTED" else "compiled to TTNN"
        return (
            f"op-by-op {self.model_name} [{self.backend}]: {self.unique_ops} unique ops ({self.total_ops} in all): "
            f"{reached} {verb}" + (f", {failed}" if failed else "") + f", {self.low_pcc} low PCC (<{REQUIRED_PCC}); "
            f"JSON in {self.results_dir}"
        )


def run_graph(
    fx_gm: fx.GraphModule | None,
    inputs: list[torch.Tensor],
    config: CompilerConfig,
    graph_name: str,
    stablehlo_module=None,
    worker: OpWorker | None = None,
    progress: Callable | None = None,
    collect: Callable[[dict[str, Any], bool, OpWorker, Callable], list[UniqueOp]] | None = None,
) -> Summary:
    """Compiles (and runs) every unique op of ``fx_gm`` on its own; writes one JSON per unique op.

    ``inputs`` are the graph's real inputs. With ``OpByOpBackend.STABLEHLO`` the ops
    come from ``stablehlo_module`` (its function takes ``inputs``); ``fx_gm`` then only
    names the aten op behind each StableHLO op and may be None. ``collect(base, execute,
    worker, progress)``, when given, makes the unique ops instead (an ONNX model's nodes:
    :mod:`tt_torch.onnx_compile.node_by_node`); ``base`` holds the records' common fields.
    """
    execute = config.compile_depth == CompileDepth.EXECUTE_OP_BY_OP
    backend = config.op_by_op_backend
    model_name = config.model_name or graph_name
    run_id = uuid.uuid4().hex[:12]
    out_dir = os.path.join(config.results_path, _safe(model_name), backend.name.lower(), _safe(graph_name))
    os.makedirs(out_dir, exist_ok=True)
    for old in os.listdir(out_dir):
        if old.endswith(".json"):
            os.remove(os.path.join(out_dir, old))
    target_status = "EXECUTED" if execute else "CONVERTED_TO_TTNN"
    base = dict(
        backend=backend.name,
        model_name=model_name,
        model_group=config.model_group,
        graph_name=graph_name,
        run_id=run_id,
        target_status=target_status,
    )
    _write_json(
        os.path.join(out_dir, "run.json"),
        {"run_id": run_id, "started": time.time(), "graph_name": graph_name, "config": config.as_dict()},
    )
    own_worker = worker is None
    worker = worker or OpWorker()
    try:
        if progress is None:
            from tqdm import tqdm

            progress = tqdm
        if collect is not None:
            ops = collect(base, execute, worker, progress)
        elif backend == OpByOpBackend.TORCH:
            if fx_gm is None:
                raise TTTorchError("OpByOpBackend.TORCH needs the FX graph; none was given")
            ops = _collect_torch(fx_gm, inputs, base, execute)
        else:
            if stablehlo_module is None:
                raise TTTorchError("OpByOpBackend.STABLEHLO needs the graph's StableHLO module; none was given")
            ops = _collect_stablehlo(
                stablehlo_module, fx_gm, inputs, base, execute, worker, config.single_op_timeout, progress
            )
        for op in progress(ops, desc=f"op-by-op {model_name}", unit="op"):
            run_one(op, worker, config, execute)
            reaches = op.record.reaches_device()
            op.record.runs_on = "device" if reaches else ("cpu" if config.enable_cpu_fallback else "none")
            name = f"{op.record.index:04d}_{_safe(op.record.op_name)}.json"
            _write_json(os.path.join(out_dir, name), op.record.to_json())
        if config.cross_check_tt_mlir:
            _cross_check(ops, config)
            for op in ops:
                name = f"{op.record.index:04d}_{_safe(op.record.op_name)}.json"
                _write_json(os.path.join(out_dir, name), op.record.to_json())
    finally:
        if own_worker:
            worker.close()
    by_status: dict[str, int] = {}
    for op in ops:
        by_status[op.record.status_name] = by_status.get(op.record.status_name, 0) + 1
    low = sum(1 for op in ops if op.record.pcc is not None and op.record.pcc < REQUIRED_PCC)
    summary = Summary(
        model_name=model_name,
        backend=backend.name,
        unique_ops=len(ops),
        total_ops=sum(op.record.num_ops for op in ops),
        by_status=dict(sorted(by_status.items(), key=lambda kv: -OpCompilationStatus[kv[0]])),
        low_pcc=low,
        target_status=target_status,
        results_dir=out_dir,
    )
    print(summary.line(), file=sys.stderr)
    return summary
