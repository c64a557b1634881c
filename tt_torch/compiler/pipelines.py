"""Named pass pipelines: StableHLO -> TTIR -> TTNN -> flatbuffer.

``PIPELINES`` is exactly what a compile runs, in order; every pass takes the
compile options (the device passes read the target, math fidelity, weight
format and optimization level from them), and every pass also runs alone
(``python -m tt_torch.compiler.opt``). ``compile_stablehlo`` is the seam
between the frontend and the compiler: a StableHLO module and options in, each
stage's text, the report and the flatbuffer out. Op-by-op mode runs the same
function on each one-op module.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from torch_mlir import ir

from tt_torch.errors import CompileError

from . import cache, context
from .conversion import stablehlo_to_ttir, ttir_to_ttnn
from .ir_helpers import count_ops, module_text, tag_arguments
from .options import CompileOptions, CompileResult
from .report import Report
from .target import cost_model, system_desc
from .target.flatbuffer import to_flatbuffer
from .transforms import composites, constants, deallocation, device_config, fusion, in_place, layout, prepared_weights
from .transforms.residual_in_place import mark_residuals_in_place

__all__ = ["PASSES", "PIPELINES", "STAGES", "CompileOptions", "CompileResult", "compile_stablehlo", "run_pass"]

Pass = Callable[[ir.Module, Report, CompileOptions], object]


def _l1_budget(target: str) -> int:
    """Half of one chip's L1: the planner's share; the kernels' buffers use the rest."""
    return system_desc.get(target).chip.l1_bytes // 2


def _weight_dtype(module: ir.Module, report: Report, options: CompileOptions) -> None:
    report.device["weights_cast"] = device_config.set_weight_dtype(module, options.experimental_weight_dtype)


def _place_in_l1(module: ir.Module, report: Report, options: CompileOptions) -> None:
    if options.optimization_level >= 1:
        report.device["tensors_in_l1"] = device_config.place_in_l1(module, _l1_budget(options.target))


def _residual_in_place(module: ir.Module, report: Report, options: CompileOptions) -> None:
    report.device["residuals_in_place"] = mark_residuals_in_place(module)


# name -> pass; each also runs alone from the command line (tt_torch.compiler.opt)
PASSES: dict[str, Pass] = {
    "stablehlo-to-ttir": lambda m, r, o: stablehlo_to_ttir.convert(m, r),
    "ttir-fuse-composites": lambda m, r, o: composites.fuse_composites(m, r),
    "ttir-fusion": lambda m, r, o: fusion.fuse(m, r),
    "ttir-fold-constant-reshapes": lambda m, r, o: constants.fold_constant_reshapes(m, r),
    "ttir-to-ttnn": lambda m, r, o: ttir_to_ttnn.convert(m, r),
    "ttnn-in-place-results": lambda m, r, o: in_place.drop_in_place_results(m, r) if o.in_place_results else 0,
    "ttnn-cancel-layouts": lambda m, r, o: layout.cancel_layout_pairs(m),
    "ttnn-compute-config": lambda m, r, o: device_config.set_compute_config(m, o.math_fidelity, o.fp32_dest_acc_en),
    "ttnn-weight-dtype": _weight_dtype,
    "ttnn-prepared-weights": lambda m, r, o: prepared_weights.prepare_weights(m),
    "ttnn-place-in-l1": _place_in_l1,
    "ttnn-residual-in-place": _residual_in_place,
    "ttnn-deallocate": lambda m, r, o: deallocation.insert_deallocations(m),
}
PIPELINES: dict[str, list[str]] = {
    "stablehlo-to-ttir-pipeline": [
        "stablehlo-to-ttir",
        "ttir-fold-constant-reshapes",
        "ttir-fuse-composites",
        "ttir-fusion",
    ],
    "ttir-to-ttnn-pipeline": [
        "ttir-to-ttnn",
        "ttnn-in-place-results",
        "ttnn-cancel-layouts",
        "ttnn-compute-config",
        "ttnn-weight-dtype",
        "ttnn-prepared-weights",
        "ttnn-place-in-l1",
        "ttnn-residual-in-place",
        "ttnn-deallocate",
    ],
}
# (dialect reached, pipeline that reaches it), in order
STAGES: tuple[tuple[str, str], ...] = (("ttir", "stablehlo-to-ttir-pipeline"), ("ttnn", "ttir-to-ttnn-pipeline"))


def run_pass(
    name: str, module: ir.Module, report: Report, options: CompileOptions | None = None, verify: bool = False
) -> None:
    PASSES[name](module, report, options or CompileOptions())
    if verify and not module.operation.verify():
        raise CompileError(f"the module does not verify after pass '{name}'")


def compile_stablehlo(
    module: ir.Module,
    options: CompileOptions | None = None,
    on_stage: Callable[[str, str], None] | None = None,
) -> CompileResult:
    """Compiles a StableHLO module (torch-mlir's, modified in place) down to a flatbuffer.

    ``on_stage(dialect, text)`` is called after each stage of ``STAGES`` (op-by-op mode
    records how far an op got); a compile-cache hit calls it for none.
    """
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
    result = _compile(module, options, on_stage)
    result.report["compile_cache"] = "miss" if key is not None else "off"
    if key is not None:
        store.save(key, result)
    return result


def _compile(module: ir.Module, options: CompileOptions, on_stage) -> CompileResult:
    report = Report()
    seconds: dict[str, float] = {}
    texts: dict[str, str] = {}
    for dialect, pipeline in STAGES:
        t = time.perf_counter()
        for name in PIPELINES[pipeline]:
            run_pass(name, module, report, options, options.verify_each_pass)
        texts[dialect] = module_text(module)
        seconds[pipeline.removesuffix("-pipeline").replace("-", "_")] = time.perf_counter() - t
        report.op_counts[dialect] = count_ops(module)
        if on_stage is not None:
            on_stage(dialect, texts[dialect])
    t = time.perf_counter()
    estimates = cost_model.report_estimates(module, options.target, report)
    seconds["cost_model"] = time.perf_counter() - t
    flatbuffer = None
    if options.emit_flatbuffer:
        t = time.perf_counter()
        sources = texts if options.embed_mlir else None
        flatbuffer = to_flatbuffer(module, options.target, sources, estimates)
        seconds["flatbuffer"] = time.perf_counter() - t
    return CompileResult(texts["ttir"], texts["ttnn"], flatbuffer, report.as_dict(), seconds)
