"""Element types of the device, and the conversions StableHLO types go through.

As in tt-mlir: i64 is stored as si32, f64 as f32, i1 as bf16; ui64 is stored as ui32. Each
such narrowing is counted in the compile report (``narrowings``), and a value that does
not survive it is an error (constants at compile time, inputs and results at run time),
or wraps as on the hardware with ``CompilerConfig(narrowing="wrap")``.

i8 and i16 have no device type: they are widened to si32, exactly, and counted under
``widenings``. Their values stay in range because every op that could leave it is
followed by a wrap to the declared width (:func:`integers.keep_width`), so results and
outputs are what an 8- or 16-bit machine computes (two's complement wrap-around).
"""

from __future__ import annotations

from torch_mlir import ir

from ...report import Report

_NARROWED = {"i64": "i32", "si64": "i32", "ui64": "ui32", "f64": "f32", "i1": "bf16"}
_WIDENED = {"i8": 8, "si8": 8, "i16": 16, "si16": 16}


def _get(name: str) -> ir.Type:
    if name == "f32":
        return ir.F32Type.get()
    if name == "bf16":
        return ir.BF16Type.get()
    if name == "ui32":
        return ir.IntegerType.get_unsigned(32)
    return ir.IntegerType.get_signless(32)


def narrow_element(t: ir.Type) -> ir.Type:
    """The device's element type for ``t`` (``t`` itself when the device has it)."""
    s = str(t)
    if s in _NARROWED:
        return _get(_NARROWED[s])
    if s in _WIDENED:
        return _get("i32")
    return t


def widened_width(t: ir.Type) -> int | None:
    """8 or 16 for the signed integer types the device holds widened to si32, else None."""
    return _WIDENED.get(str(t))


def make_type_converter(report: Report):
    def convert(t: ir.Type, what: str) -> ir.Type:
        if not isinstance(t, ir.RankedTensorType):
            return t
        rt = ir.RankedTensorType(t)
        new = narrow_element(rt.element_type)
        if new == rt.element_type:
            return t
        if widened_width(rt.element_type):
            report.widened(rt.element_type, new, what)
        else:
            report.narrowed(rt.element_type, new, what)
        return ir.RankedTensorType.get(list(rt.shape), new, rt.encoding)

    return convert
