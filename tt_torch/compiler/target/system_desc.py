"""Descriptions of the emulated devices (see shared design TT_HARDWARE.md for sources)."""

from __future__ import annotations

from dataclasses import dataclass


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

SYSTEMS: dict[str, SystemDesc] = {
    "n150": SystemDesc("n150", _N150, 1, (1, 1)),
    "n300": SystemDesc("n300", _N300, 2, (1, 2)),
    "p150": SystemDesc("p150", _BLACKHOLE, 1, (1, 1)),
}


def get(name: str) -> SystemDesc:
    try:
        return SYSTEMS[name]
    except KeyError:
        raise ValueError(f"unknown target {name!r}; known targets: {', '.join(SYSTEMS)}") from None
