"""Compiler options and the enums of tt-torch's public API.

Names follow tt-torch so that code written for it runs unchanged (it imports
them from ``tt_torch.tools.utils``, which re-exports this module). Unlike
tt-torch's config, ``CompilerConfig`` only holds options: compile results go to
``tt_torch.dynamo.CompileArtifacts``. The allowed values and defaults of the
device options are the compiler's (``tt_torch.compiler.options``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields
from typing import Any

from tt_torch import env
from tt_torch.compiler.options import (
    DEFAULT_MATH_FIDELITY,
    DEFAULT_TARGET,
    MATH_FIDELITIES,
    OPTIMIZATION_LEVELS,
    TARGETS,
    WEIGHT_DTYPES,
)
from tt_torch.compiler.target import system_desc
from tt_torch.errors import ConfigError


class CompileDepth(enum.Enum):
    """How far the compiler goes. The model returns correct outputs at every depth."""

    TORCH_FX = 1
    STABLEHLO = 2
    TTNN_IR = 3
    COMPILE_OP_BY_OP = 4
    EXECUTE_OP_BY_OP = 5
    EXECUTE = 6


class OpByOpBackend(enum.Enum):
    TORCH = 1
    STABLEHLO = 2


class OpCompilationStatus(enum.IntEnum):
    NOT_STARTED = 0
    CREATED_GRAPH = 1
    CONVERTED_TO_TORCH_IR = 2
    CONVERTED_TO_TORCH_BACKEND_IR = 3
    CONVERTED_TO_STABLE_HLO = 4
    CONVERTED_TO_TTIR = 5
    CONVERTED_TO_TTNN = 6
    EXECUTED = 7


COMPILERS = ("tt-torch", "tt-mlir")


def to_enum(enum_cls: type[enum.Enum], value: Any, option: str, default: enum.Enum) -> enum.Enum:
    """Accept an enum member or its name; otherwise say what is allowed."""
    if isinstance(value, enum_cls):
        return value
    if isinstance(value, str) and value.upper() in enum_cls.__members__:
        return enum_cls[value.upper()]
    allowed = ", ".join(enum_cls.__members__)
    raise ConfigError(f"{option}={value!r} is not valid; allowed values: {allowed} (default: {default.name})")


@dataclass
class CompilerConfig:
    """Options of one compile. Pass it in ``BackendOptions(compiler_config=...)``."""

    compile_depth: CompileDepth = CompileDepth.EXECUTE
    op_by_op_backend: OpByOpBackend = OpByOpBackend.TORCH
    # Evaluate parameter-only subgraphs (weight transposes, batch-norm folding)
    # once at compile time instead of on every call.
    enable_consteval: bool = True
    # Treat parameters and buffers as constants for consteval (tt-torch's name).
    consteval_parameters: bool = True
    # The emulated device the program is compiled for.
    target: str = DEFAULT_TARGET
    # Compute kernel config of matmul, linear, conv2d and multiply (tt-xla's names and
    # tt-mlir's defaults): which mantissa phases the matrix unit sums, and whether it
    # accumulates in fp32 (else in bf16).
    math_fidelity: str = DEFAULT_MATH_FIDELITY
    fp32_dest_acc_en: bool = True
    # "bfp_bf8" / "bfp_bf4": store matmul and linear weights in that block-float format.
    experimental_weight_dtype: str = ""
    # 0: every device tensor in DRAM, interleaved; 1 or more: the compiler may place
    # intermediate tensors in L1 when they fit.
    optimization_level: int = 0
    # Numerics of the device the compiled model runs on: "emulated" (the chip's formats,
    # registers and fidelity) or "fast" (plain fp32 math). None: $TT_TORCH_NUMERICS.
    numerics: str | None = None
    model_name: str = ""
    # Op-by-op mode: a label for grouping models in reports, where the per-op JSON goes,
    # and how long one op may take in the worker before it counts as hung (seconds).
    model_group: str = ""
    results_path: str = "results/models/"
    single_op_timeout: float = 30.0
    enable_intermediate_verification: bool = False
    # Verify the MLIR module after every compiler pass (default: $TT_TORCH_VERIFY_PASSES).
    verify_passes: bool = field(default_factory=env.VERIFY_PASSES.flag)
    # Directory to write each graph's StableHLO, TTIR and TTNN text to (default: $TT_TORCH_IR_DUMP_DIR).
    ir_dump_dir: str | None = field(default_factory=lambda: env.IR_DUMP_DIR.get() or None)
    dump_info: bool = False
    dump_debug: bool = False
    # Also compile every graph (in op-by-op mode: every unique op) with the real tt-mlir
    # (jax-tt-plugin, compile-only) and record its status, error and TTNN op differences.
    cross_check_tt_mlir: bool = False
    # Which compiler makes the device program: "tt-torch" (ours) or "tt-mlir" (the real one,
    # whose TTNN program is imported and run on the emulated device).
    compiler: str = "tt-torch"
    # Seconds the real tt-mlir may take on one graph or op before it counts as hung.
    tt_mlir_timeout: float = 120.0

    def __post_init__(self) -> None:
        self.compile_depth = to_enum(CompileDepth, self.compile_depth, "compile_depth", CompileDepth.EXECUTE)
        self.op_by_op_backend = to_enum(OpByOpBackend, self.op_by_op_backend, "op_by_op_backend", OpByOpBackend.TORCH)
        if self.target not in TARGETS:
            if not str(self.target).endswith(".json"):
                raise ConfigError(
                    f"target={self.target!r} is not a known device; allowed: {', '.join(TARGETS)} "
                    f"(default: {DEFAULT_TARGET}), "
                    "or a target description saved as .json (tt_torch.compiler.target.system_desc.save)"
                )
            try:
                system_desc.load(self.target)
            except ValueError as e:
                raise ConfigError(f"target={self.target!r}: {e}") from None
        self.math_fidelity = str(self.math_fidelity).lower()
        if self.math_fidelity not in MATH_FIDELITIES:
            raise ConfigError(
                f"math_fidelity={self.math_fidelity!r} is not valid; allowed: {', '.join(MATH_FIDELITIES)} "
                f"(default: {DEFAULT_MATH_FIDELITY})"
            )
        if self.experimental_weight_dtype not in WEIGHT_DTYPES:
            raise ConfigError(
                f"experimental_weight_dtype={self.experimental_weight_dtype!r} is not valid; allowed: 'bfp_bf8', "
                "'bfp_bf4', or '' (weights keep their type)"
            )
        if self.optimization_level not in OPTIMIZATION_LEVELS:
            levels = ", ".join(map(str, OPTIMIZATION_LEVELS))
            raise ConfigError(f"optimization_level={self.optimization_level!r} is not valid; allowed: {levels}")
        if self.numerics not in (None, "emulated", "fast"):
            raise ConfigError(f"numerics={self.numerics!r} is not valid; allowed: 'emulated', 'fast', or None")
        if self.compiler not in COMPILERS:
            raise ConfigError(
                f"compiler={self.compiler!r} is not valid; allowed values: {', '.join(COMPILERS)} (default: tt-torch)"
            )
        if self.single_op_timeout <= 0:
            raise ConfigError(f"single_op_timeout must be positive, got {self.single_op_timeout}")

    def as_dict(self) -> dict[str, Any]:
        out = {}
        for f in fields(self):
            if f.name.startswith("_"):
                continue
            v = getattr(self, f.name)
            out[f.name] = v.name if isinstance(v, enum.Enum) else v
        return out
