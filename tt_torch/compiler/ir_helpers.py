"""Small helpers over MLIR modules, ops, values and attributes that every pass shares."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from torch_mlir import ir

from tt_torch.errors import CompileError


def attr(value: Any) -> ir.Attribute:
    """Python value -> MLIR attribute (bool, int, float, str, list of ints)."""
    if isinstance(value, ir.Attribute):
        return value
    if isinstance(value, bool):
        return ir.BoolAttr.get(value)
    if isinstance(value, int):
        return ir.IntegerAttr.get(ir.IntegerType.get_signless(64), value)
    if isinstance(value, float):
        return ir.FloatAttr.get(ir.F64Type.get(), value)
    if isinstance(value, str):
        return ir.StringAttr.get(value)
    if isinstance(value, (list, tuple)):
        return ir.DenseI64ArrayAttr.get([int(v) for v in value])
    raise TypeError(f"no attribute for {value!r}")


def shape_of(value: ir.Value) -> list[int]:
    return list(ir.RankedTensorType(value.type).shape)


def element_type(value_or_type) -> ir.Type:
    t = value_or_type.type if isinstance(value_or_type, ir.Value) else value_or_type
    return ir.RankedTensorType(t).element_type


def location_text(loc: ir.Location) -> str:
    return str(loc).removeprefix("loc(").removesuffix(")") if str(loc) != "loc(unknown)" else "unknown location"


def op_text(op: ir.Operation, limit: int = 800) -> str:
    text = op.get_asm(large_elements_limit=8, enable_debug_info=False, use_local_scope=True, assume_verified=True)
    return text if len(text) <= limit else text[:limit] + " ..."


def signature_text(op: ir.Operation, limit: int = 400) -> str:
    """A cheap one-line description (name, attributes, operand and result types) for per-op debug info.

    Printing an op with ``get_asm`` costs about half a millisecond; programs
    have thousands of ops.
    """
    attrs = ", ".join(f"{k} = {str(op.attributes[k])[:60]}" for k in op.attributes if k != "operandSegmentSizes")
    ins = ", ".join(str(v.type) for v in op.operands)
    outs = ", ".join(str(r.type) for r in op.results)
    text = f"{op.name}({ins}) {{{attrs}}} -> ({outs})"
    return text if len(text) <= limit else text[:limit] + " ..."


def update_function_type(func_op, block) -> None:
    ret = block.operations[len(block.operations) - 1]
    inputs = [a.type for a in block.arguments]
    results = [v.type for v in ret.operands]
    func_op.attributes["function_type"] = ir.TypeAttr.get(ir.FunctionType.get(inputs, results))


_VALUE_PRESERVING = (
    "ttir.typecast",
    "ttir.reshape",
    "ttir.repeat",
    "stablehlo.convert",
    "stablehlo.reshape",
    "stablehlo.broadcast_in_dim",
)


def argument_tags(func_op, index: int) -> tuple[str, str | None]:
    """Kind ("input", "parameter", "buffer", "constant") and name of argument `index`, as
    :func:`tag_arguments` wrote them (``tt.argument_type``, ``tt.name``); untagged:
    ("input", None)."""
    if "arg_attrs" not in func_op.attributes:
        return "input", None
    d = ir.DictAttr(ir.ArrayAttr(func_op.attributes["arg_attrs"])[index])
    kind = ir.StringAttr(d["tt.argument_type"]).value if "tt.argument_type" in d else "input"
    name = ir.StringAttr(d["tt.name"]).value if "tt.name" in d else None
    return kind, name


def as_operation(owner) -> ir.Operation | ir.Block:
    """A value's owner or a use's owner as the generic ``ir.Operation`` (op views unwrapped);
    a block argument's owner stays its ``ir.Block``."""
    return getattr(owner, "operation", owner)


def function_ops(func_op, *names: str) -> list[ir.Operation]:
    """The ops of function ``func_op``'s body in program order, as generic ``ir.Operation``s;
    with ``names``, only the ops named one of them. The list is taken whole first, so a caller
    may erase or replace the op it holds and any op before it as it goes."""
    ops = [op.operation for op in func_op.regions[0].blocks[0].operations]
    return [op for op in ops if op.name in names] if names else ops


