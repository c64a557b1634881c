"""The composite protocol: how one op the user wrote stays one op through the compiler.

A composite (softmax, GELU, layer norm, scaled-dot-product attention...) is
lowered by torch-mlir or by a decomposition into many ops. It is folded back
into one TTIR op by location, in four steps that all read this module:

1. **Annotation** (FX, while tracing). A decomposition that tt-torch writes itself
   traces its ops under :func:`annotate` (``node.meta["custom"][ANNOTATION] =
   (kind, instance)``); ATen composites that torch-mlir lowers whole need none.
2. **Naming** (FX, after tracing). :func:`name_groups` renames the composite's one
   output node after its kind (``scaled_dot_product_attention_1``) and records that
   name as the group of every node of the composite (``node.meta[GROUP]``).
3. **Location** (import). Every StableHLO op gets ``loc("<name>"("<file>":<line>:0))``
   with ``<name>`` = :func:`location_name` of its FX node: the group's name, or
   the node's own.
4. **Fold** (TTIR, ``compiler/transforms/composites.py``). Ops are grouped by
   :func:`node_of_location`; a group whose :func:`kind_of` names a known composite
   and that holds the whole decomposition becomes one op.

Intermediate verification and op-by-op mode read the same locations back
(:func:`node_of_location`) to find the FX node an op came from.
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager

import torch.fx as fx
import torch.fx.traceback as fx_traceback

# node.meta["custom"] key: (kind, instance) of the traced composite a node belongs to
ANNOTATION = "tt_composite"
# node.meta key: the name of the composite group a node belongs to (its ops' location name)
GROUP = "tt_group"

# the quoted name at the start of a location, with or without its loc( prefix
_LOCATION_NAME = re.compile(r'^(?:loc\()?"((?:[^"\\]|\\.)*)"')
_INSTANCE_SUFFIX = re.compile(r"_\d+$")


def annotate(kind: str, instance: int) -> AbstractContextManager:
    """Tags every node traced inside the ``with`` block as part of composite ``(kind, instance)``."""
    return fx_traceback.annotate({ANNOTATION: (kind, instance)})


def name_groups(gm: fx.GraphModule) -> fx.GraphModule:
    """Names each annotated composite of ``gm`` as a group (step 2 above).

    Its one output node is renamed after the kind and every node of the composite
    takes that name as its group, so all its StableHLO ops share one location;
    intermediate verification compares the folded op with the renamed node. A
    composite with more than one node read outside it (its attention weights too,
    say) is not named: it stays as decomposed ops under their own names.
    """
    groups: dict[tuple, list[fx.Node]] = {}
    for node in gm.graph.nodes:
        key = (node.meta.get("custom") or {}).get(ANNOTATION)
        if key is not None and node.op == "call_function":
            groups.setdefault(tuple(key), []).append(node)
    for (kind, _), nodes in groups.items():
        members = set(nodes)
        outputs = [n for n in nodes if any(u not in members for u in n.users)]
        if len(outputs) != 1:
            continue
        outputs[0]._rename(kind)
        for node in nodes:
            node.meta[GROUP] = outputs[0].name
    if groups:
        gm.recompile()
    return gm


def location_name(node: fx.Node) -> str:
    """The name an FX node's ops carry as their MLIR location: its group's, else its own."""
    return node.meta.get(GROUP, node.name)


def node_of_location(location: object) -> str | None:
    """The FX node (or group) name of an MLIR location, given as an ``ir.Location`` or its text
    (``loc("relu_1"("model.py":40:0))`` or ``"relu_1"("model.py":40:0)`` -> ``relu_1``)."""
    m = _LOCATION_NAME.match(str(location or ""))
    return m.group(1) if m else None


def kind_of(name: str) -> str:
    """The kind of a node or group name: ``gelu_3`` -> ``gelu``."""
    return _INSTANCE_SUFFIX.sub("", name)
