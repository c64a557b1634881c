"""Builds ext-dialect op classes from one-line signatures.

``define(Dialect, "linear", "a b bias?", "transpose_a transpose_b")`` declares
op ``<dialect>.linear`` with operands ``a``, ``b``, an optional ``bias``, two
attributes and one ranked-tensor result. ``name*`` is a variadic operand.
Attributes are untyped (``Any``) so that array attributes fit; every declared
attribute is required, which the verifier checks. ``result=False`` declares no result;
``result="values indices"`` several, named (built with a list of result types).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

from torch_mlir import ir
from torch_mlir.dialects.ext import Operand, Result, attribute
from torch_mlir.dialects.ext import result as result_field

Tensor = ir.RankedTensorType


def define(dialect: type, name: str, operands: str = "", attrs: str = "", result: bool | str = True) -> type:
    ann: dict[str, Any] = {}
    for spec in operands.split():
        if spec.endswith("?"):
            ann[spec[:-1]] = Optional[Operand[Tensor]]  # noqa: UP045 - the form ext matches
        elif spec.endswith("*"):
            ann[spec[:-1]] = Sequence[Operand[Tensor]]
        else:
            ann[spec] = Operand[Tensor]
    for attr in attrs.split():
        ann[attr] = Any
    results = result.split() if isinstance(result, str) else ["result"] if result else []
    for r in results:
        ann[r] = Result[Tensor]
    # Operands are positional; optional operands, attributes and the result
    # are keyword arguments of the builder.
    body: dict[str, Any] = {"__annotations__": ann}
    for spec in operands.split():
        if spec.endswith("?"):
            body[spec[:-1]] = None
    for attr in attrs.split():
        body[attr] = attribute(kw_only=True)
    for r in results:
        body[r] = result_field(kw_only=True)
    cls_name = "".join(p.capitalize() for p in name.split("_")) + "Op"
    return type(cls_name, (dialect.Operation,), body, name=name)


class OpTable(dict):
    """op name -> op class, for one dialect; also how passes look ops up.

    ``specs`` keeps each op's signature so that another dialect can declare
    the same ops (``copy_from``) instead of listing them again.
    """

    def __init__(self):
        super().__init__()
        self.specs: dict[str, tuple[str, str, bool | str]] = {}

    def add(self, dialect: type, name: str, operands: str = "", attrs: str = "", result: bool | str = True) -> type:
        cls = define(dialect, name, operands, attrs, result)
        self[name] = cls
        self.specs[name] = (operands, attrs, result)
        return cls

    def copy_from(self, dialect: type, other: "OpTable", names) -> None:
        for name in names:
            self.add(dialect, name, *other.specs[name])


def load(dialect: type, context: ir.Context) -> None:
    """Registers the dialect in ``context`` once."""
    if not context.is_dialect_loaded(dialect.DIALECT_NAMESPACE):
        with context:
            dialect.load()


def build(
    cls: type, operands: list, attributes: dict[str, ir.Attribute], result: ir.Type | list | None, loc: ir.Location
):
    """Creates an op of ``cls`` from operands in field order (``result``: its result type, a
    list of them for an op of several results, or None).

    ext's generated builder drops falsy attributes (``false``, empty arrays), so
    ops are created here with every attribute kept. An entry of ``operands`` is a
    Value, a list of Values (variadic) or None (absent optional).
    """
    flat: list[ir.Value] = []
    sizes: list[int] = []
    for v in operands:
        group = [] if v is None else list(v) if isinstance(v, (list, tuple)) else [v]
        flat.extend(group)
        sizes.append(len(group))
    attrs = dict(attributes)
    if cls._ODS_OPERAND_SEGMENTS is not None:
        attrs["operandSegmentSizes"] = ir.DenseI32ArrayAttr.get(sizes)
    op = ir.Operation.create(
        cls.OPERATION_NAME,
        results=list(result) if isinstance(result, (list, tuple)) else [result] if result is not None else [],
        operands=flat,
        attributes=attrs,
        loc=loc,
    )
    return op.opview


def operand_fields(cls: type) -> list[str]:
    from torch_mlir.dialects.ext import OperandDef

    return [f.name for f in cls._fields if isinstance(f, OperandDef)]
