"""Environment variables tt-torch reads, all declared and parsed here.

Library code never calls ``os.environ`` itself; it asks this module.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class EnvVar:
    name: str
    help: str
    default: str = ""

    def get(self) -> str:
        return os.environ.get(self.name, self.default)

    def flag(self) -> bool:
        return self.get().strip().lower() in {"1", "true", "yes", "on"}


VERIFY_PASSES = EnvVar(
    "TT_TORCH_VERIFY_PASSES",
    "1: verify the MLIR module after every compiler pass (slower; names the pass that broke it).",
)
IR_DUMP_DIR = EnvVar(
    "TT_TORCH_IR_DUMP_DIR",
    "Directory where each compiled graph's StableHLO, TTIR and TTNN text is written.",
)

CACHE_DIR = EnvVar(
    "TT_TORCH_CACHE_DIR",
    "Directory of the on-disk compile cache (default ~/.cache/tt_torch); 'off' disables it.",
)

CACHE_SIZE = EnvVar(
    "TT_TORCH_CACHE_SIZE",
    "Largest total size of the compile cache, e.g. 500MB or 2GB (default 2GB); the least recently used "
    "entries are removed first. `tt-torch cache info|clear` shows or empties it.",
)

NUMERICS = EnvVar(
    "TT_TORCH_NUMERICS",
    "Numerics of devices opened without an explicit mode: 'emulated' (default: the chip's data formats, "
    "SrcA/SrcB registers and math fidelity) or 'fast' (plain fp32 math, for deployment speed).",
    "emulated",
)

SYSTEM = EnvVar(
    "TT_TORCH_SYSTEM",
    "The emulated machine tt_torch.tools.device_manager.DeviceManager hands out chips of: n150, n300 "
    "(default, 2 chips), t3k (8), galaxy (32), p150, p150x4 (4), p150x8 (8). Also settable as "
    "DeviceManager.system while no device is held.",
    "n300",
)

LOG_LEVEL = EnvVar(
    "TT_TORCH_LOG_LEVEL",
    "Level of the 'tt_torch' logger: DEBUG, INFO (one summary line per compiled graph), WARNING (default), "
    "ERROR. tt_torch.logs.set_level() sets it from Python.",
)

PROGRESS = EnvVar(
    "TT_TORCH_PROGRESS",
    "Progress lines on stderr for compiles and exports longer than 2 s: 1 always, 0 never "
    "(default: when stderr is a terminal).",
)

# tt-torch's variables (docs/src/controlling.md upstream): CompilerConfig defaults (tt_torch.config)
COMPILE_DEPTH = EnvVar(
    "TT_TORCH_COMPILE_DEPTH",
    "Default CompilerConfig.compile_depth: TORCH_FX, STABLEHLO, TTNN_IR, COMPILE_OP_BY_OP, EXECUTE_OP_BY_OP "
    "or EXECUTE (default).",
)
CONSTEVAL = EnvVar("TT_TORCH_CONSTEVAL", "Default CompilerConfig.enable_consteval: 0 or 1 (default 1).")
CONSTEVAL_PARAMETERS = EnvVar(
    "TT_TORCH_CONSTEVAL_PARAMETERS", "Default CompilerConfig.consteval_parameters: 0 or 1 (default 1)."
)
VERIFY_INTERMEDIATES = EnvVar(
    "TT_TORCH_VERIFY_INTERMEDIATES",
    "Default CompilerConfig.enable_intermediate_verification: 1 compares every op's output with its CPU value.",
)
VERIFY_OP_BY_OP = EnvVar(
    "TT_TORCH_VERIFY_OP_BY_OP",
    "Accepted as 1: op-by-op mode always compares each op with its CPU golden (0 is refused).",
)
IR_LOG_LEVEL = EnvVar(
    "TT_TORCH_IR_LOG_LEVEL",
    "INFO: log each compiled graph's IR at every stage (FX, StableHLO, TTIR, TTNN; CompilerConfig.dump_debug). "
    "DEBUG (IR around every pass) is refused: see python -m tt_torch.compiler.opt.",
)
INLINE_PARAMETERS = EnvVar(
    "TT_TORCH_INLINE_PARAMETERS",
    "Refused when 1: parameters stay program arguments, never IR constants.",
)

ALL = (VERIFY_PASSES, IR_DUMP_DIR, CACHE_DIR, CACHE_SIZE, NUMERICS, SYSTEM, LOG_LEVEL, PROGRESS,
    COMPILE_DEPTH, CONSTEVAL, CONSTEVAL_PARAMETERS, VERIFY_INTERMEDIATES, VERIFY_OP_BY_OP, IR_LOG_LEVEL,
    INLINE_PARAMETERS,
)  # fmt: skip


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def parse_flag(var: EnvVar, value: str) -> bool:
    """A 0/1 variable's value; anything else is a ValueError naming the variable."""
    text = value.strip().lower()
    if text not in _TRUE | _FALSE:
        raise ValueError(f"{var.name}={value!r} is not a flag: use 1 or 0")
    return text in _TRUE


def check_environment() -> None:
    """Refuses a set variable whose value tt-torch cannot honour, and names every TT_TORCH_*
    variable it does not know (a typo, or another version's) once per process."""
    if INLINE_PARAMETERS.get().strip().lower() in _TRUE:
        raise ValueError(
            f"{INLINE_PARAMETERS.name}=1 is not supported: parameters stay program arguments, never IR constants "
            "(inlined, they are folded into the flatbuffer and every weight change recompiles); unset it"
        )
    if VERIFY_OP_BY_OP.get().strip().lower() in _FALSE:
        raise ValueError(
            f"{VERIFY_OP_BY_OP.name}=0 is not supported: op-by-op mode always compares each op with its CPU "
            "golden; unset it"
        )
    known = {v.name for v in ALL}
    unknown = sorted(k for k in os.environ if k.startswith("TT_TORCH_") and k not in known)
    if unknown and tuple(unknown) not in _REPORTED:
        _REPORTED.add(tuple(unknown))
        logging.getLogger("tt_torch").warning(
            "unknown environment variable(s) %s are ignored; tt-torch reads: %s",
            ", ".join(unknown),
            ", ".join(sorted(known)),
        )


_REPORTED: set[tuple[str, ...]] = set()


def describe() -> str:
    """One line per variable, for ``--help`` texts and docs."""
    return "\n".join(f"{v.name}: {v.help}" for v in ALL)
