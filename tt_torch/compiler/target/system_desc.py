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


@dataclass(frozen=True)
class SystemDesc:
    name: str
    chip: ChipDesc
    num_chips: int
    mesh_shape: tuple[int, int]
    tile_shape: tuple[int, int] = (32, 32)


_WORMHOLE = ChipDesc("wormhole_b0", (8, 8), 1_499_136, 12, 1 << 30, 288.0, 1000)
_BLACKHOLE = ChipDesc("blackhole", (10, 13), 1_572_864, 8, 4 << 30, 512.0, 1350)

SYSTEMS: dict[str, SystemDesc] = {
    "n150": SystemDesc("n150", _WORMHOLE, 1, (1, 1)),
    "n300": SystemDesc("n300", _WORMHOLE, 2, (1, 2)),
    "p150": SystemDesc("p150", _BLACKHOLE, 1, (1, 1)),
}


def get(name: str) -> SystemDesc:
    try:
        return SYSTEMS[name]
    except KeyError:
        raise ValueError(f"unknown target {name!r}; known targets: {', '.join(SYSTEMS)}") from None
