"""Named pass pipelines: StableHLO -> TTIR -> TTNN -> flatbuffer.

``compile_stablehlo`` is the seam between the frontend and the compiler: a
StableHLO module and options in, each stage's text and the flatbuffer out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from torch_mlir import ir

from tt_torch.errors import CompileError

from . import cache, context
from .conversion import stablehlo_to_ttir, ttir_to_ttnn
from .conversion.common import Report
from .dialects import ttnn
from .target import system_desc
from .transforms import composites, deallocation, device_config, fusion, layout


@dataclass
class CompileOptions:
    target: str = "n150"
    verify_each_pass: bool = False
    # Per function argument: its name and kind ("input", "parameter", "buffer", "constant").
    arg_names: list[str] | None = None
    arg_kinds: list[str] | None = None
    emit_flatbuffer: bool = True
    embed_mlir: bool = True
    # On-disk compile cache; None: $TT_TORCH_CACHE_DIR or ~/.cache/tt_torch ("off" disables it).
    cache_dir: str | None = None
    # Device compile options (tt-xla's names; see CompilerConfig).
    math_fidelity: str = "hifi4"
    fp32_dest_acc_en: bool = True
    experimental_weight_dtype: str = ""
    optimization_level: int = 0

    @classmethod
    def from_config(cls, config, **kwargs) -> CompileOptions:
        """The device options of a CompilerConfig, plus `kwargs`."""
        return cls(
            target=config.target,
            math_fidelity=config.math_fidelity,
            fp32_dest_acc_en=config.fp32_dest_acc_en,
            experimental_weight_dtype=config.experimental_weight_dtype,
            optimization_level=config.optimization_level,
            **kwargs,
        )


@dataclass
class CompileResult:
    ttir: str
    ttnn: str
    flatbuffer: bytes | None
    report: dict
    stage_seconds: dict[str, float] = field(default_factory=dict)


Pass = Callable[[ir.Module, Report], object]

# name -> pass; each also runs alone from the command line (tt_torch.compiler.opt)
PASSES: dict[str, Pass] = {
    "stablehlo-to-ttir": lambda m, r: stablehlo_to_ttir.convert(m, r),
    "ttir-fuse-composites": lambda m, r: composites.fuse_composites(m, r),
    "ttir-fusion": lambda m, r: fusion.fuse(m, r),
    "ttir-to-ttnn": lambda m, r: ttir_to_ttnn.convert(m, r),
    "ttnn-cancel-layouts": lambda m, r: layout.cancel_layout_pairs(m),
    "ttnn-deallocate": lambda m, r: deallocation.insert_deallocations(m),
    # with their default options; compile_stablehlo runs them with the CompileOptions'
    "ttnn-compute-config": lambda m, r: device_config.set_compute_config(m),
    "ttnn-weight-dtype-bfp8": lambda m, r: device_config.set_weight_dtype(m, "bfp_bf8"),
    "ttnn-place-in-l1": lambda m, r: device_config.place_in_l1(m, _l1_budget("n150")),
}
PIPELINES: dict[str, list[str]] = {
    "stablehlo-to-ttir-pipeline": ["stablehlo-to-ttir", "ttir-fuse-composites", "ttir-fusion"],
    "ttir-to-ttnn-pipeline": ["ttir-to-ttnn", "ttnn-cancel-layouts", "ttnn-deallocate"],
}


def _l1_budget(target: str) -> int:
    """Half of one chip's L1: the planner's share; the kernels' buffers use the rest."""
    return system_desc.get(target).chip.l1_bytes // 2


def _device_passes(module: ir.Module, options: CompileOptions, report: Report) -> None:
    """The passes that apply the device options, between lowering and deallocation."""
    device_config.set_compute_config(module, options.math_fidelity, options.fp32_dest_acc_en)
    report.device["weights_cast"] = device_config.set_weight_dtype(module, options.experimental_weight_dtype)
    if options.optimization_level >= 1:
        report.device["tensors_in_l1"] = device_config.place_in_l1(module, _l1_budget(options.target))


def run_pass(name: str, module: ir.Module, report: Report, verify: bool = False) -> None:
    PASSES[name](module, report)
    if verify and not module.operation.verify():
        raise CompileError(f"the module does not verify after pass '{name}'")


def tag_arguments(module: ir.Module, names: list[str] | None, kinds: list[str] | None) -> None:
    """Marks each function argument as input, parameter or constant, with its name (as tt-mlir does)."""
    if names is None:
        return
    with module.context:
        func_op = module.body.operations[0]
        dicts = []
        for name, kind in zip(names, kinds or ["input"] * len(names)):
            dicts.append(
                ir.DictAttr.get({"tt.argument_type": ir.StringAttr.get(kind), "tt.name": ir.StringAttr.get(name)})
            )
        func_op.attributes["arg_attrs"] = ir.ArrayAttr.get(dicts)


