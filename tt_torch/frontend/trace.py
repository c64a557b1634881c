"""dynamo graph -> functional aten graph with static shapes, the user's stack traces kept."""

from __future__ import annotations

import torch
import torch.fx as fx
import torch.fx.traceback as fx_traceback
from torch.fx.experimental.proxy_tensor import make_fx
from torch.utils import _pytree as pytree

from tt_torch import composite

from . import locking, passes
from .decompositions import FUNCTIONALIZED, decomposition_table


def trace_to_aten(gm: fx.GraphModule, args: tuple) -> fx.GraphModule:
    """Traces ``gm`` on ``args`` (real or fake tensors) to decomposed, functional aten ops.

    Functionalized: in-place ops (ResNet's ``out += residual``) become pure
    ones; views stay views (torch-mlir does not lower ``*_copy`` ops). A
    decomposition can still write in place (rms_norm's ``add_``), below
    functionalization; the graph is then traced once more, functionalized.
    """

    def flat_run(*a):
        return pytree.tree_flatten(fx.Interpreter(gm).run(*a))[0]

    with locking.tracing(), fx_traceback.preserve_node_meta(), torch.no_grad():
        traced = make_fx(
            torch.func.functionalize(flat_run, remove="mutations"),
            tracing_mode="fake",
            decomposition_table=decomposition_table(),
            record_stack_traces=True,
        )(*args)
        if passes.has_mutation(traced):
            traced = make_fx(  # through an interpreter, which carries each node's meta over
                torch.func.functionalize(fx.Interpreter(traced).run, remove="mutations"),
                tracing_mode="fake",
                decomposition_table=FUNCTIONALIZED,
                record_stack_traces=True,
            )(*args)
    return composite.name_groups(_name_linears(passes.drop_stride_only_ops(traced)))


_LINEARS = (torch.nn.Linear, torch.nn.functional.linear)


def _name_linears(gm: fx.GraphModule) -> fx.GraphModule:
    """The node that gives a ``nn.Linear`` / ``F.linear`` call its value is named ``linear``
    (``linear_1``, ...), not after its last aten op (``add``): the fused ``ttnn.linear`` carries
    that name as its location."""
    calls: dict[str, list[fx.Node]] = {}
    for node in gm.graph.nodes:
        stack = node.meta.get("source_fn_stack") or []
        if node.op == "call_function" and stack and stack[-1][1] in _LINEARS:
            calls.setdefault(stack[-1][0], []).append(node)
    renamed = False
    for nodes in calls.values():
        members = set(nodes)
        outputs = [n for n in nodes if any(u not in members for u in n.users)]
        if len(outputs) == 1 and not outputs[0].name.startswith("linear"):
            outputs[0]._rename("linear")
            renamed = True
    if renamed:
        gm.recompile()
    return gm
