"""Runs one dynamo graph: compiles it per input signature and calls the result.

The path for one signature: trace to aten with decompositions -> FX passes
(consteval, DCE, input pruning) -> torch-mlir import to StableHLO -> the
compiler (TTIR, TTNN, flatbuffer) -> the runtime on the emulated device.
``CompilerConfig.compile_depth`` stops it early; the model then runs the
post-pass FX graph on the CPU, so its outputs stay correct.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx
from torch.utils import _pytree as pytree

from tt_torch.errors import CompileError
from tt_torch.tools.utils import CompileDepth, CompilerConfig, OpByOpBackend

from . import passes
from .artifacts import CompileArtifacts, GraphArtifacts
from .trace import trace_to_aten

_STATE_KEY = re.compile(r"_(?:modules|parameters|buffers)\['([^']+)'\]")


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


def signature_of(args: tuple) -> tuple:
    return tuple((tuple(a.shape), a.dtype) if isinstance(a, torch.Tensor) else ("value", a) for a in args)


@dataclass
class ConstevalCache:
    """Results of the consteval graph, kept until one of its inputs changes."""

    key: tuple | None = None
    values: list[torch.Tensor] = field(default_factory=list)

    def get(self, graph: fx.GraphModule, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        key = tuple((id(t), t._version, t.data_ptr()) for t in inputs)
        if key != self.key:
            with torch.no_grad():
                self.values = [v.contiguous() for v in graph(*inputs)]
            self.key = key
        return self.values


@dataclass
class CompiledGraph:
    """One signature's compiled program and how to feed it."""

    fx_gm: fx.GraphModule
    kept_inputs: list[int]  # indices into original args + consteval outputs
    consteval: passes.ConstevalResult
    out_spec: Any
    out_dtypes: list[torch.dtype]
    run_program: Callable[[list[torch.Tensor]], list[torch.Tensor]]
    consteval_cache: ConstevalCache = field(default_factory=ConstevalCache)

    def program_inputs(self, args: tuple) -> list[torch.Tensor]:
        full = list(args)
        if self.consteval.graph is not None:
            ins = [args[i] for i in self.consteval.inputs]
            full += self.consteval_cache.get(self.consteval.graph, ins)
        return [full[i] for i in self.kept_inputs]

    def __call__(self, args: tuple) -> Any:
        outs = self.run_program(self.program_inputs(args))
        return pytree.tree_unflatten(list(outs), self.out_spec)


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

    def __call__(self, *args):
        key = signature_of(args)
        program = self.programs.get(key)
        if program is None:
            program = self._compile(args, key)
            self.programs[key] = program
        return program(args)

    # --- compile -------------------------------------------------------------------
    def _compile(self, args: tuple, key: tuple) -> CompiledGraph:
        self.num_compiles += 1
        cfg = self.config
        art = GraphArtifacts(name=f"{self.name}_{self.num_compiles - 1}", input_signature=key)
        t0 = time.perf_counter()

        fx_gm = trace_to_aten(self.gm, args)
        out_spec = pytree.tree_flatten(_output_structure(self.gm))[1]
        fx_gm = passes.canonicalize_zero_d_reductions(fx_gm)
        fx_gm = passes.fold_tanh_gelu(fx_gm)
        fx_gm = passes.fold_rms_norm(fx_gm)
        constant_inputs = {i for i, info in enumerate(self.inputs) if info.kind != "input" and cfg.consteval_parameters}
        ce = passes.ConstevalResult(None)
        if cfg.enable_consteval and constant_inputs:
            fx_gm, ce = passes.consteval(fx_gm, constant_inputs)
        fx_gm = passes.eliminate_dead_code(fx_gm)
        fx_gm, kept = passes.prune_unused_inputs(fx_gm)
        out_vals = [n.meta.get("val") for n in _output_nodes(fx_gm)]
        for v in out_vals:
            if not isinstance(v, torch.Tensor):
                raise CompileError(
                    f"graph {art.name} returns a non-tensor value ({v!r}); tt-torch returns tensors only"
                )
        out_dtypes = [v.dtype for v in out_vals]
        art.fx_graph = fx_gm.code
        art.stage_seconds["fx"] = time.perf_counter() - t0

        names = [info.name for info in self.inputs] + [f"consteval_{k}" for k in range(ce.num_outputs)]
        kinds = [info.kind for info in self.inputs] + ["constant"] * ce.num_outputs
        if self.artifacts is not None and ce.graph is not None:  # export's const-eval programs
            art.consteval = (ce.graph, [names[i] for i in ce.inputs], [args[i] for i in ce.inputs])
        arg_names = [names[i] for i in kept]
        arg_kinds = [kinds[i] for i in kept]
        run_program = _cpu_runner(fx_gm)

        op_by_op = cfg.compile_depth in (CompileDepth.COMPILE_OP_BY_OP, CompileDepth.EXECUTE_OP_BY_OP)
        module = None
        if cfg.compile_depth != CompileDepth.TORCH_FX and not (
            op_by_op and cfg.op_by_op_backend == OpByOpBackend.TORCH
        ):
            from .importer import import_stablehlo

            t = time.perf_counter()
            module = import_stablehlo(fx_gm, func_name="main")
            art.stablehlo = module.operation.get_asm(enable_debug_info=True, large_elements_limit=16)
            art.stage_seconds["torch_mlir"] = time.perf_counter() - t
            # the real tt-mlir gets the full text (no elided constants), before our passes change the module
            full_stablehlo = module.operation.get_asm(enable_debug_info=True) if _wants_tt_mlir(cfg, op_by_op) else None
            if cfg.compiler == "tt-mlir" and cfg.compile_depth in (CompileDepth.TTNN_IR, CompileDepth.EXECUTE):
                flatbuffer = _compile_with_tt_mlir(full_stablehlo, cfg, art, arg_names)
                if cfg.compile_depth == CompileDepth.EXECUTE:
                    run_program = self._device_runner(flatbuffer, out_dtypes, fx_gm, art)
            elif cfg.compile_depth in (CompileDepth.TTNN_IR, CompileDepth.EXECUTE):
                from tt_torch.compiler import pipelines

                result = pipelines.compile_stablehlo(
                    module,
                    pipelines.CompileOptions.from_config(
                        cfg,
                        verify_each_pass=cfg.verify_passes,
                        arg_names=arg_names,
                        arg_kinds=arg_kinds,
                        emit_flatbuffer=cfg.compile_depth == CompileDepth.EXECUTE,
                    ),
                )
                art.ttir, art.ttnn, art.flatbuffer = result.ttir, result.ttnn, result.flatbuffer
                art.report = result.report
                art.stage_seconds.update(result.stage_seconds)
                if cfg.cross_check_tt_mlir:
                    art.report["tt_mlir"] = _cross_check(full_stablehlo, art.ttnn, cfg, art)
                if cfg.compile_depth == CompileDepth.EXECUTE:
                    run_program = self._device_runner(result.flatbuffer, out_dtypes, fx_gm, art)
        compiled = CompiledGraph(fx_gm, kept, ce, out_spec, out_dtypes, run_program)
        if op_by_op:  # each unique op on its own; the model itself runs on the CPU
            from tt_torch.tools import op_by_op as obo

            summary = obo.run_graph(fx_gm, compiled.program_inputs(args), cfg, art.name, stablehlo_module=module)
            art.report["op_by_op"] = dataclasses.asdict(summary)
        art.stage_seconds["total"] = time.perf_counter() - t0
        self._dump(art)
        if self.artifacts is not None:
            self.artifacts.graphs.append(art)
        return compiled

    def _device_runner(self, flatbuffer: bytes, out_dtypes: list[torch.dtype], fx_gm=None, art=None):
        from tt_torch import runtime
        from tt_torch.runtime.loaded import narrow

        binary = runtime.load_binary(flatbuffer)
        if self._device is None:
            self._device = runtime.open_device_for_target(self.config.target, binary, self.config.numerics)
        device = self._device
        in_descs = binary.program_inputs(0)
        in_dtypes = [runtime.torch_dtype(d["dtype"]) for d in in_descs]
        names = [d["name"] for d in in_descs]

        def run(inputs: list[torch.Tensor]) -> list[torch.Tensor]:
            host = [narrow(t, dt, n) for t, dt, n in zip(inputs, in_dtypes, names)]
            if self.artifacts is not None and art is not None:  # for tt_torch.export_artifacts
                art.fx_module, art.program_inputs = fx_gm, list(inputs)
            if self.config.enable_intermediate_verification and fx_gm is not None:
                from tt_torch.tools import intermediate

                goldens = intermediate.goldens_by_loc(binary, 0, intermediate.fx_node_values(fx_gm, inputs))
                outs, table = intermediate.verify_program(device, binary, 0, host, goldens)
                if art is not None:
                    art.intermediate_verification = table
            else:
                outs = runtime.submit(device, binary, 0, host)
            return [o if o.dtype == dt else o.to(dt) for o, dt in zip(outs, out_dtypes)]

        return run

    def _dump(self, art: GraphArtifacts) -> None:
        if not self.config.ir_dump_dir:
            return
        os.makedirs(self.config.ir_dump_dir, exist_ok=True)
        for stage in ("fx_graph", "stablehlo", "ttir", "ttnn"):
            text = getattr(art, stage)
            if text is not None:
                ext = "py" if stage == "fx_graph" else "mlir"
                with open(os.path.join(self.config.ir_dump_dir, f"{art.name}.{stage}.{ext}"), "w") as f:
                    f.write(text)