def ops_named(module: ir.Module, *names: str) -> Iterator[tuple[ir.Operation, ir.Operation]]:
    """Each op named one of ``names`` (every op when none is given) in each function of
    ``module``, with its function: :func:`function_ops` over every function."""
    for func_op in module.body.operations:
        for op in function_ops(func_op, *names):
            yield func_op, op


def splat_value(value: ir.Value) -> float | int | bool | None:
    """The scalar ``value`` holds everywhere when it is a constant (seen through casts and reshapes), else None."""
    while True:
        op = as_operation(value.owner)
        if not isinstance(op, ir.Operation):
            return None
        if op.name in _VALUE_PRESERVING:
            value = op.operands[0]
            continue
        if op.name == "ttir.full":
            return ir.FloatAttr(op.attributes["fill_value"]).value
        if op.name in ("stablehlo.constant", "arith.constant", "ttir.constant"):
            flat = dense_to_numpy(ir.DenseElementsAttr(op.attributes["value"])).reshape(-1)
            if flat.size and np.all(flat == flat[0]):
                return flat[0].item()
        return None


def dense_to_numpy(value: ir.DenseElementsAttr) -> np.ndarray:
    """The elements of a dense attribute as a NumPy array of its shape."""
    t = ir.RankedTensorType(value.type)
    shape = list(t.shape)
    if value.is_splat:
        scalar = value.get_splat_value()
        v = _scalar_value(scalar)
        return np.full(shape, v, dtype=_np_dtype(t.element_type))
    try:
        arr = np.array(value, copy=True)
    except Exception as e:  # noqa: BLE001 - re-raised with context below
        raise CompileError(f"cannot read constant of type {t}: {e}") from e
    return arr.reshape(shape)


def _scalar_value(a: ir.Attribute):
    if isinstance(a, ir.IntegerAttr):
        return ir.IntegerAttr(a).value
    if isinstance(a, ir.FloatAttr):
        return ir.FloatAttr(a).value
    if isinstance(a, ir.BoolAttr):
        return ir.BoolAttr(a).value
    raise CompileError(f"unsupported constant element {a}")


def _np_dtype(t: ir.Type):
    s = str(t)
    return {
        "f32": np.float32,
        "f64": np.float64,
        "f16": np.float16,
        "bf16": np.float32,
        "i1": np.bool_,
        "i8": np.int8,
        "i16": np.int16,
        "i32": np.int32,
        "i64": np.int64,
        "ui8": np.uint8,
        "ui16": np.uint16,
        "ui32": np.uint32,
        "ui64": np.uint64,
    }.get(s, np.float32)


def tag_arguments(module: ir.Module, names: list[str] | None, kinds: list[str] | None) -> None:
    """Marks each function argument as input, parameter or constant, with its name (as tt-mlir does)."""
    if names is None:
        return
    with module.context:
        func_op = module.body.operations[0]
        existing = ir.ArrayAttr(func_op.attributes["arg_attrs"]) if "arg_attrs" in func_op.attributes else []
        dicts = []
        for i, (name, kind) in enumerate(zip(names, kinds or ["input"] * len(names))):
            # attributes already there (a tensor-parallel argument's mhlo.sharding) are kept
            old = ir.DictAttr(existing[i]) if i < len(existing) else None
            d = {old[j].name: old[j].attr for j in range(len(old))} if old is not None else {}
            d.update({"tt.argument_type": ir.StringAttr.get(kind), "tt.name": ir.StringAttr.get(name)})
            dicts.append(ir.DictAttr.get(d))
        func_op.attributes["arg_attrs"] = ir.ArrayAttr.get(dicts)


def module_text(module: ir.Module) -> str:
    """The module's text with locations, large constants elided (what artifacts and reports keep)."""
    return module.operation.get_asm(enable_debug_info=True, large_elements_limit=16)


def count_ops(module: ir.Module) -> dict[str, int]:
    counts: dict[str, int] = {}
    for func_op in module.body.operations:
        for op in func_op.regions[0].blocks[0].operations:
            counts[op.operation.name] = counts.get(op.operation.name, 0) + 1
    return counts
