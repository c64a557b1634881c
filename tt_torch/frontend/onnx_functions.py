"""ONNX nodes replaced by their op's function body.

Many ONNX ops are defined, in their schema, by a function of other ops (RMSNormalization,
Attention, the losses, AffineGrid, Range, CenterCropPad, ...): a fixed ``FunctionProto``
(``schema.has_function``) or one built for the node's attributes and input types
(``schema.has_context_dependent_function``). torch-mlir converts some of these ops
itself, and often fails where the same computation written out as the body's ops
lowers (their axes and shapes then fold to constants before import). The importer
(:func:`tt_torch.frontend.onnx_importer.import_stablehlo`) asks torch-mlir first and
calls :func:`expand` only on the nodes it could not convert or lower.

The body is inlined by onnx's own inliner (fresh value names, attribute references
bound, nested graphs included): each chosen node becomes a call of a model-local copy
of its body, with the schema's attribute defaults made explicit (a body's attribute
reference that the node leaves unset would otherwise fall back to the inner op's
default, not the outer op's). Inner nodes are named ``"<OpType>:<node>/<inner>"`` so an
error still names the ONNX node they came from.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import onnx
import onnx.inliner
from onnx import helper

_LOG = logging.getLogger(__name__)

# the domain the bodies are declared in while they are inlined; gone from the model afterwards
_DOMAIN = "tt_torch.expanded"


@dataclass(frozen=True)
class Expansion:
    """One node replaced by its function body."""

    node: str  # the node's name
    op_type: str
    opset: int
    inner: int  # the number of nodes of the body


def _opset(model: onnx.ModelProto, domain: str) -> int:
    for imp in model.opset_import:
        if (imp.domain or "") in ((domain or ""), "ai.onnx" if not domain else domain):
            return imp.version
    return 0


def schema_of(node: onnx.NodeProto, version: int) -> onnx.defs.OpSchema | None:
    """The schema ``node`` runs under at opset ``version`` of its domain, or None."""
    try:
        return onnx.defs.get_schema(node.op_type, max_inclusive_version=version, domain=node.domain or "")
    except onnx.defs.SchemaError:
        return None


def has_function(node: onnx.NodeProto, model: onnx.ModelProto) -> bool:
    """Whether the node's op at the model's opset is defined by a function body."""
    version = _opset(model, node.domain)
    schema = schema_of(node, version)
    if schema is None:
        return False
    versions = [*schema.function_opset_versions, *schema.context_dependent_function_opset_versions]
    return any(v <= version for v in versions)


def value_types(graph: onnx.GraphProto) -> dict[str, onnx.TypeProto]:
    """The type of every value the graph declares (inputs, value_info, outputs, initializers)."""
    types: dict[str, onnx.TypeProto] = {}
    for t in graph.initializer:
        types[t.name] = helper.make_tensor_type_proto(t.data_type, list(t.dims))
    for v in [*graph.input, *graph.value_info, *graph.output]:
        if v.type.HasField("tensor_type") or v.type.WhichOneof("value"):
            types[v.name] = v.type
    return types


def function_body(
    node: onnx.NodeProto, model: onnx.ModelProto, types: dict[str, onnx.TypeProto]
) -> onnx.FunctionProto | None:
    """The body of ``node``'s op for this node (attributes as given), or None when it has none."""
    version = _opset(model, node.domain)
    schema = schema_of(node, version)
    if schema is None:
        return None
    data = b""
    if any(v <= version for v in schema.function_opset_versions):
        data = schema.get_function_with_opset_version(version)
    if not data and any(v <= version for v in schema.context_dependent_function_opset_versions):
        inputs = [(types.get(i) or onnx.TypeProto()).SerializeToString() if i else b"" for i in node.input]
        try:
            data = schema.get_context_dependent_function_with_opset_version(version, node.SerializeToString(), inputs)
        except Exception as e:  # onnx's builders raise plain C++ errors on inputs they cannot type
            _LOG.info("no function body for node '%s' (%s): %s", node.name, node.op_type, e)
            return None
    if not data:
        return None
    body = onnx.FunctionProto()
    body.ParseFromString(data)
    return body


def _with_defaults(node: onnx.NodeProto, schema: onnx.defs.OpSchema) -> None:
    given = {a.name for a in node.attribute}
    for name, attr in schema.attributes.items():
        if name in given or not attr.default_value.name:
            continue
        default = onnx.AttributeProto()
        default.CopyFrom(attr.default_value)
        default.name = name
        node.attribute.append(default)


def expand(
    model: onnx.ModelProto, names: Iterable[str], location: callable = lambda parent, inner: f"{parent}/{inner}"
) -> tuple[onnx.ModelProto, list[Expansion]]:
    """``model`` with each top-level node named in ``names`` (that has a body) replaced by its
    function body; inner nodes are named ``location(parent name, inner name)``. Returns the
    new model and what was expanded."""
    wanted = set(names)
    model_copy = onnx.ModelProto()
    model_copy.CopyFrom(model)
    graph = model_copy.graph
    types = value_types(graph)
    done: list[Expansion] = []
    for k, node in enumerate(graph.node):
        if node.name not in wanted:
            continue
        version = _opset(model_copy, node.domain)
        schema = schema_of(node, version)
        if schema is None:
            continue
        call = onnx.NodeProto()
        call.CopyFrom(node)
        _with_defaults(call, schema)
        body = function_body(call, model_copy, types)
        if body is None:
            continue
        for j, inner in enumerate(body.node):
            inner.name = location(node.name, f"{inner.op_type.lower()}_{j}")
        body.domain, body.name = _DOMAIN, f"{node.op_type}_{k}"
        call.domain, call.op_type = _DOMAIN, body.name
        node.CopyFrom(call)
        model_copy.functions.append(body)
        _merge_opsets(model_copy, body)
        done.append(Expansion(call.name, schema.name, version, len(body.node)))
    if not done:
        return model, []
    model_copy.opset_import.append(helper.make_opsetid(_DOMAIN, 1))
    inlined = onnx.inliner.inline_local_functions(model_copy)
    kept = [imp for imp in inlined.opset_import if imp.domain != _DOMAIN]
    del inlined.opset_import[:]
    inlined.opset_import.extend(kept)
    for e in done:
        _LOG.info(
            "ONNX node '%s' (%s, opset %d) expanded into its function body (%d nodes)",
            e.node,
            e.op_type,
            e.opset,
            e.inner,
        )
    return inlined, done


def _merge_opsets(model: onnx.ModelProto, body: onnx.FunctionProto) -> None:
    """The body's opset imports added to the model's (a domain the model does not import yet)."""
    have = {imp.domain if imp.domain != "ai.onnx" else "" for imp in model.opset_import}
    for imp in body.opset_import:
        domain = imp.domain if imp.domain != "ai.onnx" else ""
        if domain not in have:
            model.opset_import.append(helper.make_opsetid(domain, imp.version))
            have.add(domain)


__all__ = ["Expansion", "expand", "function_body", "has_function", "schema_of", "value_types"]
