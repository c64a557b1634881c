"""TTNN tensor encodings: building ``#ttnn.layout`` types and reading them back.

A device tensor's type carries ``#ttnn.layout<layout, buffer, memory_layout,
data_format>``; a host tensor's type has no encoding. Every pass that asks where
a tensor lives or in which format reads it through :func:`decode`.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch_mlir import ir

from . import ttnn


@dataclass(frozen=True)
class Layout:
    layout: str  # "tile" | "row_major"
    buffer: str  # "dram" | "l1"
    memory_layout: str  # "interleaved"
    data_format: str  # "" (the element type itself) or a block-float format, e.g. "bfp_bf8"


def layout_attr(layout: str, buffer: str = "dram", data_format: str = "") -> ir.Attribute:
    return ttnn.LayoutAttr.get(
        ir.StringAttr.get(layout),
        ir.StringAttr.get(buffer),
        ir.StringAttr.get("interleaved"),
        ir.StringAttr.get(data_format),
    )


def device_type(t: ir.Type, layout: str = "tile", buffer: str = "dram", data_format: str = "") -> ir.Type:
    """`t`'s shape and element type as a device tensor."""
    rt = ir.RankedTensorType(t)
    return ir.RankedTensorType.get(list(rt.shape), rt.element_type, layout_attr(layout, buffer, data_format))


def host_type(t: ir.Type) -> ir.Type:
    rt = ir.RankedTensorType(t)
    return ir.RankedTensorType.get(list(rt.shape), rt.element_type)


def decode(t: ir.Type) -> Layout | None:
    """The encoding of a device tensor type; None for a host tensor."""
    enc = ir.RankedTensorType(t).encoding
    if enc is None:
        return None
    a = ttnn.LayoutAttr(enc)
    return Layout(*(ir.StringAttr(f).value for f in (a.layout, a.buffer, a.memory_layout, a.data_format)))


def is_device(value: ir.Value) -> bool:
    t = value.type
    return isinstance(t, ir.RankedTensorType) and t.encoding is not None
