"""Element types of the device, and the narrowing StableHLO types go through.

As in tt-mlir: i64 is stored as si32, f64 as f32, i1 as bf16. Every narrowing
is counted in the compile report; a constant that does not fit is an error.
"""

from __future__ import annotations

from torch_mlir import ir

from ...report import Report


def narrow_element(t: ir.Type) -> ir.Type:
    s = str(t)
    if s in ("i64", "ui64", "si64"):
        return ir.IntegerType.get_signless(32)
    if s == "f64":
        return ir.F32Type.get()
    if s == "i1":
        return ir.BF16Type.get()
    return t


def make_type_converter(report: Report):
    def convert(t: ir.Type, what: str) -> ir.Type:
        if not isinstance(t, ir.RankedTensorType):
            return t
        rt = ir.RankedTensorType(t)
        new = narrow_element(rt.element_type)
        if new == rt.element_type:
            return t
        report.narrowed(rt.element_type, new, what)
        return ir.RankedTensorType.get(list(rt.shape), new, rt.encoding)

    return convert
