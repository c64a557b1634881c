"""Runs one dynamo graph: compiles it per input signature and calls the result.

For one signature, the frontend runs first (trace to aten with decompositions,
FX passes, consteval, DCE, input pruning: :func:`_frontend`). Then
:func:`choose_path` picks the one path the ``CompilerConfig`` asks for, and that
path, read top to bottom, makes the program the model will call:

- :func:`our_compiler`: StableHLO -> tt-torch's compiler -> the runtime (the default), with
  the ops it cannot lower on the CPU when ``enable_cpu_fallback`` is on;
- :func:`tt_mlir_program`: StableHLO -> the real tt-mlir's TTNN program -> the runtime;
- :func:`op_by_op`: every unique op compiled and run on its own (reports), the model on the CPU;
- :func:`stop_at_depth`: ``compile_depth`` TORCH_FX or STABLEHLO, the model on the CPU.

Every path that stops before the device runs the post-pass FX graph on the CPU, so
the model's outputs stay correct at every depth.
"""

from __future__ import annotations

import dataclasses
import logging
import operator
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx
from torch.utils import _pytree as pytree

from tt_torch import intermediate, logs, parallel, runtime, tt_mlir
from tt_torch import op_by_op as obo
from tt_torch.compiler import pipelines
from tt_torch.compiler.options import CompileOptions
from tt_torch.compiler.target import system_desc
from tt_torch.config import CompileDepth, CompilerConfig, OpByOpBackend
from tt_torch.errors import CompileError, TTRuntimeError
from tt_torch.frontend import passes
from tt_torch.frontend.importer import import_stablehlo, source_line
from tt_torch.frontend.locking import COMPILE_LOCK
from tt_torch.frontend.trace import trace_to_aten
from tt_torch.parallel import stablehlo as parallel_stablehlo
from tt_torch.runtime.versions import tensor_stamp
from tt_torch.tt_mlir import compare
from tt_torch.tt_mlir.importer import ConstEvalRunner, import_program

from . import buckets, fallback, mutations
from .artifacts import CompileArtifacts, GraphArtifacts
from .autograd import needs_grad, with_host_backward
from .weights import WeightWatch

_LOG = logging.getLogger(__name__)
_DUMP = logging.getLogger("tt_torch.dump")
_STATE_KEY = re.compile(r"_(?:modules|parameters|buffers)\['([^']+)'\]")

Program = Callable[[list[torch.Tensor]], list[torch.Tensor]]
WARN_AFTER_COMPILES = 3  # programs of one graph (new input shapes) before a warning


def recompile_limit() -> int:
    """dynamo's recompile limit, which also bounds the programs of one graph."""
    config = torch._dynamo.config
    return int(getattr(config, "recompile_limit", None) or getattr(config, "cache_size_limit", 8))


@dataclass(frozen=True)
class InputInfo:
    name: str
    kind: str  # "input" | "parameter" | "buffer"


def classify_inputs(gm: fx.GraphModule) -> list[InputInfo]:
    """Which of dynamo's graph inputs are the user's, and which are module state."""
    infos = []
    for node in gm.graph.nodes:
        if node.op != "placeholder":
            continue
        source = getattr(node.meta.get("grapharg"), "source", None)
        text = source.name if isinstance(getattr(source, "name", None), str) else str(source or "")
        if callable(getattr(source, "name", None)):
            text = source.name()
        keys = _STATE_KEY.findall(text)
        if "_parameters[" in text:
            infos.append(InputInfo(".".join(keys) or node.name, "parameter"))
        elif "_buffers[" in text:
            infos.append(InputInfo(".".join(keys) or node.name, "buffer"))
        else:
            infos.append(InputInfo(node.name, "input"))
    return infos


def _unflattener(spec: pytree.TreeSpec) -> Callable[[list], Any]:
    """``pytree.tree_unflatten(outs, spec)``, without walking the spec on every call where the
    graph returns a tuple or list of tensors (dynamo's usual output)."""
    if spec.type in (tuple, list) and all(child.is_leaf() for child in spec.children()):
        return spec.type
    return lambda outs: pytree.tree_unflatten(outs, spec)


def signature_of(args: tuple) -> tuple:
    """The key of a call's program: each tensor's shape and dtype, each other value itself. A
    shape is its torch.Size, which equals and hashes as the plain tuple :func:`plain_signature`
    keeps in the artifacts."""
    tensor = torch.Tensor
    return tuple([(a.shape, a.dtype) if isinstance(a, tensor) else ("value", a) for a in args])


def plain_signature(key: tuple) -> tuple:
    """``key`` with each shape a plain tuple (how the artifacts and messages show it)."""
    return tuple((tuple(shape), dtype) if isinstance(shape, torch.Size) else (shape, dtype) for shape, dtype in key)


def _consteval_stamp(t: torch.Tensor) -> tuple:
    """What a consteval result computed from ``t`` depends on within one signature's program:
    the tensor, its storage and its version. Its shape and dtype are the signature's own."""
    try:
        return (id(t), t.data_ptr(), t._version)
    except RuntimeError:  # an inference tensor has no version counter
        return tensor_stamp(t)


