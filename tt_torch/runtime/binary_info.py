"""A loaded binary as JSON-ready data: what ``tt-torch read`` prints, one section at a time."""

from __future__ import annotations

from typing import Any

from tt_torch._generated import binary_generated as fb

from .core import translated_errors
from .loaded import export_info

SECTIONS = ("version", "system_desc", "mlir", "inputs", "outputs", "ops")
_ARCH = {v: k for k, v in vars(fb.Arch).items() if not k.startswith("_")}
_DTYPE = {v: k for k, v in vars(fb.DataType).items() if not k.startswith("_")}


def _system_desc(binary) -> dict[str, Any] | None:
    """The embedded system description, read with the generated accessors (the bytes are
    already verified by the C++ loader)."""
    data = bytes(binary_bytes(binary))
    root = fb.Binary.GetRootAs(data, 4)
    desc = root.SystemDesc()
    if desc is None:
        return None
    chips = []
    for i in range(desc.ChipDescsLength()):
        c = desc.ChipDescs(i)
        chips.append(
            {
                "arch": _ARCH.get(c.Arch(), str(c.Arch())),
                "grid_size": [c.GridSize(k) for k in range(c.GridSizeLength())],
                "l1_size": c.L1Size(),
                "num_dram_channels": c.NumDramChannels(),
                "dram_channel_size": c.DramChannelSize(),
                "dram_bandwidth_gbps": c.DramBandwidthGbps(),
                "clock_mhz": c.ClockMhz(),
                "tile_shape": [c.TileShape(k) for k in range(c.TileShapeLength())],
                "supported_data_types": [
                    _DTYPE.get(c.SupportedDataTypes(k), "?") for k in range(c.SupportedDataTypesLength())
                ],
            }
        )
    name = desc.Name()
    return {
        "name": name.decode("utf-8", "replace") if name else None,
        "mesh_shape": [desc.MeshShape(k) for k in range(desc.MeshShapeLength())],
        "chip_descs": chips,
    }


def binary_bytes(binary) -> bytes:
    return binary.raw_bytes()


def binary_json(binary, section: str | None = None) -> dict[str, Any]:
    """Every section of `binary` (or one of SECTIONS) as plain data."""
    with translated_errors():
        return _binary_json(binary, section)


def _binary_json(binary, section: str | None) -> dict[str, Any]:
    programs = range(binary.num_programs)

    def per_program(fn) -> list[dict[str, Any]]:
        return [
            {"index": i, "name": binary.program_name(i), "private": binary.program_is_private(i), section_name: fn(i)}
            for i in programs
        ]

    out: dict[str, Any] = {}
    want = SECTIONS if section is None else (section,)
    for section_name in want:
        if section_name == "version":
            out["version"] = {
                "schema_version": ".".join(map(str, binary.version)),
                "schema_hash": binary.schema_hash,
                "size_bytes": binary.size,
                "programs": [binary.program_name(i) for i in programs],
                "weights": len(binary.weight_names),
                "export_info": export_info(binary) or None,
            }
        elif section_name == "system_desc":
            out["system_desc"] = _system_desc(binary)
        elif section_name == "mlir":
            out["mlir"] = dict(binary.mlir_sources)
        elif section_name == "inputs":
            out["inputs"] = per_program(binary.program_inputs)
        elif section_name == "outputs":
            out["outputs"] = per_program(binary.program_outputs)
        elif section_name == "ops":
            out["ops"] = per_program(binary.program_ops)
        else:
            raise ValueError(f"unknown section {section_name!r}; expected one of {', '.join(SECTIONS)}")
    return out