def _text(module: ir.Module) -> str:
    return module.operation.get_asm(enable_debug_info=True, large_elements_limit=16)


def compile_stablehlo(module: ir.Module, options: CompileOptions | None = None) -> CompileResult:
    """Compiles a StableHLO module (torch-mlir's, modified in place) down to a flatbuffer."""
    options = options or CompileOptions()
    context.prepare(module.context)
    tag_arguments(module, options.arg_names, options.arg_kinds)
    store = cache.CompileCache.open(options.cache_dir)
    key = store.key(module, options) if store is not None else None
    if key is not None:
        t = time.perf_counter()
        hit = store.load(key)
        if hit is not None:
            hit.stage_seconds = {"compile_cache_load": time.perf_counter() - t}
            hit.report["compile_cache"] = "hit"
            return hit
    result = _compile(module, options)
    result.report["compile_cache"] = "miss" if key is not None else "off"
    if key is not None:
        store.save(key, result)
    return result


def _compile(module: ir.Module, options: CompileOptions) -> CompileResult:
    report = Report()
    seconds: dict[str, float] = {}
    texts: dict[str, str] = {}
    for dialect, pipeline in (("ttir", "stablehlo-to-ttir-pipeline"), ("ttnn", "ttir-to-ttnn-pipeline")):
        t = time.perf_counter()
        for name in PIPELINES[pipeline]:
            if name == "ttnn-deallocate":
                _device_passes(module, options, report)
            run_pass(name, module, report, options.verify_each_pass)
        texts[dialect] = _text(module)
        seconds[pipeline.removesuffix("-pipeline").replace("-", "_")] = time.perf_counter() - t
        report.op_counts[dialect] = _count_ops(module)
    t = time.perf_counter()
    estimates = _estimate(module, options.target, report)
    seconds["cost_model"] = time.perf_counter() - t
    flatbuffer = None
    if options.emit_flatbuffer:
        from .target.flatbuffer import to_flatbuffer

        t = time.perf_counter()
        sources = texts if options.embed_mlir else None
        flatbuffer = to_flatbuffer(module, options.target, sources, estimates)
        seconds["flatbuffer"] = time.perf_counter() - t
    return CompileResult(texts["ttir"], texts["ttnn"], flatbuffer, report.as_dict(), seconds)


def _estimate(module: ir.Module, target: str, report: Report) -> dict:
    """The cost model's estimate per op (into the report: totals and the costliest ops),
    returned as {op: estimated ns} for the flatbuffer."""
    from .target import cost_model

    estimate = cost_model.estimate(module, target)
    ops = [
        op.operation
        for func_op in module.body.operations
        for op in func_op.regions[0].blocks[0].operations
        if op.operation.name.startswith("ttnn.")
    ]
    top = sorted(estimate.ops, key=lambda e: -e.estimated_ns)[:10]
    report.device["estimate"] = {
        "note": "roofline estimate from the target's peak throughput and bandwidth, not a measurement",
        "target": target,
        "total_us": estimate.total_ns / 1000.0,
        "device_us": estimate.device_ns / 1000.0,
        "costliest": [{"op": e.op, "loc": e.loc, "us": e.estimated_ns / 1000.0, "bound": e.bound} for e in top],
    }
    report.device["memory"] = _memory_plan(module, target)
    return {op: e.estimated_ns for op, e in zip(ops, estimate.ops)}


def _memory_plan(module: ir.Module, target: str) -> dict:
    """Peak DRAM and L1 bytes the program's device tensors take (padded, per format), walking
    the ops with their deallocations, against the target's budgets."""
    from .target.cost_model import device_bytes

    chip = system_desc.get(target).chip
    peak = {"dram": 0, "l1": 0}
    for func_op in module.body.operations:
        in_use = {"dram": 0, "l1": 0}
        sizes: dict = {}
        for op in func_op.regions[0].blocks[0].operations:
            op = op.operation
            if op.name == "ttnn.deallocate":
                buffer, size = sizes.pop(op.operands[0], (None, 0))
                if buffer:
                    in_use[buffer] -= size
                continue
            for value in op.results:
                if deallocation.is_device(value):
                    buffer = ir.StringAttr(ttnn.LayoutAttr(value.type.encoding).buffer).value
                    size = device_bytes(value)
                    sizes[value] = (buffer, size)
                    in_use[buffer] += size
                    peak[buffer] = max(peak[buffer], in_use[buffer])
    return {
        "peak_dram_bytes": peak["dram"],
        "peak_l1_bytes": peak["l1"],
        "dram_budget_bytes": chip.dram_bytes,
        "l1_budget_bytes": chip.l1_bytes,
    }


def _count_ops(module: ir.Module) -> dict[str, int]:
    counts: dict[str, int] = {}
    for func_op in module.body.operations:
        for op in func_op.regions[0].blocks[0].operations:
            counts[op.operation.name] = counts.get(op.operation.name, 0) + 1
    return counts
