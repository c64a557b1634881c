"""Compiler options and the enums of tt-torch's public API.

Names follow tt-torch so that code written for it runs unchanged (it imports
them from ``tt_torch.tools.utils``, which re-exports this module). Unlike
tt-torch's config, ``CompilerConfig`` only holds options: compile results go to
``tt_torch.dynamo.CompileArtifacts``. The allowed values and defaults of the
device options are the compiler's (``tt_torch.compiler.options``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
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
from tt_torch.parallel import plan as sharding_plan


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

    # Defaults of these options come from tt-torch's environment variables when set
    # (TT_TORCH_COMPILE_DEPTH, TT_TORCH_CONSTEVAL, ...: tt_torch.env).
    compile_depth: CompileDepth = field(default_factory=lambda: _from_env("compile_depth", CompileDepth.EXECUTE))
    op_by_op_backend: OpByOpBackend = OpByOpBackend.TORCH
    # Evaluate parameter-only subgraphs (weight transposes, batch-norm folding)
    # once at compile time instead of on every call.
    enable_consteval: bool = field(default_factory=lambda: _from_env("enable_consteval", True))
    # Treat parameters and buffers as constants for consteval (tt-torch's name).
    consteval_parameters: bool = field(default_factory=lambda: _from_env("consteval_parameters", True))
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
    enable_intermediate_verification: bool = field(
        default_factory=lambda: _from_env("enable_intermediate_verification", False)
    )
    # Verify the MLIR module after every compiler pass (default: $TT_TORCH_VERIFY_PASSES).
    verify_passes: bool = field(default_factory=env.VERIFY_PASSES.flag)
    # Directory to write each graph's StableHLO, TTIR and TTNN text to (default: $TT_TORCH_IR_DUMP_DIR).
    ir_dump_dir: str | None = field(default_factory=lambda: env.IR_DUMP_DIR.get() or None)
    # tt-torch's: log each compiled graph's stage summary (seconds per stage, ops per dialect),
    # and with dump_debug also each stage's IR (logger "tt_torch.dump", INFO).
    dump_info: bool = False
    dump_debug: bool = field(default_factory=lambda: _from_env("dump_debug", False))
    # tt-torch's pipeline parallelism: {module path: index into BackendOptions.devices}, e.g.
    # {"l1": 0, "l2": 1}. The graph is split into stages by owner, each its own program on its
    # device (tt_torch.dynamo.pipeline; docs/device.md). Empty: everything on devices[0].
    device_map: dict[str, int] = field(default_factory=dict)
    # Also compile every graph (in op-by-op mode: every unique op) with the real tt-mlir
    # (jax-tt-plugin, compile-only) and record its status, error and TTNN op differences.
    cross_check_tt_mlir: bool = False
    # Which compiler makes the device program: "tt-torch" (ours) or "tt-mlir" (the real one,
    # whose TTNN program is imported and run on the emulated device).
    compiler: str = "tt-torch"
    # Seconds the real tt-mlir may take on one graph or op before it counts as hung.
    tt_mlir_timeout: float = 120.0
    # When a graph does not compile as a whole (an op torch-mlir or tt-torch cannot lower),
    # run the ops the device path refuses as ATen on the CPU and the rest on the device
    # (reported in the graph's artifacts, report["cpu_fallback"], and logged once per graph).
    # False: such a graph's compile error is raised.
    enable_cpu_fallback: bool = True
    # The device has no 64-bit types: int64 values become int32 and f64 values f32. "error": an
    # input or constant out of range, or an int32 result that overflows inside the program,
    # is an error naming the input or op, its source line and the values' range. "wrap": the
    # hardware's behaviour (int32 wraps, f32 overflows to inf), with a warning.
    narrowing: str = "error"
    # Fingerprint the content of every parameter and buffer on each call, so that a write that
    # bypasses the version counter (``m.weight.data.copy_(w)``, a NumPy view) reaches the cached
    # consteval results and weight conversions. It reads the weights once per call
    # (benchmarks/weight_check.py); False: only in-place ops and replaced tensors are seen.
    check_weight_contents: bool = True
    # Shape buckets for a dynamic dim: {dim: sizes}, e.g. {0: (1, 8, 32)}. A call whose inputs have
    # size n in that dim runs the program of the smallest bucket >= n: inputs padded with zeros,
    # outputs sliced back. Only for a dim the model treats row by row (a batch dim); what is
    # checked: docs/robustness.md. Empty: every new size compiles its own program.
    shape_buckets: dict[int, tuple[int, ...]] = field(default_factory=dict)
    # Tensor parallel over the chips of the mesh (BackendOptions.devices[0]'s, else the target's):
    # {module path: torch.distributed.tensor.parallel ColwiseParallel() / RowwiseParallel()} or
    # {parameter name: torch.distributed.tensor Shard(dim) / Replicate()}; no process group needed.
    # The graph becomes one SPMD program with collectives (docs/tensor_parallel.md). Empty: one chip.
    sharding_plan: dict[str, Any] = field(default_factory=dict)

    def __setattr__(self, name: str, value: Any) -> None:
        """Every assignment is checked, in the constructor and after it (tt-torch's code sets
        options as attributes): a bad value or an unknown option is a ConfigError naming it."""
        check = _CHECKS.get(name)
        if check is None:
            raise ConfigError(_unknown_option(name))
        super().__setattr__(name, check(value))

    def as_dict(self) -> dict[str, Any]:
        out = {}
        for f in fields(self):
            if f.name.startswith("_"):
                continue
            v = getattr(self, f.name)
            out[f.name] = v.name if isinstance(v, enum.Enum) else v
        return out


def _target(value: Any) -> str:
    if value not in TARGETS:
        if not str(value).endswith(".json"):
            raise ConfigError(
                f"target={value!r} is not a known device; allowed: {', '.join(TARGETS)} "
                f"(default: {DEFAULT_TARGET}), "
                "or a target description saved as .json (tt_torch.compiler.target.system_desc.save)"
            )
        try:
            system_desc.load(value)
        except ValueError as e:
            raise ConfigError(f"target={value!r}: {e}") from None
    return value


def _math_fidelity(value: Any) -> str:
    value = str(value).lower()
    if value not in MATH_FIDELITIES:
        raise ConfigError(
            f"math_fidelity={value!r} is not valid; allowed: {', '.join(MATH_FIDELITIES)} "
            f"(default: {DEFAULT_MATH_FIDELITY})"
        )
    return value


def _one_of(option: str, allowed: tuple, default: Any) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if value not in allowed:
            raise ConfigError(
                f"{option}={value!r} is not valid; allowed: {', '.join(map(repr, allowed))} (default: {default!r})"
            )
        return value

    return check


def _positive(option: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not isinstance(value, (int, float)) or value <= 0:
            raise ConfigError(f"{option} must be a positive number of seconds, got {value!r}")
        return value

    return check


def _flag(option: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not isinstance(value, bool):
            raise ConfigError(f"{option} must be True or False, got {value!r}")
        return value

    return check


def _device_map(value: Any) -> dict:
    example = 'e.g. device_map={"model.layers.0": 0, "model.layers.1": 1} (module paths as named_modules() gives them)'
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"device_map must be a dict {{module path: device index}}, got {value!r}; {example}")
    for key, index in value.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"device_map={value!r}: key {key!r} is not a module path; {example}")
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise ConfigError(
                f"device_map={value!r}: {key!r} maps to {index!r}, not an index into BackendOptions.devices "
                f"(an int >= 0; 'cpu' and 'disk' placements are not supported); {example}"
            )
    return dict(value)


def _shape_buckets(value: Any) -> dict[int, tuple[int, ...]]:
    example = "e.g. shape_buckets={0: (1, 8, 32)} pads dim 0 of the inputs up to 1, 8 or 32"
    if not isinstance(value, dict):
        raise ConfigError(f"shape_buckets must be a dict {{dim: sizes}}, got {value!r}; {example}")
    if len(value) > 1:
        raise ConfigError(f"shape_buckets={value!r}: one dim can be bucketed, got {len(value)}; {example}")
    out = {}
    for dim, sizes in value.items():
        sizes = tuple(sizes) if isinstance(sizes, (list, tuple, range)) else None
        ok = sizes and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes)
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 0 or not ok:
            raise ConfigError(
                f"shape_buckets={value!r}: a dim (int >= 0) maps to a non-empty list of positive sizes; {example}"
            )
        out[dim] = tuple(sorted(set(sizes)))
    return out


def _any(value: Any) -> Any:
    return value


_CHECKS: dict[str, Callable[[Any], Any]] = {
    "compile_depth": lambda v: to_enum(CompileDepth, v, "compile_depth", CompileDepth.EXECUTE),
    "op_by_op_backend": lambda v: to_enum(OpByOpBackend, v, "op_by_op_backend", OpByOpBackend.TORCH),
    "target": _target,
    "math_fidelity": _math_fidelity,
    "experimental_weight_dtype": _one_of("experimental_weight_dtype", WEIGHT_DTYPES, ""),
    "optimization_level": _one_of("optimization_level", OPTIMIZATION_LEVELS, 0),
    "numerics": _one_of("numerics", (None, "emulated", "fast"), None),
    "compiler": _one_of("compiler", COMPILERS, "tt-torch"),
    "single_op_timeout": _positive("single_op_timeout"),
    "tt_mlir_timeout": _positive("tt_mlir_timeout"),
    "device_map": _device_map,
    "enable_cpu_fallback": _flag("enable_cpu_fallback"),
    "narrowing": _one_of("narrowing", ("error", "wrap"), "error"),
    "check_weight_contents": _flag("check_weight_contents"),
    "shape_buckets": _shape_buckets,
    "sharding_plan": lambda v: sharding_plan.check(v),
}
_CHECKS.update({f.name: _any for f in fields(CompilerConfig) if f.name not in _CHECKS})

# Options of tt-torch's CompilerConfig that this compiler does not have, and why.
_TT_TORCH_ONLY: dict[str, str] = {
    **dict.fromkeys(
        ("unique_ops", "stable_hlo_ops", "stablehlo_mlir_module", "torch_mlir_module", "record_property"),
        "tt-torch kept compile results in the config; here they are in BackendOptions(artifacts=CompileArtifacts()) "
        "(per graph: IR of every stage, the report, op-by-op records)",
    ),
    **dict.fromkeys(
        ("output_mlir_dir", "save_mlir_override", "dump_binary", "output_binary_dir"),
        "use CompilerConfig(ir_dump_dir=...) for each stage's IR, and artifacts.last.save_flatbuffer(path) or "
        "tt_torch.export(...) for the binary",
    ),
    **dict.fromkeys(
        ("mesh_shape", "xla_mesh", "automatic_parallelization"),
        "several chips are used through BackendOptions.devices: CompilerConfig.device_map (pipeline parallel) "
        "or one compiled model per device (data parallel); see docs/device.md",
    ),
    "enable_optimizer": "use CompilerConfig(optimization_level=1) (L1 placement)",
    "verify_op_by_op": "op-by-op mode always compares every op with its CPU golden (PCC, atol)",
    "check_all_ops_execute": "op-by-op reports list every op that did not execute (python -m tt_torch.tools.report)",
    "typecast_inputs": "inputs are narrowed to the device's types (int64 -> int32, f64 -> f32) on every call",
    "push_outputs_to_cpu": "outputs always come back to the host as torch tensors",
    "inline_parameters": "parameters stay program arguments, never IR constants (25x faster to compile)",
    "cache_preprocessed_constants": "consteval results are always cached until a weight changes",
    "runtime_intermediate_cache": "use CompilerConfig(enable_intermediate_verification=True)",
    "arg_type_map_override": "argument kinds (input, parameter, constant) are derived from the model",
    "profile_ops": "per-op device time: tt-torch perf model.ttnn, and the cost model in the compile report",
}


# --- tt-torch's environment variables ------------------------------------------------------------
# option -> (variable, parse): the variable, when set, gives the option's default.
_ENV_OPTIONS: dict[str, tuple[env.EnvVar, Callable[[str], Any]]] = {
    "compile_depth": (
        env.COMPILE_DEPTH,
        lambda v: to_enum(CompileDepth, v.strip(), env.COMPILE_DEPTH.name, CompileDepth.EXECUTE),
    ),
    "enable_consteval": (env.CONSTEVAL, lambda v: env.parse_flag(env.CONSTEVAL, v)),
    "consteval_parameters": (env.CONSTEVAL_PARAMETERS, lambda v: env.parse_flag(env.CONSTEVAL_PARAMETERS, v)),
    "enable_intermediate_verification": (
        env.VERIFY_INTERMEDIATES,
        lambda v: env.parse_flag(env.VERIFY_INTERMEDIATES, v),
    ),
    "dump_debug": (env.IR_LOG_LEVEL, lambda v: _ir_log_level(v)),
}


def _ir_log_level(value: str) -> bool:
    level = value.strip().upper()
    if level in ("", "DISABLE", "OFF", "0"):
        return False
    if level == "INFO":
        return True  # each stage's IR (Torch FX, StableHLO, TTIR, TTNN) at INFO, logger "tt_torch.dump"
    raise ConfigError(
        f"{env.IR_LOG_LEVEL.name}={value!r}: allowed INFO (each stage's IR) or DISABLE. DEBUG (IR around every "
        "pass) is not supported: python -m tt_torch.compiler.opt runs one pass at a time on a stage's IR "
        f"({env.IR_DUMP_DIR.name}=DIR writes them)"
    )


def _from_env(option: str, default: Any) -> Any:
    variable, parse = _ENV_OPTIONS[option]
    try:
        env.check_environment()
        text = variable.get()
        return parse(text) if text.strip() else default
    except ValueError as e:
        raise ConfigError(str(e)) from None


def _unknown_option(name: str) -> str:
    if name in _TT_TORCH_ONLY:
        return f"CompilerConfig.{name} (a tt-torch option) is not supported: {_TT_TORCH_ONLY[name]}"
    options = ", ".join(sorted(_CHECKS))
    return f"CompilerConfig has no option {name!r}; its options: {options}"
