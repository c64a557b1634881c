"""What the compiler is asked (``CompileOptions``) and what it answers (``CompileResult``).

The device options' vocabulary lives here, once: the allowed targets, math
fidelities, weight formats and optimization levels, and their defaults.
``tt_torch.config.CompilerConfig`` (the user's object) validates against these
and ``CompileOptions.from_config`` copies its device fields over.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .target.system_desc import DEFAULT_TARGET, SYSTEMS

TARGETS: tuple[str, ...] = tuple(SYSTEMS)
# tt-mlir's math fidelities -> how many mantissa-bit phases of a product the matrix unit sums
MATH_FIDELITY_PHASES: dict[str, int] = {"lofi": 1, "hifi2": 2, "hifi3": 3, "hifi4": 4}
MATH_FIDELITIES: tuple[str, ...] = tuple(MATH_FIDELITY_PHASES)
DEFAULT_MATH_FIDELITY = "hifi4"
# experimental_weight_dtype: "" keeps the weights' type
WEIGHT_DTYPES: tuple[str, ...] = ("", "bfp_bf8", "bfp_bf4")
OPTIMIZATION_LEVELS: tuple[int, ...] = (0, 1, 2)

__all__ = [
    "DEFAULT_MATH_FIDELITY",
    "DEFAULT_TARGET",
    "MATH_FIDELITIES",
    "MATH_FIDELITY_PHASES",
    "OPTIMIZATION_LEVELS",
    "TARGETS",
    "WEIGHT_DTYPES",
    "CompileOptions",
    "CompileResult",
]


@dataclass
class CompileOptions:
    target: str = DEFAULT_TARGET
    verify_each_pass: bool = False
    # Per function argument: its name and kind ("input", "parameter", "buffer", "constant").
    arg_names: list[str] | None = None
    arg_kinds: list[str] | None = None
    emit_flatbuffer: bool = True
    embed_mlir: bool = True
    # On-disk compile cache; None: $TT_TORCH_CACHE_DIR or ~/.cache/tt_torch ("off" disables it).
    cache_dir: str | None = None
    # Device compile options (tt-xla's names; see CompilerConfig).
    math_fidelity: str = DEFAULT_MATH_FIDELITY
    fp32_dest_acc_en: bool = True
    experimental_weight_dtype: str = ""
    optimization_level: int = 0
    # A result that is an input's own buffer after an in-place update (ttnn.update_cache) is
    # not returned (transforms/in_place.py); the caller must know (the executor's whole graph).
    in_place_results: bool = False

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
