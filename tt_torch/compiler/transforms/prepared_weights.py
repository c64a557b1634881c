"""Weights enter the program prepared: a weight's own chain of ``to_device``, ``to_layout`` and
``reshape`` (one that only adds or drops size-1 dimensions) is folded into the argument's type.

A parameter, buffer or constant argument (not a user input) read only through such a chain
becomes an argument of the chain's result type: on the device, in its layout and shape. The
runtime places it there when it binds the inputs (a view of the host tensor in the described
shape, accounted in device memory), so each call runs neither the chain nor its
deallocations: bookkeeping ops whose cost is dispatch alone (layout and padding are never
materialised), ~4 ops per weight (to_device, to_layout, a bias's reshape and what frees them).
A reshape that moves elements between dimensions stays in the program, so the runtime can
refuse a host weight whose shape differs from the declared one other than by size-1
dimensions (a transposed weight of the same element count is an error, not a silent view).
A chain that changes the data type (a weight cast to bfloat8_b, say) stops before the cast:
the cast stays in the program, where the device caches the converted weight.

Tensor-parallel functions (``tt.mesh_shape``) are left alone: their weights are sharded there.
"""

from __future__ import annotations

from torch_mlir import ir

from ..dialects.ttnn_layout import decode
from ..ir_helpers import argument_tags, as_operation, element_type, shape_of, update_function_type
from ..target.flatbuffer import MESH_SHAPE_ATTR

_FOLDABLE = ("ttnn.to_device", "ttnn.to_layout", "ttnn.reshape")


def _next(value: ir.Value):
    """The one op that reads ``value``, when it is a foldable step that keeps the data type."""
    users = [as_operation(use.owner) for use in value.uses]
    if len(users) != 1 or not isinstance(users[0], ir.Operation):
        return None
    op = users[0]
    if op.name not in _FOLDABLE or len(op.results) != 1 or op.operands[0] != value:
        return None
    on_device = decode(value.type) is not None
    if (op.name == "ttnn.to_device") == on_device:  # to_device from the host, the others on the device
        return None
    out = op.results[0]
    if element_type(out.type) != element_type(value.type):
        return None
    if op.name == "ttnn.reshape" and _without_ones(shape_of(out)) != _without_ones(shape_of(value)):
        return None
    before, after = decode(value.type), decode(out.type)
    if before is not None and after is not None and before.data_format != after.data_format:
        return None
    return op


def _without_ones(shape: list[int]) -> list[int]:
    return [d for d in shape if d != 1]


def prepare_weights(module: ir.Module) -> int:
    """Returns how many ops were folded into weight arguments."""
    folded = 0
    with module.context:
        for func_op in list(module.body.operations):
            if func_op.operation.name != "func.func" or MESH_SHAPE_ATTR in func_op.attributes:
                continue
            if not func_op.regions[0].blocks:
                continue
            block = func_op.regions[0].blocks[0]
            changed = False
            for i, arg in enumerate(block.arguments):
                if argument_tags(func_op, i)[0] == "input":
                    continue
                chain, value = [], arg
                while (op := _next(value)) is not None:
                    chain.append(op)
                    value = op.results[0]
                if not chain or decode(value.type) is None:
                    continue
                arg.set_type(value.type)
                value.replace_all_uses_with(arg)
                for op in reversed(chain):
                    op.erase()
                folded += len(chain)
                changed = True
            if changed:
                update_function_type(func_op, block)
    return folded
