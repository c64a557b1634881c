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
from .transforms import deallocation, fusion, layout


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
    "ttir-fusion": lambda m, r: fusion.fuse(m, r),
    "ttir-to-ttnn": lambda m, r: ttir_to_ttnn.convert(m, r),
    "ttnn-cancel-layouts": lambda m, r: layout.cancel_layout_pairs(m),
    "ttnn-deallocate": lambda m, r: deallocation.insert_deallocations(m),
}
PIPELINES: dict[str, list[str]] = {
    "stablehlo-to-ttir-pipeline": ["stablehlo-to-ttir", "ttir-fusion"],
    "ttir-to-ttnn-pipeline": ["ttir-to-ttnn", "ttnn-cancel-layouts", "ttnn-deallocate"],
}


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
            run_pass(name, module, report, options.verify_each_pass)
        texts[dialect] = _text(module)
        seconds[pipeline.removesuffix("-pipeline").replace("-", "_")] = time.perf_counter() - t
        report.op_counts[dialect] = _count_ops(module)
    flatbuffer = None
    if options.emit_flatbuffer:
        from .target.flatbuffer import to_flatbuffer

        t = time.perf_counter()
        sources = texts if options.embed_mlir else None
        flatbuffer = to_flatbuffer(module, options.target, sources)
        seconds["flatbuffer"] = time.perf_counter() - t
    return CompileResult(texts["ttir"], texts["ttnn"], flatbuffer, report.as_dict(), seconds)


def _count_ops(module: ir.Module) -> dict[str, int]:
    counts: dict[str, int] = {}
    for func_op in module.body.operations:
        for op in func_op.regions[0].blocks[0].operations:
            counts[op.operation.name] = counts.get(op.operation.name, 0) + 1
    return counts