@dataclass
class ConstevalCache:
    """Results of the consteval graph, kept until one of its inputs changes."""

    key: list | None = None
    values: list[torch.Tensor] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)  # calls from several threads

    def get(self, graph: fx.GraphModule, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        try:  # _consteval_stamp of each input, inline: this runs on every call
            key = [(id(t), t.data_ptr(), t._version) for t in inputs]
        except RuntimeError:
            key = [_consteval_stamp(t) for t in inputs]
        with self.lock:
            if key != self.key:
                with torch.no_grad():
                    self.values = [v.contiguous() for v in graph(*inputs)]
                self.key = key
            return self.values


@dataclass
class FrontendResult:
    """The frontend's answer for one signature: the post-pass FX graph and how to feed it."""

    fx_gm: fx.GraphModule
    kept_inputs: list[int]  # indices into original args + consteval outputs
    consteval: passes.ConstevalResult
    out_spec: Any
    out_dtypes: list[torch.dtype]
    arg_names: list[str]  # of the kept inputs, as the program's arguments are named
    arg_kinds: list[str]  # "input" | "parameter" | "buffer" | "constant"
    consteval_cache: ConstevalCache = field(default_factory=ConstevalCache)
    # per extra output after the model's own: the argument it is written back into (mutations.py)
    written: list[int] = field(default_factory=list)

    def program_inputs(self, args: tuple) -> list[torch.Tensor]:
        """The graph's inputs for one call: the kept arguments and consteval results."""
        if self.consteval.graph is None:
            return [args[i] for i in self.kept_inputs]
        full = [*args, *self.consteval_cache.get(self.consteval.graph, [args[i] for i in self.consteval.inputs])]
        return [full[i] for i in self.kept_inputs]


@dataclass
class CompiledGraph:
    """One signature's program and how to feed it."""

    graph: FrontendResult
    run_program: Program
    # For export, with artifacts attached at EXECUTE depth: the graph and the last call's
    # program inputs (weights and consteval results included) are kept there.
    artifacts: GraphArtifacts | None = None

    def __post_init__(self) -> None:
        # the common call: the program takes some of the arguments as they are
        g = self.graph
        self._direct = g.consteval.graph is None and self.artifacts is None and not g.written

    def run_flat(self, args: tuple) -> list[torch.Tensor]:
        if self._direct:
            return self.run_program([args[i] for i in self.graph.kept_inputs])
        inputs = self.graph.program_inputs(args)
        if self.artifacts is not None:
            self.artifacts.fx_module, self.artifacts.program_inputs = self.graph.fx_gm, inputs
        return mutations.write_back(args, self.graph.written, list(self.run_program(inputs)))


class Executor:
    """The callable ``torch.compile`` gets back for one dynamo graph."""

    def __init__(
        self, gm: fx.GraphModule, config: CompilerConfig, artifacts: CompileArtifacts | None, name: str, device=None
    ):
        self.gm = gm
        self.config = config
        self.artifacts = artifacts
        self.name = name
        self.inputs = classify_inputs(gm)
        self.programs: dict[tuple, CompiledGraph] = {}
        self.num_compiles = 0
        self._device = device  # opened on first use when not given
        state = [k for k, info in enumerate(self.inputs) if info.kind != "input"]
        self.weights = WeightWatch(state) if config.check_weight_contents else None
        self._check_weights = self.weights.check if self.weights is not None and state else None
        self.out_spec = pytree.tree_flatten(passes.output_structure(gm))[1]
        self._unflatten = _unflattener(self.out_spec)
        self.buckets = self._bucket_plan()
        self._on_host_past_limit: CompiledGraph | None = None

    def __call__(self, *args):
        size = padded = None
        if self.buckets is not None:
            args, size, padded = self.buckets.pad(args)
        key = signature_of(args)
        program = self.programs.get(key) or self._on_host_past_limit or self._compile_once(args, key)
        if self._check_weights is not None:
            self._check_weights(args)
        if needs_grad(args):
            outs = with_host_backward(program.run_flat, self.gm, args)
        else:
            outs = program.run_flat(args)
        if padded != size:
            outs = self.buckets.unpad(outs, size)
        return self._unflatten(outs)

    def _compile_once(self, args: tuple, key: tuple) -> CompiledGraph:
        """The program of ``key``, compiled by the first thread that asks; the others wait for it.

        Past dynamo's recompile limit, new signatures run dynamo's graph on the host."""
        key = plain_signature(key)
        with COMPILE_LOCK:
            program = self.programs.get(key) or self._on_host_past_limit
            if program is None:
                if len(self.programs) >= recompile_limit():
                    program = self._on_host_past_limit = self._past_limit(key)
                else:
                    program = self.programs[key] = self._compile(args, key)
                    expected = len(self.buckets.buckets) if self.buckets is not None else 0
                    if len(self.programs) == WARN_AFTER_COMPILES + expected:
                        self._warn_recompiles()
        return program

    def _bucket_plan(self) -> buckets.Plan | None:
        if not self.config.shape_buckets:
            return None
        ((dim, sizes),) = self.config.shape_buckets.items()
        found = buckets.plan(self.gm, [info.kind for info in self.inputs], dim, sizes)
        if isinstance(found, str):
            # a static dim is the usual first graph (dynamo makes the dim dynamic on a new size)
            level = logging.INFO if "static" in found else logging.WARNING
            _LOG.log(
                level, "graph %s: shape_buckets not applied, each size compiles its own program: %s", self.name, found
            )
            return None
        return found

    def _warn_recompiles(self) -> None:
        users = [k for k, info in enumerate(self.inputs) if info.kind == "input"]
        shapes = "; ".join(", ".join(str(key[k][0]) for k in users if key[k][0] != "value") for key in self.programs)
        _LOG.warning(
            "graph %s compiled %d programs, one per input shape (%s): every new shape compiles again. "
            "With a dynamic dim, CompilerConfig(shape_buckets={dim: sizes}) pads it up to a few sizes; past "
            "torch._dynamo.config.recompile_limit (%d) new shapes run on the host.",
            self.name,
            len(self.programs),
            shapes,
            recompile_limit(),
        )

    def _past_limit(self, key: tuple) -> CompiledGraph:
        """What runs every signature after dynamo's recompile limit: dynamo's graph on the host."""
        _LOG.warning(
            "graph %s reached torch._dynamo.config.recompile_limit (%d programs): this and every later new "
            "input shape runs on the host (eager), as dynamo does past its limit. Raise the limit or set "
            "CompilerConfig(shape_buckets={dim: sizes}) for a dynamic dim.",
            self.name,
            recompile_limit(),
        )
        gm = self.gm

        def run(inputs: list[torch.Tensor]) -> list[torch.Tensor]:
            with torch.no_grad():
                return pytree.tree_flatten(gm(*inputs))[0]

        graph = FrontendResult(gm, list(range(len(key))), passes.ConstevalResult(None), self.out_spec, [], [], [])
        return CompiledGraph(graph, run)

    def device(self, binary: runtime.Binary) -> runtime.Device:
        """The device this graph's programs run on: the one given, else one opened for the target."""
        if self._device is None:
            self._device = runtime.open_device_for_target(self.config.target, binary, self.config.numerics)
            self._device.integer_overflow = self.config.narrowing
        return self._device

    def _compile(self, args: tuple, key: tuple) -> CompiledGraph:
        self.num_compiles += 1
        art = GraphArtifacts(name=f"{self.name}_{self.num_compiles - 1}", input_signature=key)
        t0 = time.perf_counter()
        with logs.progress(f"compiling {art.name}") as bar:
            try:
                bar.stage("tracing")
                graph = _frontend(self, args, art)
            except Exception as e:  # noqa: BLE001 - any failure to trace: the graph runs as dynamo gave it
                if not self.config.enable_cpu_fallback:
                    raise
                graph = _untraced_on_host(self, args, art, e)
                path = _on_host
            else:
                path = choose_path(self.config)
            bar.stage(path.__name__.strip("_").replace("_", " "))
            run_program = path(self, graph, art, args)
        art.stage_seconds["total"] = time.perf_counter() - t0
        _LOG.info("%s", _summary(art, graph, self.config))
        _dump(self.config.ir_dump_dir, art)
        if self.config.dump_info or self.config.dump_debug:
            _log_compile(art, with_ir=self.config.dump_debug)
        keep = self.artifacts is not None and self.config.compile_depth == CompileDepth.EXECUTE
        if self.artifacts is not None:
            self.artifacts.graphs.append(art)
        return CompiledGraph(graph, run_program, art if keep else None)


# --- the frontend ---------------------------------------------------------------------------


def _frontend(ex: Executor, args: tuple, art: GraphArtifacts) -> FrontendResult:
    """dynamo's graph -> the post-pass aten graph: what every path starts from."""
    cfg = ex.config
    t0 = time.perf_counter()
    fx_gm = trace_to_aten(ex.gm, args)
    fx_gm, written = mutations.lift_input_writes(fx_gm)
    out_spec = pytree.tree_flatten(passes.output_structure(ex.gm))[1]
    fx_gm = passes.fold_splats(fx_gm)
    fx_gm = passes.wrap_negative_indices(fx_gm)
    fx_gm = passes.plain_empties(fx_gm)
    fx_gm = passes.canonicalize_zero_d_reductions(fx_gm)
    fx_gm = passes.fold_tanh_gelu(fx_gm)
    fx_gm = passes.fold_rms_norm(fx_gm)
    constant_inputs = {i for i, info in enumerate(ex.inputs) if info.kind != "input" and cfg.consteval_parameters}
    ce = passes.ConstevalResult(None)
    if cfg.enable_consteval and constant_inputs:
        fx_gm, ce = passes.consteval(fx_gm, constant_inputs)
    fx_gm = passes.eliminate_dead_code(fx_gm)
    fx_gm, kept = passes.prune_unused_inputs(fx_gm)
    out_vals = [n.meta.get("val") for n in passes.output_nodes(fx_gm)]
    for v in out_vals:
        if not isinstance(v, torch.Tensor):
            raise CompileError(f"graph {art.name} returns a non-tensor value ({v!r}); tt-torch returns tensors only")
    art.fx_graph = fx_gm.code
    art.stage_seconds["fx"] = time.perf_counter() - t0

    names = [info.name for info in ex.inputs] + [f"consteval_{k}" for k in range(ce.num_outputs)]
    kinds = [info.kind for info in ex.inputs] + ["constant"] * ce.num_outputs
    if ex.artifacts is not None and ce.graph is not None:  # export's const-eval programs
        art.consteval = (ce.graph, [names[i] for i in ce.inputs], [args[i] for i in ce.inputs])
    return FrontendResult(
        fx_gm,
        kept,
        ce,
        out_spec,
        [v.dtype for v in out_vals],
        [names[i] for i in kept],
        [kinds[i] for i in kept],
        written=written,
    )


def _to_stablehlo(graph: FrontendResult, art: GraphArtifacts) -> Any:
    t = time.perf_counter()
    module = import_stablehlo(graph.fx_gm, func_name="main")
    art.stablehlo = module.operation.get_asm(enable_debug_info=True, large_elements_limit=16)
    art.stage_seconds["torch_mlir"] = time.perf_counter() - t
    return module


def _full_text(module) -> str:
    """The module's text with every constant written out: what the real tt-mlir parses."""
    return module.operation.get_asm(enable_debug_info=True)


# --- the paths ------------------------------------------------------------------------------

Path = Callable[[Executor, FrontendResult, GraphArtifacts, tuple], Program]


def choose_path(cfg: CompilerConfig) -> Path:
    """The one path a compile takes, from ``compile_depth`` and ``compiler``."""
    if cfg.compile_depth in (CompileDepth.COMPILE_OP_BY_OP, CompileDepth.EXECUTE_OP_BY_OP):
        return op_by_op
    if cfg.compile_depth in (CompileDepth.TORCH_FX, CompileDepth.STABLEHLO):
        return stop_at_depth
    if cfg.sharding_plan and cfg.compiler == "tt-torch":
        return tensor_parallel
    return tt_mlir_program if cfg.compiler == "tt-mlir" else our_compiler


def our_compiler(ex: Executor, graph: FrontendResult, art: GraphArtifacts, args: tuple) -> Program:
    """StableHLO -> TTIR -> TTNN (-> flatbuffer -> the emulated device, at EXECUTE).

    The whole graph is compiled first. When that fails and ``enable_cpu_fallback`` is on
    (the default), the ops the device path refuses run on the CPU (:func:`_with_cpu_fallback`).
    """
    try:
        return _whole_graph(ex, graph, art)
    except CompileError as e:  # FrontendError and LoweringError included
        if not ex.config.enable_cpu_fallback:
            raise
        error = e
    return _with_cpu_fallback(ex, graph, art, args, error)


def _whole_graph(ex: Executor, graph: FrontendResult, art: GraphArtifacts) -> Program:
    cfg = ex.config
    module = _to_stablehlo(graph, art)
    # the real tt-mlir gets the full text, before our passes change the module
    theirs_input = _full_text(module) if cfg.cross_check_tt_mlir else None
    execute = cfg.compile_depth == CompileDepth.EXECUTE
    result = _compile_module(cfg, module, graph, execute, in_place_results=bool(graph.written))
    art.ttir, art.ttnn, art.flatbuffer = result.ttir, result.ttnn, result.flatbuffer
    art.report = result.report
    art.stage_seconds.update(result.stage_seconds)
    _warn_narrowings(art.name, result.report, cfg.narrowing)
    if theirs_input is not None:
        t = time.perf_counter()
        theirs = tt_mlir.compile_stablehlo(theirs_input, target=cfg.target, timeout=cfg.tt_mlir_timeout)
        art.stage_seconds["tt_mlir"] = time.perf_counter() - t
        art.report["tt_mlir"] = compare.compare(art.ttnn, theirs)
    if not execute:
        return _cpu_program(graph.fx_gm)
    return _device_program(ex, result.flatbuffer, graph, art, in_place=result.report["device"].get("in_place"))


def tensor_parallel(ex: Executor, graph: FrontendResult, art: GraphArtifacts, args: tuple) -> Program:
    """``sharding_plan``: the graph split over the chips of the mesh as one SPMD program
    (tt_torch.parallel), compiled and run on every chip; outputs are whole (replicated)."""
    cfg = ex.config
    chips = ex._device.num_chips if ex._device is not None else system_desc.get(cfg.target).num_chips
    if chips == 1:
        _LOG.info("graph %s: sharding_plan on a one-chip mesh (%s): compiled for one chip", art.name, cfg.target)
        return our_compiler(ex, graph, art, args)
    state = [info.name for info in ex.inputs if info.kind != "input"]
    ce = graph.consteval
    consteval = (ce.graph, [ex.inputs[i].name for i in ce.inputs]) if ce.graph is not None else None
    t = time.perf_counter()
    part = parallel.partition_program(graph.fx_gm, graph.arg_names, cfg.sharding_plan, chips, state, consteval)
    execute = cfg.compile_depth == CompileDepth.EXECUTE
    try:
        module = import_stablehlo(part.gm, func_name="main")
        art.report["tensor_parallel"] = {
            "chips": chips,
            "inputs": {n: repr(p) for n, p in zip(graph.arg_names, part.input_placements)},
            "collectives": parallel_stablehlo.annotate(module, part),
            "reasons": part.reasons,
        }
        art.stablehlo = module.operation.get_asm(enable_debug_info=True, large_elements_limit=16)
        art.stage_seconds["torch_mlir"] = time.perf_counter() - t
        result = _compile_module(cfg, module, graph, execute)
    except CompileError as e:  # FrontendError and LoweringError included
        if not cfg.enable_cpu_fallback:
            raise
        # the split program does not compile: the whole graph on one chip, with the CPU fallback
        _LOG.warning("graph %s: the tensor-parallel program does not compile (%s); it runs on one chip", art.name, e)
        art.report["tensor_parallel"] = {"chips": chips, "error": str(e), "ran_on": "one chip"}
        return our_compiler(ex, graph, art, args)
    art.ttir, art.ttnn, art.flatbuffer = result.ttir, result.ttnn, result.flatbuffer
    art.report.update(result.report)
    art.stage_seconds.update(result.stage_seconds)
    if not execute:
        return _cpu_program(graph.fx_gm)
    return _device_program(ex, result.flatbuffer, graph, art)


def _compile_module(
    cfg: CompilerConfig, module: Any, graph: FrontendResult, execute: bool, in_place_results: bool = False
) -> Any:
    options = CompileOptions.from_config(
        cfg,
        verify_each_pass=cfg.verify_passes,
        arg_names=graph.arg_names,
        arg_kinds=graph.arg_kinds,
        emit_flatbuffer=execute,
        in_place_results=in_place_results,
    )
    return pipelines.compile_stablehlo(module, options)


def _with_cpu_fallback(
    ex: Executor, graph: FrontendResult, art: GraphArtifacts, args: tuple, error: CompileError
) -> Program:
    """The graph with the ops the device path refuses on the CPU, the rest in device partitions.

    Support is the real pipeline's answer for each op compiled alone
    (:func:`tt_torch.op_by_op.probe_support`); the supported nodes are grouped into
    partitions (:mod:`.fallback`), each compiled like a whole graph. A partition whose
    compile still fails runs on the CPU as well. Reported in ``art.report["cpu_fallback"]``
    and logged once.
    """
    cfg = ex.config
    execute = cfg.compile_depth == CompileDepth.EXECUTE
    t = time.perf_counter()
    support = obo.probe_support(graph.fx_gm, graph.program_inputs(args), cfg, art.name)
    art.stage_seconds["cpu_fallback_probe"] = time.perf_counter() - t
    if all(r is None for r in support.values()):
        # every op compiles on its own, the graph as a whole does not: all of it on the host
        reason = f"each op compiles alone, the graph as a whole does not: {error}"
        art.report["cpu_fallback"] = _all_on_host(graph.fx_gm, "graph", reason, error)
        _warn_fallback(art)
        return _cpu_program(graph.fx_gm)
    nodes = {n.name: n for n in graph.fx_gm.graph.nodes}
    for name, refusal in list(support.items()):
        # A node that reads no tensor (empty, full, arange) goes with the device ops that read it:
        # made on the host, an uninitialized buffer would cross into a device program.
        users = nodes[name].users
        if (
            refusal is not None
            and not nodes[name].all_input_nodes
            and users
            and all(support.get(u.name) is None for u in users)
        ):
            support[name] = None
    host: dict[str, dict[str, str]] = {}  # node name -> its report entry
    for name, refusal in support.items():
        if refusal is not None:
            host[name] = dict(
                node=name, op=refusal.op, stage=refusal.stage, reason=refusal.reason, source=refusal.source
            )
    supported = {name for name, refusal in support.items() if refusal is None}
    split = fallback.split_graph(graph.fx_gm, supported)
    partitions, ttir, ttnn = [], [], []
    for name in split.partitions:
        sub = split.submodule(name)
        members = [n.name for n in sub.graph.nodes if n.op == "call_function" and n.target is not operator.getitem]
        part = _partition_graph(graph, split, name)
        t = time.perf_counter()
        try:
            module = import_stablehlo(sub, func_name="main")
            result = _compile_module(cfg, module, part, execute)
        except CompileError as e:  # this partition runs on the CPU
            reason = f"its device partition {name} did not compile: {e}"
            for m in members:
                n = nodes[m]
                host[m] = dict(node=m, op=str(n.target), stage="partition", reason=reason, source=source_line(n))
            partitions.append({"name": name, "ops": len(members), "device": False, "error": str(e)})
            continue
        art.stage_seconds[f"compile_{name}"] = time.perf_counter() - t
        ttir.append(f"// partition {name}\n{result.ttir}")
        ttnn.append(f"// partition {name}\n{result.ttnn}")
        partitions.append(
            {
                "name": name,
                "ops": len(members),
                "device": True,
                "op_counts": result.report.get("op_counts"),
                **_crossing(split, name, result.report),
            }
        )
        if execute:
            fallback.place(split, name, _device_program(ex, result.flatbuffer, part, art))
    order = {n.name: k for k, n in enumerate(graph.fx_gm.graph.nodes)}
    ops = sorted(host.values(), key=lambda entry: order[entry["node"]])
    art.ttir, art.ttnn = ("\n".join(ttir) or None), ("\n".join(ttnn) or None)
    art.report["cpu_fallback"] = {
        "ops": ops,
        "device_partitions": sum(p["device"] for p in partitions),
        "host_ops": len(ops),
        "partitions": partitions,
        "transfers": {
            key: sum(p.get(key, 0) for p in partitions)
            for key in ("to_device_bytes", "from_device_bytes", "estimate_us", "transfer_us")
        },
        "error": str(error),  # the whole graph's compile error
    }
    _warn_fallback(art)
    if not execute or not any(p["device"] for p in partitions):
        return _cpu_program(graph.fx_gm)
    return _cpu_program(split.gm)


def _warn_narrowings(name: str, report: dict[str, Any], narrowing: str) -> None:
    """The one warning per compiled graph whose types the device narrows (i64 -> i32, f64 -> f32)."""
    kinds: dict[str, dict[str, int]] = {}
    for key, count in report.get("narrowings", {}).items():
        types, _, what = key.partition(" (")
        if types.startswith("i1 ") or what.endswith("constant)"):
            continue  # booleans as bf16 lose nothing; a constant that does not fit fails the compile
        where = "inputs" if what.startswith("function argument") else "ops"
        kinds.setdefault(types, {}).setdefault(where, 0)
        kinds[types][where] += count
    if not kinds:
        return
    found = "; ".join(
        f"{t} (" + ", ".join(f"{n} {w if n != 1 else w[:-1]}" for w, n in c.items()) + ")" for t, c in kinds.items()
    )
    then = (
        "an input, constant or int32 result out of range is an error (CompilerConfig(narrowing='wrap') gives "
        "the hardware's wrapped / inf values)"
        if narrowing == "error"
        else "out-of-range values wrap to int32 / overflow to inf as on the hardware (narrowing='wrap')"
    )
    _LOG.warning("graph %s: the device has no 64-bit types, it narrows %s; %s", name, found, then)


def _crossing(split: fallback.Split, name: str, report: dict) -> dict[str, float]:
    """What crosses between the host and device partition ``name`` on each call: the bytes of its
    inputs and outputs, and the cost model's estimate of the partition, its host transfers apart."""

    def nbytes(node) -> int:
        val = node.meta.get("val") if isinstance(node, fx.Node) else None
        vals = val if isinstance(val, (tuple, list)) else [val]
        return sum(v.numel() * v.element_size() for v in vals if isinstance(v, torch.Tensor))

    site = split.call_site(name)
    outputs = passes.output_nodes(split.submodule(name))
    estimate = report.get("device", {}).get("estimate", {})
    total, device = estimate.get("total_us", 0.0), estimate.get("device_us", 0.0)
    return {
        "to_device_bytes": sum(nbytes(a) for a in site.all_input_nodes),
        "from_device_bytes": sum(nbytes(o) for o in outputs),
        "estimate_us": total,
        "transfer_us": total - device,
    }


def _warn_fallback(art: GraphArtifacts) -> None:
    """The one warning per compiled graph that has ops on the host."""
    ops = art.report["cpu_fallback"]["ops"]
    places = list(dict.fromkeys(f"{e['op']}@{e['source'] or 'unknown'}" for e in ops))
    _LOG.warning(
        "graph %s: %d ops run on the CPU (%s): see artifacts.last.report['cpu_fallback']",
        art.name,
        len(ops),
        ", ".join(places),
    )


def _all_on_host(gm: fx.GraphModule, stage: str, reason: str, error: BaseException) -> dict[str, Any]:
    """The fallback report of a graph that runs on the host as a whole."""
    ops = [
        dict(node=n.name, op=_op_name(n), stage=stage, reason=reason, source=source_line(n))
        for n in gm.graph.nodes
        if n.op in ("call_function", "call_method", "call_module") and n.target is not operator.getitem
    ]
    return {
        "ops": ops,
        "device_partitions": 0,
        "host_ops": len(ops),
        "partitions": [],
        "error": f"{type(error).__name__}: {error}",
    }


def _op_name(node: fx.Node) -> str:
    """``torch.nn.functional.linear``, ``aten.add.Tensor``, a method's or a submodule's name."""
    if node.op == "call_function" and not isinstance(node.target, torch._ops.OpOverload):
        try:
            return fx.node._get_qualified_name(node.target)
        except (RuntimeError, AttributeError, TypeError):
            pass
    return str(node.target)


def _untraced_on_host(ex: Executor, args: tuple, art: GraphArtifacts, error: Exception) -> FrontendResult:
    """A graph the frontend could not trace to aten (an op with no functional form, a data-dependent
    shape, a dtype the device has no type for): dynamo's graph itself, run on the host."""
    reason = f"the graph could not be traced to aten ops: {type(error).__name__}: {str(error).strip()[:500]}"
    art.report["cpu_fallback"] = _all_on_host(ex.gm, "trace", reason, error)
    _warn_fallback(art)
    out_vals = [getattr(n, "meta", {}).get("example_value") for n in passes.output_nodes(ex.gm)]
    return FrontendResult(
        fx_gm=ex.gm,
        kept_inputs=list(range(len(args))),
        consteval=passes.ConstevalResult(None),
        out_spec=pytree.tree_flatten(passes.output_structure(ex.gm))[1],
        out_dtypes=[v.dtype if isinstance(v, torch.Tensor) else None for v in out_vals],
        arg_names=[info.name for info in ex.inputs],
        arg_kinds=[info.kind for info in ex.inputs],
    )


def _on_host(ex: Executor, graph: FrontendResult, art: GraphArtifacts, args: tuple) -> Program:
    """Runs dynamo's graph on the host as it is (see :func:`_untraced_on_host`)."""
    gm = graph.fx_gm

    def run(inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        with torch.no_grad():
            return pytree.tree_flatten(gm(*inputs))[0]

    return run


def _partition_graph(graph: FrontendResult, split: fallback.Split, name: str) -> FrontendResult:
    """How to compile and call one partition: its inputs named and kinded after the parent graph's
    (a parameter or constant keeps its kind and name; anything else is an input)."""
    sub = split.submodule(name)
    parent = {n.name: k for k, n in enumerate(n for n in graph.fx_gm.graph.nodes if n.op == "placeholder")}
    names, kinds = [], []
    for arg in split.call_site(name).args:
        k = parent.get(arg.name) if arg.op == "placeholder" else None
        if k is not None and graph.arg_kinds[k] != "input":
            names.append(graph.arg_names[k])
            kinds.append(graph.arg_kinds[k])
        else:
            names.append(graph.arg_names[k] if k is not None else arg.name)
            kinds.append("input")
    outs = next(n for n in sub.graph.nodes if n.op == "output").args[0]
    out_dtypes = [o.meta["val"].dtype for o in outs]
    return FrontendResult(sub, list(range(len(names))), passes.ConstevalResult(None), None, out_dtypes, names, kinds)


def tt_mlir_program(ex: Executor, graph: FrontendResult, art: GraphArtifacts, args: tuple) -> Program:
    """CompilerConfig(compiler="tt-mlir"): the real tt-mlir's TTNN program, imported to run on our device."""
    cfg = ex.config
    module = _to_stablehlo(graph, art)
    t = time.perf_counter()
    theirs = tt_mlir.compile_stablehlo(_full_text(module), target=cfg.target, timeout=cfg.tt_mlir_timeout)
    art.stage_seconds["tt_mlir"] = time.perf_counter() - t
    if not theirs.ok:
        raise CompileError(
            f"graph {art.name}: the real tt-mlir did not compile it ({theirs.status}): {theirs.error}\n"
            "  Its StableHLO is in artifacts.last.stablehlo; CompilerConfig(compiler='tt-torch') compiles it with tt-torch."
        )
    art.ttir, art.ttnn = theirs.ttir, theirs.ttnn
    t = time.perf_counter()
    imported = import_program(theirs.ttnn, cfg.target, graph.arg_names)
    art.stage_seconds["tt_mlir_import"] = time.perf_counter() - t
    art.flatbuffer = imported.flatbuffer
    art.report = {
        "compiler": "tt-mlir",
        "tt_mlir": theirs.summary(),
        "imported_ops": imported.op_counts,
        # recorded, not yet applied by the runtime to imported programs
        "compute_configs": imported.compute_configs,
    }
    if cfg.compile_depth != CompileDepth.EXECUTE:
        return _cpu_program(graph.fx_gm)
    # tt-mlir's const-eval functions: private programs, run once per version of what they read
    consteval = ConstEvalRunner(imported.const_evals) if imported.const_evals else None
    art.report["tt_mlir_const_eval"] = consteval.stats if consteval else {"programs": 0, "runs": 0}
    return _device_program(ex, imported.flatbuffer, graph, art, consteval)


def op_by_op(ex: Executor, graph: FrontendResult, art: GraphArtifacts, args: tuple) -> Program:
    """Each unique op compiled (and run) on its own, with reports; the model itself runs on the CPU."""
    cfg = ex.config
    module = _to_stablehlo(graph, art) if cfg.op_by_op_backend == OpByOpBackend.STABLEHLO else None
    inputs = graph.program_inputs(args)
    summary = obo.run_graph(graph.fx_gm, inputs, cfg, art.name, stablehlo_module=module)
    art.report["op_by_op"] = dataclasses.asdict(summary)
    return _cpu_program(graph.fx_gm)


def stop_at_depth(ex: Executor, graph: FrontendResult, art: GraphArtifacts, args: tuple) -> Program:
    """compile_depth TORCH_FX or STABLEHLO: the IR of that stage in the artifacts, the model on the CPU."""
    if ex.config.compile_depth == CompileDepth.STABLEHLO:
        _to_stablehlo(graph, art)
    return _cpu_program(graph.fx_gm)


# --- programs -------------------------------------------------------------------------------


def _device_program(
    ex: Executor,
    flatbuffer: bytes,
    graph: FrontendResult,
    art: GraphArtifacts,
    consteval=None,
    in_place: list[list[int]] | None = None,
) -> Program:
    """Calls the flatbuffer's program on the device: inputs narrowed to the device's types,
    outputs widened back to the model's. ``consteval`` (an imported tt-mlir program's
    ``ConstEvalRunner``) adds the results of its const-eval programs to the inputs.

    ``in_place``: [result, input] of each result the program does not return because it
    wrote it into that input's buffer (compiler/transforms/in_place.py). Such a result comes
    back as None (``mutations.write_back`` skips it); where the program got a copy of the
    input (converted, or one whose storage another input shares), the copy is written back."""
    binary = runtime.load_binary(flatbuffer)
    device = ex.device(binary)
    in_descs = binary.program_inputs(0)
    in_dtypes = [runtime.torch_dtype(d["dtype"]) for d in in_descs]
    names = [d["name"] for d in in_descs]
    in_place = sorted(tuple(pair) for pair in in_place or ())
    dropped = {r for r, _ in in_place}
    if in_place:
        users = [k for k, kind in enumerate(graph.arg_kinds) if kind == "input"]
    # each returned result's dtype in the model; None for one written back into an argument
    # (mutations.write_back), whose copy casts it (an int32 counter into its int64 tensor)
    first_written = len(graph.out_dtypes) - len(graph.written)
    out_dtypes = [None if i >= first_written else dt for i, dt in enumerate(graph.out_dtypes) if i not in dropped]
    verify = ex.config.enable_intermediate_verification
    narrowing = ex.config.narrowing
    # What every call would otherwise look up again: the device's queue, whether a result can
    # wrap (only in the device's 'wrap' mode; 'error' raises instead), whether outputs need a cast.
    submit = runtime.submitter(device, binary, 0)
    wrapping = narrowing == "wrap" or device.integer_overflow == "wrap"
    try:
        returned = [runtime.torch_dtype(d["dtype"]) for d in binary.program_outputs(0)]
        cast = len(returned) != len(out_dtypes) or any(
            dt is not None and dt != got for got, dt in zip(returned, out_dtypes)
        )
    except TTRuntimeError:  # an output type without a host dtype of its own: cast each call
        cast = True

    def run(inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        # an input already in the program's dtype and contiguous goes as it is (no copy)
        host = [
            t if t.dtype == dt and t.is_contiguous() else runtime.narrow(t, dt, n, narrowing)
            for t, dt, n in zip(inputs, in_dtypes, names)
        ]
        if consteval is not None:
            host = consteval.inputs(lambda k, ins: runtime.submit(device, binary, k, ins), inputs, host)
        if in_place:
            _private_in_place_inputs(inputs, host, in_place, users)
        wraps = device.integer_wraps if wrapping else 0
        if verify:
            values = intermediate.fx_node_values(graph.fx_gm, inputs)
            goldens = intermediate.goldens_by_loc(binary, 0, values)
            outs, art.intermediate_verification = intermediate.verify_program(device, binary, 0, host, goldens)
        else:
            outs = submit(host)
        if wrapping and device.integer_wraps != wraps:
            _LOG.warning("graph %s: %s (narrowing='wrap')", art.name, device.last_integer_wrap)
        outs = [o if dt is None or o.dtype == dt else o.to(dt) for o, dt in zip(outs, out_dtypes)] if cast else outs
        if in_place:
            outs = list(outs)
            for r, k in in_place:
                if host[k] is not inputs[k]:  # the program wrote into a copy
                    mutations.copy_into(inputs[k], host[k])
                outs.insert(r, None)
        return outs

    return run


def _private_in_place_inputs(inputs: list, host: list, in_place: list, users: list[int]) -> None:
    """An input the program writes into, passed as it is, whose storage another user input
    shares: the program gets a copy of it (the other input must not see the write before
    the call ends, as with a written-back result)."""
    storages = {}
    for k in users:
        t = inputs[k]
        ptr = t.untyped_storage().data_ptr()
        storages[ptr] = storages.get(ptr, 0) + 1
    for _, k in in_place:
        if host[k] is inputs[k] and storages[inputs[k].untyped_storage().data_ptr()] > 1:
            host[k] = inputs[k].clone()


def _cpu_program(fx_gm: fx.GraphModule) -> Program:
    def run(inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        with torch.no_grad():
            return list(fx_gm(*inputs))

    return run


def _dump(directory: str | None, art: GraphArtifacts) -> None:
    """CompilerConfig.ir_dump_dir: each stage's text in a file of its own."""
    if not directory:
        return
    os.makedirs(directory, exist_ok=True)
    for stage in ("fx_graph", "stablehlo", "ttir", "ttnn"):
        text = getattr(art, stage)
        if text is not None:
            ext = "py" if stage == "fx_graph" else "mlir"
            with open(os.path.join(directory, f"{art.name}.{stage}.{ext}"), "w") as f:
                f.write(text)


_PLUMBING = {"ttnn.to_device", "ttnn.from_device", "ttnn.to_layout", "ttnn.deallocate", "func.return"}


def _summary(art: GraphArtifacts, graph: FrontendResult, cfg: CompilerConfig) -> str:
    """The one INFO line of a compiled graph: what went in, what came out, how long, cache."""
    aten = sum(1 for n in graph.fx_gm.graph.nodes if n.op == "call_function" and n.target is not operator.getitem)
    counts = art.report.get("op_counts", {}).get("ttnn", {})
    device = sum(n for op, n in counts.items() if op not in _PLUMBING)
    fused = sum(art.report.get("fused", {}).values())
    host = art.report.get("cpu_fallback", {}).get("host_ops", 0)
    cache = art.report.get("compile_cache", "n/a")
    seconds = art.stage_seconds.get("total", 0.0)
    return (
        f"graph {art.name}: {aten} aten ops -> {device} TTNN ops ({fused} fused), {host} on the CPU, "
        f"{seconds:.2f} s, compile cache {cache} [{cfg.compile_depth.name}]"
    )


def _log_compile(art: GraphArtifacts, with_ir: bool) -> None:
    """CompilerConfig.dump_info / dump_debug (tt-torch's options): the compile's stage summary
    and, with dump_debug, each stage's IR, at INFO on the "tt_torch.dump" logger."""
    # asked for by the config: shown even at the default WARNING level (the "tt_torch" logger's
    # handler writes it to stderr where the application set up no logging; tt_torch.logs)
    if _DUMP.getEffectiveLevel() > logging.INFO:
        _DUMP.setLevel(logging.INFO)
    seconds = ", ".join(f"{stage} {s:.3f} s" for stage, s in art.stage_seconds.items())
    ops = "; ".join(f"{d}: {sum(c.values())}" for d, c in art.report.get("op_counts", {}).items())
    fused = ", ".join(f"{k} {v}" for k, v in art.report.get("fused", {}).items()) or "none"
    cache = art.report.get("compile_cache", "n/a")
    _DUMP.info("graph %s: %s | ops %s | fused %s | compile cache %s", art.name, seconds, ops or "n/a", fused, cache)
    if with_ir:
        for stage in ("fx_graph", "stablehlo", "ttir", "ttnn"):
            text = getattr(art, stage)
            if text is not None:
                _DUMP.info("graph %s, %s:\n%s", art.name, stage, text)
