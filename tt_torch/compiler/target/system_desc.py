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
class LinkDesc:
    """The ethernet ports between two neighbouring chips of a mesh (both directions at once).

    ``chips`` are chip ids (row-major positions in the mesh); ``port_gbps`` is one port's
    rate in each direction; ``latency_us`` is the time a message takes over one hop before
    its bytes start to count (docs/device.md says which figures are published and which
    are defaults)."""

    chips: tuple[int, int]
    num_ports: int
    port_gbps: float
    latency_us: float

    @property
    def bandwidth_gbps(self) -> float:
        """All ports together, one direction (Gbit/s)."""
        return self.num_ports * self.port_gbps

    def transfer_us(self, num_bytes: int) -> float:
        """Time to move ``num_bytes`` over this link: latency plus bytes at the link's rate."""
        return self.latency_us + num_bytes * 8 / (self.bandwidth_gbps * 1e3)


@dataclass(frozen=True)
class SystemDesc:
    name: str
    chip: ChipDesc
    num_chips: int
    mesh_shape: tuple[int, int]
    tile_shape: tuple[int, int] = (32, 32)
    # Ethernet links between neighbouring chips (empty for one chip). Routing is
    # dimension-ordered over the mesh (no wrap-around), so a copy between chips k hops
    # apart crosses k links.
    links: tuple[LinkDesc, ...] = ()

    def coords(self, chip: int) -> tuple[int, int]:
        """Mesh coordinates (row, col) of chip id ``chip`` (row-major)."""
        if not 0 <= chip < self.num_chips:
            raise ValueError(f"chip {chip} is not in {self.name}, whose chips are 0..{self.num_chips - 1}")
        return divmod(chip, self.mesh_shape[1])

    def chip_id(self, coords: tuple[int, int]) -> int:
        row, col = coords
        rows, cols = self.mesh_shape
        if not (0 <= row < rows and 0 <= col < cols):
            raise ValueError(f"coordinates {list(coords)} are outside the {rows}x{cols} mesh of {self.name}")
        return row * cols + col

    def link(self, a: int, b: int) -> LinkDesc | None:
        """The link between neighbouring chips ``a`` and ``b``, or None."""
        pair = (min(a, b), max(a, b))
        return next((link for link in self.links if link.chips == pair), None)

    def route(self, a: int, b: int) -> list[LinkDesc]:
        """The links a copy from chip ``a`` to chip ``b`` crosses: along the row first, then the column."""
        (r, c), (r1, c1) = self.coords(a), self.coords(b)
        path = []
        while (r, c) != (r1, c1):
            here = self.chip_id((r, c))
            if c != c1:
                c += 1 if c1 > c else -1
            else:
                r += 1 if r1 > r else -1
            link = self.link(here, self.chip_id((r, c)))
            if link is None:
                raise ValueError(f"{self.name} has no link between chips {here} and {self.chip_id((r, c))}")
            path.append(link)
        return path

    def transfer_us(self, num_bytes: int, a: int, b: int) -> float:
        """Time of a device-to-device copy of ``num_bytes`` from chip ``a`` to ``b``: every hop's
        latency, and the bytes at the slowest link's rate (store-and-forward is not modelled:
        the hops stream)."""
        path = self.route(a, b)
        if not path:
            return 0.0
        slowest = min(link.bandwidth_gbps for link in path)
        return sum(link.latency_us for link in path) + num_bytes * 8 / (slowest * 1e3)


def mesh_links(
    mesh_shape: tuple[int, int], num_ports: int, port_gbps: float, latency_us: float
) -> tuple[LinkDesc, ...]:
    """A link between each pair of neighbouring chips of a ``rows x cols`` mesh (no wrap-around)."""
    rows, cols = mesh_shape
    links = []
    for r in range(rows):
        for c in range(cols):
            here = r * cols + c
            if c + 1 < cols:
                links.append(LinkDesc((here, here + 1), num_ports, port_gbps, latency_us))
            if r + 1 < rows:
                links.append(LinkDesc((here, here + cols), num_ports, port_gbps, latency_us))
    return tuple(links)


