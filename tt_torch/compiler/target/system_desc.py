"""Descriptions of the emulated devices (see shared design TT_HARDWARE.md for sources)."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ChipDesc:
    arch: str  # "wormhole_b0" | "blackhole"
    grid: tuple[int, int]
    l1_size: int
    num_dram_channels: int
    dram_channel_size: int
    dram_bandwidth_gbps: float
    clock_mhz: int
    # For the cost model (docs.tenstorrent.com; see cost_model.py): worker cores a program
    # uses, and the matrix unit's peak per math-fidelity phase (the FP8/LoFi figure).
    num_cores: int = 64
    lofi_tflops: float = 0.0

    @property
    def dram_bytes(self) -> int:
        return self.num_dram_channels * self.dram_channel_size

    @property
    def l1_bytes(self) -> int:
        """L1 of the whole worker grid."""
        return self.grid[0] * self.grid[1] * self.l1_size

    @property
    def peak_tflops_lofi(self) -> dict[str, float]:
        """Peak at LoFi per data format: one matrix unit, so the same for every format."""
        return {"bf16": self.lofi_tflops, "bfp_bf8": self.lofi_tflops}


@dataclass(frozen=True)
class SystemDesc:
    name: str
    chip: ChipDesc
    num_chips: int
    mesh_shape: tuple[int, int]
    tile_shape: tuple[int, int] = (32, 32)


# n150: 72 cores, 262 TFLOPS FP8; n300: 64 cores per chip, 466 / 2 per chip; p150: 140
# cores, no FP8 figure: 2 x 774 BLOCKFP8 (HiFi2), see cost_model.py.
_N150 = ChipDesc("wormhole_b0", (8, 8), 1_499_136, 12, 1 << 30, 288.0, 1000, 72, 262.0)
_N300 = ChipDesc("wormhole_b0", (8, 8), 1_499_136, 12, 1 << 30, 288.0, 1000, 64, 233.0)
_BLACKHOLE = ChipDesc("blackhole", (10, 13), 1_572_864, 8, 4 << 30, 512.0, 1350, 140, 1548.0)

DEFAULT_TARGET = "n150"
SYSTEMS: dict[str, SystemDesc] = {
    "n150": SystemDesc("n150", _N150, 1, (1, 1)),
    "n300": SystemDesc("n300", _N300, 2, (1, 2)),
    "p150": SystemDesc("p150", _BLACKHOLE, 1, (1, 1)),
}


def get(name: str) -> SystemDesc:
    """A built-in target by name, or a target saved as a JSON file (see `save`)."""
    if name in SYSTEMS:
        return SYSTEMS[name]
    if name.endswith(".json"):
        return load(name)
    raise ValueError(
        f"unknown target {name!r}; known targets: {', '.join(SYSTEMS)}, or the path of a target saved with "
        "tt_torch.compiler.target.system_desc.save (a .json file)"
    )


def to_dict(desc: SystemDesc) -> dict:
    return dataclasses.asdict(desc)


def save(desc: SystemDesc | str, path: str | os.PathLike) -> Path:
    """Writes a target description (or a built-in one, by name) as JSON: edit it, then
    compile with ``CompilerConfig(target="that.json")``; the binary embeds it."""
    desc = get(desc) if isinstance(desc, str) else desc
    path = Path(path)
    path.write_text(json.dumps(to_dict(desc), indent=2) + "\n")
    return path


def load(path: str | os.PathLike) -> SystemDesc:
    """A target description saved by `save`; a missing, malformed or inconsistent file is a
    ValueError naming the file and the field."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read the target description {path}: {e}") from None
    try:
        chip_fields = {f.name for f in dataclasses.fields(ChipDesc)}
        chip_data = dict(data["chip"])
        unknown = set(chip_data) - chip_fields
        if unknown:
            raise ValueError(f"unknown chip field(s) {sorted(unknown)}")
        chip_data["grid"] = tuple(chip_data["grid"])
        chip = ChipDesc(**chip_data)
        desc = SystemDesc(
            name=str(data["name"]),
            chip=chip,
            num_chips=int(data["num_chips"]),
            mesh_shape=tuple(data["mesh_shape"]),
            tile_shape=tuple(data.get("tile_shape", (32, 32))),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"target description {path} is malformed: {e!r}") from None
    if chip.arch not in ("wormhole_b0", "blackhole"):
        raise ValueError(f"target description {path}: arch {chip.arch!r} is not wormhole_b0 or blackhole")
    for field_name in ("l1_size", "num_dram_channels", "dram_channel_size", "clock_mhz", "num_cores"):
        if getattr(chip, field_name) <= 0:
            raise ValueError(f"target description {path}: chip.{field_name} must be positive")
    return desc
