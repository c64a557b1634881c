"""Environment variables tt-torch reads, all declared and parsed here.

Library code never calls ``os.environ`` itself; it asks this module.
"""

from __future__ import annotations

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

ALL = (VERIFY_PASSES, IR_DUMP_DIR, CACHE_DIR, CACHE_SIZE, NUMERICS, SYSTEM, LOG_LEVEL, PROGRESS)


def describe() -> str:
    """One line per variable, for ``--help`` texts and docs."""
    return "\n".join(f"{v.name}: {v.help}" for v in ALL)