# n150: 72 cores, 262 TFLOPS FP8; n300: 64 cores per chip, 466 / 2 per chip; p150: 140
# cores, no FP8 figure: 2 x 774 BLOCKFP8 (HiFi2), see cost_model.py.
_N150 = ChipDesc("wormhole_b0", (8, 8), 1_499_136, 12, 1 << 30, 288.0, 1000, 72, 262.0)
_N300 = ChipDesc("wormhole_b0", (8, 8), 1_499_136, 12, 1 << 30, 288.0, 1000, 64, 233.0)
_BLACKHOLE = ChipDesc("blackhole", (10, 13), 1_572_864, 8, 4 << 30, 512.0, 1350, 140, 1548.0)

# Ethernet (docs/device.md has the sources). Wormhole: 16 ethernet cores per chip, 100 Gb/s
# each way per port; an n300 joins its two chips with 2 ports, and boards of a T3K / Galaxy
# mesh join neighbours with 2 (T3K) or 4 (Galaxy) ports. Blackhole: 12 ports of 400 Gb/s per
# chip; neighbouring p150 cards joined by 2 ports (one QSFP-DD 800G cable). The one-hop
# latency is a default (not published as one figure): 1 us.
_WH_PORT_GBPS, _BH_PORT_GBPS, _HOP_LATENCY_US = 100.0, 400.0, 1.0


def _mesh(name: str, chip: ChipDesc, shape: tuple[int, int], ports: int, port_gbps: float) -> SystemDesc:
    return SystemDesc(
        name, chip, shape[0] * shape[1], shape, links=mesh_links(shape, ports, port_gbps, _HOP_LATENCY_US)
    )


DEFAULT_TARGET = "n150"
SYSTEMS: dict[str, SystemDesc] = {
    "n150": SystemDesc("n150", _N150, 1, (1, 1)),
    "n300": _mesh("n300", _N300, (1, 2), 2, _WH_PORT_GBPS),
    "t3k": _mesh("t3k", _N300, (2, 4), 2, _WH_PORT_GBPS),
    "galaxy": _mesh("galaxy", _N300, (4, 8), 4, _WH_PORT_GBPS),
    "p150": SystemDesc("p150", _BLACKHOLE, 1, (1, 1)),
    "p150x4": _mesh("p150x4", _BLACKHOLE, (2, 2), 2, _BH_PORT_GBPS),
    "p150x8": _mesh("p150x8", _BLACKHOLE, (2, 4), 2, _BH_PORT_GBPS),
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
            links=tuple(
                LinkDesc(
                    tuple(link["chips"]), int(link["num_ports"]), float(link["port_gbps"]), float(link["latency_us"])
                )
                for link in data.get("links", ())
            ),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"target description {path} is malformed: {e!r}") from None
    if chip.arch not in ("wormhole_b0", "blackhole"):
        raise ValueError(f"target description {path}: arch {chip.arch!r} is not wormhole_b0 or blackhole")
    if desc.num_chips != desc.mesh_shape[0] * desc.mesh_shape[1]:
        raise ValueError(f"target description {path}: num_chips {desc.num_chips} is not the mesh's {desc.mesh_shape}")
    for link in desc.links:
        if not all(0 <= c < desc.num_chips for c in link.chips) or link.num_ports <= 0 or link.port_gbps <= 0:
            raise ValueError(f"target description {path}: link {link} joins chips outside the mesh or has no bandwidth")
    for field_name in ("l1_size", "num_dram_channels", "dram_channel_size", "clock_mhz", "num_cores"):
        if getattr(chip, field_name) <= 0:
            raise ValueError(f"target description {path}: chip.{field_name} must be positive")
    return desc
