"""Marks the residual of a fused ``conv2d(x, w, bias, residual)`` that may take the result in
place (the ``residual_in_place`` attribute): the runtime then accumulates the convolution
into the residual's own buffer (oneDNN's sum post-op) instead of writing a fresh output.

The residual's buffer must be dead after the conv2d. Values may share a buffer: the
runtime's views (reshape, permute, a layout or data-type conversion that changes nothing, a
host transfer) return their operand's storage. So the pass follows the residual back through
such ops to the op that made the buffer, which must be one that always writes a fresh tensor
(a conv2d or a pooling), and collects every value that may view that buffer (the results of
every user not known to write a fresh tensor, transitively). The residual qualifies when none
of them is read after the conv2d (a program output is read by ``func.return``, after every
op) and the conv2d does not read the buffer through another operand. A program input never
qualifies: its buffer is the caller's.

Runs on the final program order, before ``ttnn-deallocate``.
"""

from __future__ import annotations

from torch_mlir import ir

from ..ir_helpers import as_operation
from .deallocation import program_order

# ops whose result is always a fresh tensor in the runtime (never a view of an operand)
FRESH = frozenset({"ttnn.conv2d", "ttnn.max_pool2d", "ttnn.avg_pool2d", "ttnn.sum_pool2d"})
# single-operand ops whose result may be a view of their operand in the runtime
VIEWS = frozenset(
    {"ttnn.reshape", "ttnn.permute", "ttnn.to_layout", "ttnn.typecast", "ttnn.to_memory_config", "ttnn.to_device"}
)
ATTRIBUTE = "residual_in_place"


def _producer(value: ir.Value) -> ir.Operation | None:
    owner = as_operation(value.owner)
    return owner if isinstance(owner, ir.Operation) else None  # None: a function argument


def _buffer_root(value: ir.Value) -> ir.Value | None:
    """The fresh tensor whose buffer `value` may view, None if it is not known to be fresh."""
    while True:
        producer = _producer(value)
        if producer is None:
            return None
        if producer.name in FRESH:
            return value
        if producer.name not in VIEWS:
            return None
        value = producer.operands[0]


def _sharing(root: ir.Value) -> list[ir.Value]:
    """`root` and every value that may share its buffer: the results of its users,
    transitively, except those of users that write a fresh tensor (a conv2d marked here
    shares its residual's buffer, though)."""
    values, stack = [], [root]
    while stack:
        value = stack.pop()
        if value in values:
            continue
        values.append(value)
        for use in value.uses:
            user = as_operation(use.owner)
            if user.name in FRESH and not (ATTRIBUTE in user.attributes and user.opview.residual == value):
                continue
            stack.extend(user.results)
    return values


def mark_residuals_in_place(module: ir.Module) -> int:
    """Returns how many conv2d ops were marked."""
    marked = 0
    with module.context:
        for ops, position in program_order(module):
            for op in ops:
                view = op.opview if op.name == "ttnn.conv2d" else None
                if view is None or view.residual is None:
                    continue
                root = _buffer_root(view.residual)
                if root is None:
                    continue
                sharing = _sharing(root)
                if any(v is not None and v in sharing for v in (view.input, view.weight, view.bias)):
                    continue  # the conv would read the buffer it writes
                readers = (as_operation(use.owner) for value in sharing for use in value.uses)
                if any(r != op and r.name != "ttnn.deallocate" and position[r] > position[op] for r in readers):
                    continue
                op.attributes[ATTRIBUTE] = ir.UnitAttr.get()
                marked += 1
    return marked
