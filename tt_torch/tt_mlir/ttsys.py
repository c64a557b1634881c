"""tt-mlir system descriptors (``.ttsys``) for tt-torch's targets, written by our own schema code.

The layout is tt-mlir's ``system_desc.fbs`` / ``types.fbs`` as the pinned plugin reads it:
a size-prefixed flatbuffer, identifier ``TTSY``, root ``SystemDescRoot``. Chip facts come from
tt-torch's target descriptions (``tt_torch.compiler.target.system_desc``); values that only
tt-mlir needs (reserved address ranges, DRAM bank to worker maps, ...) are in ``_TT_MLIR_CHIP``.
Field slots are listed below in schema order; a field's slot is its position in the table.
"""

from __future__ import annotations

from dataclasses import dataclass

import flatbuffers
from flatbuffers import encode, number_types, table

from tt_torch.compiler.target import system_desc as sd

from .plugin import SYSTEM_DESC_SCHEMA_HASH

FILE_IDENTIFIER = b"TTSY"

# enum Arch : uint (the plugin's: Wormhole_b0 = 0, Blackhole = 1)
ARCH = {"wormhole_b0": 0, "blackhole": 1}
# enum DataType : uint16, in schema order; the plugin's devices support the first 13.
DATA_TYPES = ("f32", "f16", "bf16", "bfp_f8", "bfp_bf8", "bfp_f4", "bfp_bf4", "bfp_f2", "bfp_bf2", "u32", "u16", "u8")
DATA_TYPES += ("si32",)
TILE_SIZES = ((4, 16), (16, 16), (32, 16), (4, 32), (16, 32), (32, 32))

# table ChipDesc, field slots
CHIP_FIELDS = (
    "arch",  # Arch (uint32)
    "grid_size",  # Dim2d {y, x: int32}
    "coord_translation_offsets",  # Dim2d
    "l1_size",  # uint64
    "num_dram_channels",  # uint32
    "dram_channel_size",  # uint64
    "noc_l1_address_align_bytes",  # uint32
    "pcie_address_align_bytes",  # uint32
    "noc_dram_address_align_bytes",  # uint32
    "l1_unreserved_base",  # uint32
    "erisc_l1_unreserved_base",  # uint32
    "dram_unreserved_base",  # uint32
    "dram_unreserved_end",  # uint32
    "supported_data_types",  # [DataType]
    "supported_tile_sizes",  # [Dim2d]
    "dst_physical_size_tiles",  # uint32
    "num_cbs",  # uint32
    "num_compute_threads",  # uint32
    "num_datamovement_threads",  # uint32
    "dram_grid",  # Dim2d
    "dram_bank_to_logical_worker_noc0",  # [Dim2d]
    "dram_bank_to_logical_worker_noc1",  # [Dim2d]
)
_SLOT = {name: i for i, name in enumerate(CHIP_FIELDS)}
# table SystemDesc: cpu_descs, chip_descs, chip_desc_indices, chip_capabilities, chip_coords, chip_channels
# table SystemDescRoot: version (struct Version {u16 major, u16 minor, u32 release}), schema_hash,
#                       ttmlir_git_hash, product_identifier, system_desc
# table CPUDesc: role (uint8: Host = 0), target_triple


@dataclass(frozen=True)
class TTMlirChip:
    """What tt-mlir needs of a chip beyond tt-torch's ChipDesc (values of tt-mlir's mock descriptors)."""

    l1_unreserved_base: int
    erisc_l1_unreserved_base: int
    dram_unreserved_base: int
    dram_unreserved_end: int
    dram_grid: tuple[int, int]
    dram_bank_to_logical_worker: tuple[tuple[int, int], ...]
    noc_l1_address_align_bytes: int = 16
    pcie_address_align_bytes: int = 32
    noc_dram_address_align_bytes: int = 32
    dst_physical_size_tiles: int = 16
    num_cbs: int = 64