def _wants_tt_mlir(cfg, op_by_op: bool) -> bool:
    return (cfg.cross_check_tt_mlir and not op_by_op) or cfg.compiler == "tt-mlir"


def _compile_with_tt_mlir(stablehlo: str, cfg, art: GraphArtifacts, arg_names: list[str]) -> bytes:
    """CompilerConfig(compiler="tt-mlir"): the real tt-mlir's TTNN program, imported to run on our device."""
    from tt_torch.tt_mlir import compile_stablehlo
    from tt_torch.tt_mlir.importer import import_program

    t = time.perf_counter()
    theirs = compile_stablehlo(stablehlo, target=cfg.target, timeout=cfg.tt_mlir_timeout)
    art.stage_seconds["tt_mlir"] = time.perf_counter() - t
    if not theirs.ok:
        raise CompileError(
            f"graph {art.name}: the real tt-mlir did not compile it ({theirs.status}): {theirs.error}\n"
            "  Its StableHLO is in artifacts.last.stablehlo; CompilerConfig(compiler='tt-torch') compiles it with tt-torch."
        )
    art.ttir, art.ttnn = theirs.ttir, theirs.ttnn
    t = time.perf_counter()
    imported = import_program(theirs.ttnn, cfg.target, arg_names)
    art.stage_seconds["tt_mlir_import"] = time.perf_counter() - t
    art.flatbuffer = imported.flatbuffer
    art.report = {
        "compiler": "tt-mlir",
        "tt_mlir": theirs.summary(),
        "imported_ops": imported.op_counts,
        # recorded, not yet applied by the runtime to imported programs
        "compute_configs": imported.compute_configs,
    }
    return imported.flatbuffer


def _cross_check(stablehlo: str, ours_ttnn: str | None, cfg, art: GraphArtifacts) -> dict:
    """The real tt-mlir on the same StableHLO: its status, error and op differences (report["tt_mlir"])."""
    from tt_torch.tt_mlir import compare, compile_stablehlo

    t = time.perf_counter()
    theirs = compile_stablehlo(stablehlo, target=cfg.target, timeout=cfg.tt_mlir_timeout)
    art.stage_seconds["tt_mlir"] = time.perf_counter() - t
    return compare.compare(ours_ttnn, theirs)


def _output_nodes(gm: fx.GraphModule) -> list[fx.Node]:
    out = next(n for n in reversed(gm.graph.nodes) if n.op == "output")
    return list(pytree.tree_flatten(out.args[0])[0])


def _output_structure(gm: fx.GraphModule):
    """The structure of dynamo's graph output, with fx nodes as its leaves."""
    out = next(n for n in reversed(gm.graph.nodes) if n.op == "output")
    return out.args[0]


def _cpu_runner(fx_gm: fx.GraphModule):
    def run(inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        with torch.no_grad():
            return list(fx_gm(*inputs))

    return run