_WORMHOLE_BANKS = ((7, 3), (0, 0), (3, 0), (4, 0), (0, 4), (7, 7), (1, 4), (6, 4), (5, 4), (2, 6), (3, 4), (4, 4))
_BLACKHOLE_BANKS = ((0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (0, 6), (0, 7))
_TT_MLIR_CHIP = {
    "wormhole_b0": TTMlirChip(103712, 98304, 1920032, 1073119552, (1, 12), _WORMHOLE_BANKS),
    "blackhole": TTMlirChip(
        103712, 98304, 1920032, 4 * 1073741824 - 622592, (1, 8), _BLACKHOLE_BANKS, 16, 64, 64, 16, 64
    ),
}


def _dim2d_vector(b: flatbuffers.Builder, items) -> int:
    b.StartVector(8, len(items), 4)
    for y, x in reversed(items):
        b.Prep(4, 8)
        b.PrependInt32(x)
        b.PrependInt32(y)
    return b.EndVector()


def _struct_dim2d(b: flatbuffers.Builder, slot: int, yx: tuple[int, int]) -> None:
    b.Prep(4, 8)
    b.PrependInt32(yx[1])
    b.PrependInt32(yx[0])
    b.Slot(slot)


def _offsets_vector(b: flatbuffers.Builder, offsets: list[int]) -> int:
    b.StartVector(4, len(offsets), 4)
    for o in reversed(offsets):
        b.PrependUOffsetTRelative(o)
    return b.EndVector()


def _uint32_vector(b: flatbuffers.Builder, values: list[int]) -> int:
    b.StartVector(4, len(values), 4)
    for v in reversed(values):
        b.PrependUint32(v)
    return b.EndVector()


def _chip(b: flatbuffers.Builder, chip: sd.ChipDesc) -> int:
    extra = _TT_MLIR_CHIP[chip.arch]
    banks = _dim2d_vector(b, extra.dram_bank_to_logical_worker)
    banks1 = _dim2d_vector(b, extra.dram_bank_to_logical_worker)
    tiles = _dim2d_vector(b, TILE_SIZES)
    b.StartVector(2, len(DATA_TYPES), 2)
    for i in reversed(range(len(DATA_TYPES))):
        b.PrependUint16(i)
    dtypes = b.EndVector()
    b.StartObject(len(CHIP_FIELDS))
    u32 = {
        "num_dram_channels": chip.num_dram_channels,
        "noc_l1_address_align_bytes": extra.noc_l1_address_align_bytes,
        "pcie_address_align_bytes": extra.pcie_address_align_bytes,
        "noc_dram_address_align_bytes": extra.noc_dram_address_align_bytes,
        "l1_unreserved_base": extra.l1_unreserved_base,
        "erisc_l1_unreserved_base": extra.erisc_l1_unreserved_base,
        "dram_unreserved_base": extra.dram_unreserved_base,
        "dram_unreserved_end": extra.dram_unreserved_end,
        "dst_physical_size_tiles": extra.dst_physical_size_tiles,
        "num_cbs": extra.num_cbs,
        "num_compute_threads": 1,
        "num_datamovement_threads": 1,
    }
    b.PrependUint32Slot(_SLOT["arch"], ARCH[chip.arch], 0)
    _struct_dim2d(b, _SLOT["grid_size"], chip.grid)
    _struct_dim2d(b, _SLOT["coord_translation_offsets"], (0, 0))
    b.PrependUint64Slot(_SLOT["l1_size"], chip.l1_size, 0)
    b.PrependUint64Slot(_SLOT["dram_channel_size"], chip.dram_channel_size, 0)
    for name, value in u32.items():
        b.PrependUint32Slot(_SLOT[name], value, 0)
    b.PrependUOffsetTRelativeSlot(_SLOT["supported_data_types"], dtypes, 0)
    b.PrependUOffsetTRelativeSlot(_SLOT["supported_tile_sizes"], tiles, 0)
    _struct_dim2d(b, _SLOT["dram_grid"], extra.dram_grid)
    b.PrependUOffsetTRelativeSlot(_SLOT["dram_bank_to_logical_worker_noc0"], banks, 0)
    b.PrependUOffsetTRelativeSlot(_SLOT["dram_bank_to_logical_worker_noc1"], banks1, 0)
    return b.EndObject()


def build(target: str = "n150", schema_hash: str = SYSTEM_DESC_SCHEMA_HASH) -> bytes:
    """The ``.ttsys`` bytes of one of tt-torch's targets (n150, n300, p150)."""
    system = sd.get(target)
    b = flatbuffers.Builder(2048)
    b.ForceDefaults(True)  # every field present, zeros included: the plugin reads some without defaults
    chip = _chip(b, system.chip)
    triple = b.CreateString("x86_64-pc-linux")
    b.StartObject(2)
    b.PrependUint8Slot(0, 0, 0)
    b.PrependUOffsetTRelativeSlot(1, triple, 0)
    cpu = b.EndObject()
    cpus = _offsets_vector(b, [cpu])
    chips = _offsets_vector(b, [chip] * system.num_chips)
    n = system.num_chips
    indices = _uint32_vector(b, list(range(n)))
    capabilities = _uint32_vector(b, [1] + [0] * (n - 1))  # chip 0 is the host-MMIO one
    b.StartVector(16, n, 4)
    for i in reversed(range(n)):
        b.Prep(4, 16)
        b.PrependUint32(i)  # x
        b.PrependUint32(0)  # y
        b.PrependUint32(0)  # shelf
        b.PrependUint32(0)  # rack
    coords = b.EndVector()
    links = [(i, i + 1) for i in range(n - 1)]  # one ethernet link between neighbouring chips
    b.StartVector(24, len(links), 4)
    for d0, d1 in reversed(links):
        b.Prep(4, 24)
        b.PrependInt32(0)  # ethernet_core_coord1.x
        b.PrependInt32(6)  # ethernet_core_coord1.y
        b.PrependUint32(d1)
        b.PrependInt32(9)  # ethernet_core_coord0.x
        b.PrependInt32(0)  # ethernet_core_coord0.y
        b.PrependUint32(d0)
    channels = b.EndVector()
    b.StartObject(6)
    for slot, vec in enumerate((cpus, chips, indices, capabilities, coords, channels)):
        b.PrependUOffsetTRelativeSlot(slot, vec, 0)
    system_desc = b.EndObject()
    hash_s = b.CreateString(schema_hash)
    git = b.CreateString("unknown")
    product = b.CreateString(f"tt-torch-{target}")
    b.StartObject(5)
    b.Prep(4, 8)
    b.PrependUint32(0)
    b.PrependUint16(0)
    b.PrependUint16(0)
    b.Slot(0)
    b.PrependUOffsetTRelativeSlot(1, hash_s, 0)
    b.PrependUOffsetTRelativeSlot(2, git, 0)
    b.PrependUOffsetTRelativeSlot(3, product, 0)
    b.PrependUOffsetTRelativeSlot(4, system_desc, 0)
    root = b.EndObject()
    b.FinishSizePrefixed(root, FILE_IDENTIFIER)
    return bytes(b.Output())


def read(data: bytes) -> dict:
    """The fields tt-torch writes, read back (for checks and ``tt-torch tt-mlir --show-ttsys``)."""
    if len(data) < 12 or data[8:12] != FILE_IDENTIFIER:
        raise ValueError("not a .ttsys: missing the size prefix and the TTSY identifier")
    root = table.Table(data, 4 + encode.Get(number_types.UOffsetTFlags.packer_type, data, 4))

    def field(t: table.Table, slot: int) -> int:
        return t.Offset(4 + 2 * slot)

    def string(t: table.Table, slot: int) -> str | None:
        o = field(t, slot)
        return t.String(o + t.Pos).decode() if o else None

    def sub(t: table.Table, slot: int) -> table.Table:
        return table.Table(t.Bytes, t.Indirect(field(t, slot) + t.Pos))

    def scalar(t: table.Table, slot: int, flags) -> int:
        o = field(t, slot)
        return t.Get(flags, o + t.Pos) if o else 0

    def dim2d(t: table.Table, slot: int) -> tuple[int, int]:
        o = field(t, slot) + t.Pos
        return (t.Get(number_types.Int32Flags, o), t.Get(number_types.Int32Flags, o + 4))

    def dim2d_vec(t: table.Table, slot: int) -> list[tuple[int, int]]:
        o = field(t, slot)
        start, n = t.Vector(o), t.VectorLen(o)
        return [
            (t.Get(number_types.Int32Flags, start + 8 * i), t.Get(number_types.Int32Flags, start + 8 * i + 4))
            for i in range(n)
        ]

    system = sub(root, 4)
    chips_o = field(system, 1)
    chips = []
    for i in range(system.VectorLen(chips_o)):
        chip = table.Table(data, system.Indirect(system.Vector(chips_o) + 4 * i))
        u32 = number_types.Uint32Flags
        chips.append(
            {
                "arch": {v: k for k, v in ARCH.items()}.get(scalar(chip, 0, u32), "?"),
                "grid_size": dim2d(chip, _SLOT["grid_size"]),
                "l1_size": scalar(chip, _SLOT["l1_size"], number_types.Uint64Flags),
                "num_dram_channels": scalar(chip, _SLOT["num_dram_channels"], u32),
                "dram_channel_size": scalar(chip, _SLOT["dram_channel_size"], number_types.Uint64Flags),
                "l1_unreserved_base": scalar(chip, _SLOT["l1_unreserved_base"], u32),
                "dram_grid": dim2d(chip, _SLOT["dram_grid"]),
                "dram_bank_to_logical_worker_noc0": dim2d_vec(chip, _SLOT["dram_bank_to_logical_worker_noc0"]),
            }
        )
    return {
        "schema_hash": string(root, 1),
        "product_identifier": string(root, 3),
        "chip_descs": chips,
        "num_chips": system.VectorLen(field(system, 2)),
    }
