"""ONNX model -> StableHLO module, through torch-mlir's ONNX importer.

The model is prepared first (:func:`prepare`): loaded with its external data, converted
down to an opset the importer takes, its dynamic input dims bound or refused, shapes
inferred, its nodes named ``"<OpType>:<node name>"`` (every op's MLIR location, so an
error, an op-by-op record or a runtime failure names the ONNX node), and its weights
(floating-point initializers) turned into graph inputs: they enter the StableHLO module
as function arguments tagged ``parameter``, never as constants. Then :func:`import_stablehlo`
runs torch-mlir: ONNX -> torch-onnx ops -> Torch backend IR -> StableHLO. Before import,
nodes :mod:`onnx_rewrites` has rules for (Resize, Pad by a run-time value) become ops that
lower; a node torch-mlir fails on whose op has an ONNX function body is replaced by that
body (:mod:`onnx_functions`) and the import retried. An ONNX node that still fails is an
:class:`OnnxImportError` naming the node, its op type and opset.
"""

from __future__ import annotations

import copy
import logging
import os
import re
from dataclasses import dataclass, field

import numpy as np
import onnx
import torch
import torch_mlir.compiler_utils  # noqa: F401  (registers torch-mlir's passes)
from onnx import numpy_helper
from torch_mlir import ir
from torch_mlir.dialects import torch as torch_d
from torch_mlir.extras import onnx_importer
from torch_mlir.passmanager import PassManager

from tt_torch.errors import FrontendError
from tt_torch.frontend import onnx_functions, onnx_rewrites
from tt_torch.frontend.stablehlo_fixes import logical_unsigned_right_shifts

_LOG = logging.getLogger(__name__)

# The newest default-domain opset tt-torch imports as written; a newer model is converted down
# (onnx.version_converter) first. torch-mlir's conversions are keyed by the version an op's
# semantics were introduced in, and onnx 1.23's newest opset changes no op it converts.
MAX_OPSET = 23
# A floating-point initializer with at least this many elements is a weight: a program input.
# Smaller ones (scales, epsilons, Resize's scales) stay constants the lowering may need to read.
WEIGHT_MIN_ELEMENTS = 16

_ONNX_TO_TORCH = {
    onnx.TensorProto.FLOAT: torch.float32,
    onnx.TensorProto.DOUBLE: torch.float64,
    onnx.TensorProto.FLOAT16: torch.float16,
    onnx.TensorProto.BFLOAT16: torch.bfloat16,
    onnx.TensorProto.INT64: torch.int64,
    onnx.TensorProto.INT32: torch.int32,
    onnx.TensorProto.INT16: torch.int16,
    onnx.TensorProto.INT8: torch.int8,
    onnx.TensorProto.UINT8: torch.uint8,
    onnx.TensorProto.UINT16: torch.uint16,
    onnx.TensorProto.UINT32: torch.uint32,
    onnx.TensorProto.UINT64: torch.uint64,
    onnx.TensorProto.BOOL: torch.bool,
}
# torch-mlir aborts the whole process (getScalarTypeForType: "Unhandled type ... ui16") when it
# needs one of these as a torch dtype number: QuantizeLinear / DequantizeLinear to or from them
# (measured over onnx's node test cases; the elementwise, bitwise, comparison, reduction and
# data-movement ops on them import fine, and Cast to them is refused with an error).
_ABORTING_TYPES = {onnx.TensorProto.UINT16, onnx.TensorProto.UINT32, onnx.TensorProto.UINT64}
_ABORTING_NODES = {"QuantizeLinear", "DequantizeLinear"}
_FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16}


def torch_dtype(elem_type: int, what: str = "a tensor") -> torch.dtype:
    """The torch dtype of an ONNX element type; an error naming ``what`` when there is none."""
    dtype = _ONNX_TO_TORCH.get(elem_type)
    if dtype is None:
        name = onnx.TensorProto.DataType.Name(elem_type)
        raise FrontendError(f"{what} has ONNX element type {name}, which tt-torch does not take")
    return dtype


@dataclass
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    dtype: torch.dtype


@dataclass
class PreparedModel:
    """An ONNX model ready for import: static shapes, named nodes, weights as graph inputs."""

    model: onnx.ModelProto
    name: str
    inputs: list[TensorInfo]  # the user's inputs, in the graph's order
    outputs: list[TensorInfo]
    weights: dict[str, torch.Tensor] = field(default_factory=dict)  # graph inputs after the user's
    opset: int = 0
    converted_from: int | None = None  # the opset the model was written at, when converted down
    nodes: dict[str, tuple[str, str, int]] = field(default_factory=dict)  # location -> (node name, op type, opset)
    expanded: list[tuple[str, str]] = field(default_factory=list)  # (node name, op type) replaced by function bodies

    @property
    def arg_names(self) -> list[str]:
        return [i.name for i in self.inputs] + list(self.weights)

    @property
    def arg_kinds(self) -> list[str]:
        return ["input"] * len(self.inputs) + ["parameter"] * len(self.weights)


def load(model: onnx.ModelProto | str | os.PathLike, base_dir: str | None = None) -> onnx.ModelProto:
    """A ModelProto from a path (its external data read from beside it) or a ModelProto
    (external data read from ``base_dir`` when the model refers to some)."""
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.isfile(path):
            raise FrontendError(f"{path}: no such ONNX file")
        try:
            return onnx.load(path, load_external_data=True)
        except (OSError, ValueError, onnx.onnx_cpp2py_export.checker.ValidationError) as e:
            raise FrontendError(
                f"{path}: could not be read as an ONNX model ({e}); external data files must lie beside it"
            ) from e
    if not isinstance(model, onnx.ModelProto):
        raise FrontendError(f"expected an onnx.ModelProto or the path of an .onnx file, got {type(model).__name__}")
    if base_dir is not None and _has_external_data(model):
        model = copy.deepcopy(model)
        onnx.external_data_helper.load_external_data_for_model(model, base_dir)
    elif _has_external_data(model):
        raise FrontendError(
            "the ONNX model keeps its weights in external data files: pass its path instead of the ModelProto, "
            "or load it with onnx.load(path, load_external_data=True)"
        )
    return model


def _has_external_data(model: onnx.ModelProto) -> bool:
    return any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)


def default_opset(model: onnx.ModelProto) -> int:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return imp.version
    return 0


def prepare(
    model: onnx.ModelProto | str | os.PathLike,
    input_shapes: dict[str, tuple[int, ...]] | list[tuple[int, ...]] | None = None,
    constant_inputs: dict[str, np.ndarray] | None = None,
) -> PreparedModel:
    """Loads, converts, binds, infers and names ``model`` for :func:`import_stablehlo`.

    ``input_shapes`` binds the dims an input leaves open (by input name, or one shape per
    input in order); a dim neither fixed by the model nor bound is an error naming the
    input and the dim. ``constant_inputs`` compiles inputs as the given values (axes,
    sizes, pads that torch-mlir must know): they become initializers, no longer inputs.
    """
    base_dir = os.path.dirname(os.fspath(model)) if isinstance(model, (str, os.PathLike)) else None
    model = copy.deepcopy(load(model, base_dir))
    written = default_opset(model)
    converted_from = None
    if written > MAX_OPSET:
        try:
            model = onnx.version_converter.convert_version(model, MAX_OPSET)
            converted_from = written
        except Exception as e:  # the converter raises its C++ errors as plain exceptions
            _LOG.warning(
                "ONNX opset %d could not be converted to %d (%s); importing it as written", written, MAX_OPSET, e
            )
    graph = model.graph
    _bind_constants(graph, constant_inputs or {})
    initializers = {t.name for t in graph.initializer}
    user_inputs = [i for i in graph.input if i.name not in initializers]
    _bind_shapes(user_inputs, input_shapes)
    try:
        model = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception as e:  # onnx raises InferenceError and plain RuntimeErrors
        raise FrontendError(f"ONNX shape inference failed on the model: {e}") from e
    model = _simplify(model)
    graph = model.graph
    _refuse_aborting_nodes(graph)
    opset = default_opset(model)
    nodes = _name_nodes(graph, model)
    weights = _weights_to_inputs(graph)
    inputs = [_info(i, "input") for i in graph.input if i.name not in weights and i.name not in initializers]
    outputs = [_info(o, "output", allow_dynamic=True) for o in graph.output]
    return PreparedModel(
        model=model,
        name=graph.name or "main",
        inputs=inputs,
        outputs=outputs,
        weights=weights,
        opset=opset,
        converted_from=converted_from,
        nodes=nodes,
    )


def _refuse_aborting_nodes(graph: onnx.GraphProto) -> None:
    """An error, before torch-mlir sees the model, for the nodes it would abort the process on."""
    types = {t.name: t.data_type for t in graph.initializer}
    types.update({v.name: v.type.tensor_type.elem_type for v in [*graph.input, *graph.value_info, *graph.output]})
    for node in graph.node:
        if node.op_type not in _ABORTING_NODES:
            continue
        for name in [*node.input, *node.output]:
            if types.get(name) in _ABORTING_TYPES:
                kind = onnx.TensorProto.DataType.Name(types[name])
                raise FrontendError(
                    f"node '{node.name or node.op_type}' ({node.op_type}) has a {kind} operand or result '{name}', "
                    f"which torch-mlir's ONNX importer cannot take (it aborts on {kind} as a torch dtype); quantize "
                    "to 8 bits, or run this node on the CPU (CompilerConfig(enable_cpu_fallback=True))"
                )


def _simplify(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model's values known before it runs folded, the nodes :mod:`onnx_rewrites` has rules
    for rewritten, and its known gathers made slices (shapes inferred again after each rewrite
    that changed something)."""
    for _ in range(_SIMPLIFY_ROUNDS):  # until nothing changes: a folded value can make another shape known
        changed = False
        for rewrite in (_fold_shape_constants, onnx_rewrites.rewrite, _gathers_as_slices):
            if not rewrite(model.graph, model):
                continue
            changed = True
            # inferred afresh: a value typed before the rewrite (shape then unknown) keeps a stale entry otherwise
            del model.graph.value_info[:]
            try:  # the types of what the rewrite made
                model = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
            except Exception as e:  # onnx raises InferenceError and plain RuntimeErrors
                raise FrontendError(f"ONNX shape inference failed on the model after {rewrite.__name__}: {e}") from e
        if not changed:
            break
    return model


_SIMPLIFY_ROUNDS = 8


def _bind_constants(graph: onnx.GraphProto, values: dict[str, np.ndarray]) -> None:
    inputs = {i.name: i for i in graph.input}
    unknown = sorted(set(values) - set(inputs))
    if unknown:
        raise FrontendError(f"constant_inputs names {unknown}, which are not inputs of the model ({sorted(inputs)})")
    for name, value in values.items():
        array = np.asarray(value)
        elem = inputs[name].type.tensor_type.elem_type
        if elem and onnx.helper.np_dtype_to_tensor_dtype(array.dtype) != elem:
            raise FrontendError(
                f"constant_inputs['{name}'] is {array.dtype}; the model's input is "
                f"{onnx.TensorProto.DataType.Name(elem)}"
            )
        graph.input.remove(inputs[name])
        graph.initializer.append(numpy_helper.from_array(array, name))


def _bind_shapes(inputs: list, input_shapes) -> None:
    if input_shapes is None:
        input_shapes = {}
    elif not isinstance(input_shapes, dict):
        shapes = list(input_shapes)
        if len(shapes) != len(inputs):
            raise FrontendError(
                f"input_shapes has {len(shapes)} shapes but the model has {len(inputs)} inputs "
                f"({', '.join(i.name for i in inputs)}); give one per input, or a dict by input name"
            )
        input_shapes = {i.name: s for i, s in zip(inputs, shapes)}
    names = {i.name for i in inputs}
    unknown = sorted(set(input_shapes) - names)
    if unknown:
        raise FrontendError(f"input_shapes names {unknown}, which are not inputs of the model ({sorted(names)})")
    for value in inputs:
        tensor = value.type.tensor_type
        if not value.type.HasField("tensor_type"):
            raise FrontendError(f"input '{value.name}' is not a tensor; tt-torch takes tensor inputs only")
        bound = input_shapes.get(value.name)
        dims = tensor.shape.dim
        if bound is not None:
            bound = tuple(int(d) for d in bound)
            if tensor.HasField("shape") and len(dims) != len(bound):
                raise FrontendError(
                    f"input_shapes gives input '{value.name}' rank {len(bound)}, the model has rank {len(dims)}"
                )
            for k, d in enumerate(dims):
                if d.HasField("dim_value") and d.dim_value != bound[k]:
                    raise FrontendError(
                        f"input_shapes gives input '{value.name}' dim {k} = {bound[k]}, the model fixes it at "
                        f"{d.dim_value}"
                    )
            tensor.shape.Clear()
            for d in bound:
                tensor.shape.dim.add().dim_value = d
            continue
        if not tensor.HasField("shape"):
            raise FrontendError(
                f"input '{value.name}' has no shape in the model; bind it with "
                f"compile_onnx(..., input_shapes={{'{value.name}': (...)}})"
            )
        for k, d in enumerate(dims):
            if not d.HasField("dim_value"):
                what = f"'{d.dim_param}'" if d.dim_param else "unnamed"
                raise FrontendError(
                    f"input '{value.name}' dim {k} is dynamic ({what}); tt-torch compiles static shapes: bind it with "
                    f"compile_onnx(..., input_shapes={{'{value.name}': (...)}})"
                )


def _info(value: onnx.ValueInfoProto, what: str, allow_dynamic: bool = False) -> TensorInfo:
    tensor = value.type.tensor_type
    if not value.type.HasField("tensor_type"):
        raise FrontendError(f"{what} '{value.name}' is not a tensor (sequences, maps and optionals are not taken)")
    dims = []
    for d in tensor.shape.dim:
        dims.append(d.dim_value if d.HasField("dim_value") else -1)
    if not allow_dynamic and -1 in dims:
        raise FrontendError(f"{what} '{value.name}' has a dynamic dim after binding: {dims}")
    return TensorInfo(value.name, tuple(dims), torch_dtype(tensor.elem_type, f"{what} '{value.name}'"))


# ops never folded: their value is not a function of their inputs
_NOT_FOLDED = {"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Bernoulli", "Multinomial"}
_FOLD_LIMIT = 1024  # elements: shape values and small tables, never weights


def _fold_shape_constants(graph: onnx.GraphProto, model: onnx.ModelProto) -> int:
    """Evaluates, with onnx's reference implementation, the nodes whose value is known before
    the model runs: ``Shape`` of a statically shaped tensor, and nodes that read only constants
    and make a small result (shape arithmetic: Gather, Concat, Unsqueeze, Cast...). torch-mlir
    needs shapes, axes and pads as constants, and lowers a shape computed at run time to ops
    StableHLO refuses. Results go in as initializers; weights (graph inputs) are never known
    here. Returns the number of nodes folded."""
    from onnx.reference import ReferenceEvaluator  # a large module, loaded when a model is prepared

    opsets = list(model.opset_import)

    known: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    shapes: dict[str, list[int]] = {}
    for v in [*graph.input, *graph.value_info, *graph.output]:
        t = v.type.tensor_type
        if v.type.HasField("tensor_type") and t.HasField("shape"):
            dims = [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim]
            if -1 not in dims:
                shapes[v.name] = dims
    outputs = {o.name for o in graph.output}
    kept, added, inlined = [], {}, 0
    work = list(graph.node)
    while work:
        node = work.pop(0)
        branch = _known_branch(node, known)
        if branch is not None:  # an If whose condition is known: its branch, in its place
            work[:0] = [*branch.node] + [
                onnx.helper.make_node("Identity", [b.name], [o]) for b, o in zip(branch.output, node.output)
            ]
            inlined += 1
            continue
        value = None
        if node.domain in ("", "ai.onnx") and not any(o in outputs for o in node.output) and not _has_subgraph(node):
            value = _fold_one(node, known, shapes, ReferenceEvaluator, opsets)
        if value is None:
            kept.append(node)
            continue
        for name, array in zip(node.output, value):
            known[name] = array
            added[name] = array
    if not added and not inlined:
        return 0
    del graph.node[:]
    graph.node.extend(kept)
    for name, array in added.items():  # all of them: a subgraph (If, Loop) may read any by name
        graph.initializer.append(numpy_helper.from_array(np.asarray(array), name))
    return len(added) + inlined


def _known_branch(node: onnx.NodeProto, known: dict[str, np.ndarray]) -> onnx.GraphProto | None:
    """The branch an ``If`` node takes, when its condition is known before the model runs."""
    if node.op_type != "If" or node.domain not in ("", "ai.onnx") or node.input[0] not in known:
        return None
    cond = known[node.input[0]]
    if cond.size != 1:
        return None
    branches = {a.name: a.g for a in node.attribute}
    branch = branches.get("then_branch" if bool(cond.reshape(-1)[0]) else "else_branch")
    if branch is None or branch.initializer or branch.sparse_initializer:
        return None
    return branch


def _gathers_as_slices(graph: onnx.GraphProto, model: onnx.ModelProto) -> int:
    """Rewrites each ``Gather`` of a known run of consecutive indices (``x[:, 0]``, BERT's pooler)
    as ``Slice`` (+ ``Squeeze`` for a 0-d index): StableHLO's general gather, which torch-mlir
    makes of it, has no device lowering, a slice has. Returns the number rewritten."""
    if default_opset(model) < 13:  # Slice and Squeeze take their axes as inputs from opset 13
        return 0
    known = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    ranks = {}
    for v in [*graph.input, *graph.value_info, *graph.output]:
        if v.type.HasField("tensor_type") and v.type.tensor_type.HasField("shape"):
            dims = [d.dim_value if d.HasField("dim_value") else -1 for d in v.type.tensor_type.shape.dim]
            ranks[v.name] = dims
    nodes, count = [], 0
    for node in graph.node:
        index = known.get(node.input[1]) if node.op_type == "Gather" and node.domain in ("", "ai.onnx") else None
        dims = ranks.get(node.input[0]) if index is not None else None
        if index is None or dims is None or index.ndim > 1 or index.size == 0 or index.dtype.kind not in "iu":
            nodes.append(node)
            continue
        axis = next((a.i for a in node.attribute if a.name == "axis"), 0) % len(dims)
        size = dims[axis]
        flat = [int(i) + size if int(i) < 0 else int(i) for i in index.reshape(-1)]
        if size < 0 or any(not 0 <= i < size for i in flat) or flat != list(range(flat[0], flat[0] + len(flat))):
            nodes.append(node)
            continue
        base = f"{node.output[0]}__slice"
        for suffix, values in (("starts", [flat[0]]), ("ends", [flat[-1] + 1]), ("axes", [axis])):
            graph.initializer.append(numpy_helper.from_array(np.array(values, dtype=np.int64), f"{base}_{suffix}"))
        sliced = node.output[0] if index.ndim == 1 else f"{base}_out"
        nodes.append(
            onnx.helper.make_node(
                "Slice", [node.input[0], f"{base}_starts", f"{base}_ends", f"{base}_axes"], [sliced], name=node.name
            )
        )
        if index.ndim == 0:
            nodes.append(onnx.helper.make_node("Squeeze", [sliced, f"{base}_axes"], [node.output[0]], name=node.name))
        count += 1
    if count:
        del graph.node[:]
        graph.node.extend(nodes)
    return count


def _has_subgraph(node: onnx.NodeProto) -> bool:
    return any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute)


def _fold_one(node: onnx.NodeProto, known, shapes, evaluator, opsets) -> list[np.ndarray] | None:
    if node.op_type in _NOT_FOLDED or not node.output or "" in node.output:
        return None
    if node.op_type == "Shape":
        if node.input[0] not in shapes:
            return None
        dims = shapes[node.input[0]]
        attrs = {a.name: a.i for a in node.attribute}
        start, end = attrs.get("start", 0), attrs.get("end", len(dims))
        return [np.array(dims[slice(start, end)], dtype=np.int64)]
    if node.op_type == "Size" and node.input[0] in shapes:
        return [np.array(int(np.prod(shapes[node.input[0]])), dtype=np.int64)]
    inputs = [i for i in node.input if i]
    if (not inputs and node.op_type != "Constant") or not all(i in known for i in inputs):
        return None
    if any(known[i].size > _FOLD_LIMIT for i in inputs):
        return None
    try:
        feeds = {i: known[i] for i in inputs}
        one = onnx.helper.make_graph(
            [node],
            "fold",
            [
                onnx.helper.make_tensor_value_info(i, onnx.helper.np_dtype_to_tensor_dtype(known[i].dtype), None)
                for i in inputs
            ],
            [onnx.helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in node.output],
        )
        values = evaluator(onnx.helper.make_model(one, opset_imports=opsets)).run(None, feeds)
    except Exception:  # an op the reference implementation lacks: left to torch-mlir
        return None
    values = [np.asarray(v) for v in values]
    if any(v.dtype == object or v.size > _FOLD_LIMIT for v in values):
        return None
    return values


def _name_nodes(
    graph: onnx.GraphProto, model: onnx.ModelProto, known: dict[str, tuple[str, str, int]] | None = None
) -> dict[str, tuple[str, str, int]]:
    """Names every node ``"<OpType>:<name>"`` (its MLIR location); returns location -> (name, op type, opset).
    A node already named in ``known`` keeps its name and entry."""
    versions = {imp.domain if imp.domain != "ai.onnx" else "": imp.version for imp in model.opset_import}
    out: dict[str, tuple[str, str, int]] = {}
    known = known or {}
    for k, node in enumerate(graph.node):
        if node.name in known:
            out[node.name] = known[node.name]
            continue
        name = node.name or f"{node.op_type.lower()}_{k}"
        location = f"{node.op_type}:{name}"
        while location in out:
            location += "'"
        out[location] = (name, node.op_type, versions.get(node.domain, 0))
        node.name = location
    return out


def _weights_to_inputs(graph: onnx.GraphProto) -> dict[str, torch.Tensor]:
    """Moves each floating-point initializer of ``WEIGHT_MIN_ELEMENTS`` or more to the graph's inputs."""
    weights: dict[str, torch.Tensor] = {}
    keep = []
    declared = {i.name for i in graph.input}
    for init in graph.initializer:
        numel = int(np.prod(init.dims)) if len(init.dims) else 1
        if init.data_type not in _FLOAT_TYPES or numel < WEIGHT_MIN_ELEMENTS:
            keep.append(init)
            continue
        array = numpy_helper.to_array(init)
        weights[init.name] = torch.from_numpy(np.ascontiguousarray(array).copy())
        if init.name not in declared:
            graph.input.append(onnx.helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
    del graph.initializer[:]
    graph.initializer.extend(keep)
    # the weights' declared inputs go after the user's, in the order of `weights`
    inputs = list(graph.input)
    user = [i for i in inputs if i.name not in weights]
    by_name = {i.name: i for i in inputs}
    del graph.input[:]
    graph.input.extend(user + [by_name[n] for n in weights])
    return weights


# --- import ---------------------------------------------------------------------------------


class _DenseConstants(onnx_importer.ContextCache):
    """torch-mlir's ONNX context cache, writing constants as dense attributes: its default,
    ``dense_resource`` blobs, cannot be read back from Python, and the compiler reads every
    constant it lowers."""

    def tensor_proto_to_attr(self, tp: onnx.TensorProto) -> ir.Attribute:
        if not tp.HasField("raw_data"):
            return super().tensor_proto_to_attr(tp)
        array = numpy_helper.to_array(tp)
        if array.dtype == np.bool_:
            array = array.astype(np.bool_)
        return ir.DenseElementsAttr.get(
            np.ascontiguousarray(array), type=self.tensor_element_type(tp.data_type), shape=list(array.shape)
        )


def import_stablehlo(prepared: PreparedModel, context: ir.Context | None = None) -> ir.Module:
    """The prepared model as a StableHLO module whose function ``main`` takes the user's
    inputs, then the weights.

    torch-mlir is asked first; when it cannot convert or lower the model, the nodes it
    failed on (those its diagnostics name, else those that fail on their own) whose op
    has an ONNX function body are replaced by that body (:mod:`onnx_functions`), the
    model is simplified again and the import retried. ``prepared`` is updated in place
    (``prepared.expanded`` lists the expanded nodes), so a second import of it needs no
    retries. What no expansion fixes is an error naming each node, its op type and opset.
    """
    if context is None:
        context = ir.Context()
        torch_d.register_dialect(context)
    for _ in range(_EXPANSION_ROUNDS):
        try:
            return _import_once(prepared, context)
        except OnnxImportError as error:
            if prepared.opset < MIN_IMPORT_OPSET and _convert_up(prepared):
                continue
            names = _to_expand(prepared, error, context)
            if not names or not _expand(prepared, names):
                raise
    return _import_once(prepared, context)


# torch-mlir converts many ops only in their opset-13 forms (axes as inputs: Squeeze, Unsqueeze,
# the reductions; Slice's inputs): an older model it fails on is converted up to this opset
MIN_IMPORT_OPSET = 13


def _signature(model: onnx.ModelProto) -> list:
    return [(v.name, v.type.SerializeToString()) for v in [*model.graph.input, *model.graph.output]]


def _convert_up(prepared: PreparedModel) -> bool:
    """``prepared`` converted to :data:`MIN_IMPORT_OPSET` (onnx.version_converter), simplified and
    named again; False when the converter refuses it."""
    try:
        model = onnx.version_converter.convert_version(prepared.model, MIN_IMPORT_OPSET)
        model = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception as e:  # the converter raises its C++ errors as plain exceptions
        _LOG.info(
            "model '%s' not converted from opset %d to %d: %s", prepared.name, prepared.opset, MIN_IMPORT_OPSET, e
        )
        return False
    if _signature(model) != _signature(prepared.model):  # Scan-8's batch dim: the inputs would change
        _LOG.info(
            "model '%s' not converted to opset %d: its inputs or outputs would change", prepared.name, MIN_IMPORT_OPSET
        )
        return False
    model = _simplify(model)
    _LOG.info("model '%s' converted from opset %d to %d for import", prepared.name, prepared.opset, MIN_IMPORT_OPSET)
    if prepared.converted_from is None:
        prepared.converted_from = prepared.opset
    prepared.opset = default_opset(model)
    prepared.nodes = _name_nodes(model.graph, model, prepared.nodes)
    prepared.model = model
    return True


class OnnxImportError(FrontendError):
    """torch-mlir could not convert or lower an ONNX model; ``nodes`` are the locations
    (``"<OpType>:<name>"``) of the nodes its diagnostics name."""

    def __init__(self, message: str, nodes: list[str] | None = None):
        super().__init__(message)
        self.nodes = list(nodes or [])


# rounds of expansion: a body may hold ops with bodies of their own (Attention's Softmax...)
_EXPANSION_ROUNDS = 4


def _import_once(prepared: PreparedModel, context: ir.Context) -> ir.Module:
    module = _import(prepared, context)
    _run(module, "builtin.module(func.func(convert-torch-onnx-to-torch))", "ONNX ops -> Torch ops", prepared)
    left = _unconverted(module)
    if left:
        nodes = "\n".join(f"  {_describe_location(loc, prepared, op)}" for loc, op in dict.fromkeys(left))
        raise OnnxImportError(
            f"{len(left)} ONNX node(s) of model '{prepared.name}' have no conversion in torch-mlir's ONNX importer "
            f"(opset {prepared.opset}):\n{nodes}\n"
            "  Rewrite the model without these ops (or with other attributes), or export it at another opset.",
            [key for loc, _ in left for key in _location_keys(loc, prepared)],
        )
    _run(module, "builtin.module(torch-onnx-to-torch-backend-pipeline)", "Torch ops -> Torch backend IR", prepared)
    _drop_runtime_asserts(module)
    _run(
        module,
        "builtin.module(torch-backend-to-stablehlo-backend-pipeline{allow-non-finites=true})",
        "Torch backend IR -> StableHLO",
        prepared,
    )
    funcs = [op for op in module.regions[0].blocks[0].operations if op.operation.name == "func.func"]
    with context:
        for f in funcs:
            if "sym_visibility" not in f.attributes:
                f.attributes["sym_name"] = ir.StringAttr.get("main")
    parsed = ir.Module.parse(module.get_asm(enable_debug_info=True), context=context)
    logical_unsigned_right_shifts(parsed)  # BitShift RIGHT is logical (ONNX defines it on unsigned types)
    return parsed


def _to_expand(prepared: PreparedModel, error: OnnxImportError, context: ir.Context) -> list[str]:
    """The nodes to replace by their function bodies after ``error``: those it names that
    have a body; when it names none, each node with a body that torch-mlir fails on alone."""
    model = prepared.model
    by_name = {n.name: n for n in model.graph.node}
    named = [by_name[k] for k in dict.fromkeys(error.nodes) if k in by_name]
    chosen = [n.name for n in named if onnx_functions.has_function(n, model)]
    if chosen or named:
        return chosen
    types = onnx_functions.value_types(model.graph)
    initializers = {t.name: t for t in model.graph.initializer}
    return [
        n.name
        for n in model.graph.node
        if onnx_functions.has_function(n, model) and not _imports_alone(n, prepared, types, initializers, context)
    ]


def _imports_alone(node: onnx.NodeProto, prepared: PreparedModel, types, initializers, context) -> bool:
    """Whether torch-mlir lowers ``node`` as a model of its own (its constant inputs kept)."""
    inputs, inits = [], []
    for name in dict.fromkeys(i for i in node.input if i):
        if name in initializers:
            inits.append(initializers[name])
        elif name in types:
            inputs.append(onnx.helper.make_value_info(name, types[name]))
        else:
            return False
    outputs = [onnx.helper.make_value_info(o, types[o]) for o in node.output if o and o in types]
    if len(outputs) != len([o for o in node.output if o]):
        return False
    graph = onnx.helper.make_graph([node], "probe", inputs, outputs, initializer=inits)
    model = onnx.helper.make_model(graph, opset_imports=list(prepared.model.opset_import))
    model.ir_version = prepared.model.ir_version
    probe = PreparedModel(model=model, name=f"probe of {node.name}", inputs=[], outputs=[], opset=prepared.opset)
    probe.nodes = {node.name: prepared.nodes.get(node.name, (node.name, node.op_type, prepared.opset))}
    try:
        _import_once(probe, context)
    except FrontendError:
        return False
    return True


def _expand(prepared: PreparedModel, names: list[str]) -> bool:
    """Replaces the named nodes of ``prepared`` by their function bodies, then simplifies and
    names the model again. False when none had a body."""
    model, done = onnx_functions.expand(prepared.model, names)
    if not done:
        return False
    try:
        model = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
        model = _simplify(model)
    except Exception as e:  # onnx raises InferenceError and plain RuntimeErrors: the bodies cannot stand in
        _LOG.info("model '%s': function bodies not used, shape inference fails on them: %s", prepared.name, e)
        return False
    prepared.expanded.extend((prepared.nodes.get(e.node, (e.node,))[0], e.op_type) for e in done)
    prepared.nodes = _name_nodes(model.graph, model, prepared.nodes)
    prepared.model = model
    return True


def _import(prepared: PreparedModel, context: ir.Context):
    config = onnx_importer.Config()
    info = onnx_importer.ModelInfo(prepared.model, config=config)
    module = info.create_module(context=context).operation
    try:
        importer = onnx_importer.NodeImporter.define_function(
            info.main_graph, module, context_cache=_DenseConstants(context)
        )
        importer.import_all()
    except Exception as e:  # torch-mlir's Python importer fails with assorted exceptions: all are its refusal
        raise OnnxImportError(
            f"torch-mlir's ONNX importer refused model '{prepared.name}': {type(e).__name__}: {_first_line(e)}"
        ) from e
    return module


def _run(module, pipeline: str, what: str, prepared: PreparedModel) -> None:
    """Runs a torch-mlir pipeline; a failure names the ONNX nodes its diagnostics point at."""
    with module.context:
        try:
            PassManager.parse(pipeline).run(module)
        except ir.MLIRError as e:
            diagnostics = [(str(d.location), d.message) for d in e.error_diagnostics]
            nodes = [key for loc, _ in diagnostics for key in _location_keys(loc, prepared)]
            raise _pipeline_error(what, diagnostics, prepared, nodes) from None


def _drop_runtime_asserts(module) -> None:
    """Erases the ``torch.runtime.assert`` ops torch-mlir's ONNX conversions leave on shape values
    (``Expand``'s broadcast check): the StableHLO lowering refuses them, and with static shapes
    ONNX shape inference has made the same checks."""
    asserts = []

    def walk(op) -> None:
        for region in op.regions:
            for block in region.blocks:
                for inner in block.operations:
                    if inner.operation.name == "torch.runtime.assert":
                        asserts.append(inner.operation)
                    else:
                        walk(inner.operation)

    walk(module)
    for op in asserts:
        op.erase()


def _unconverted(module) -> list[tuple[str, str]]:
    """(location, op type) of every ONNX op left as a ``torch.operator``."""
    left: list[tuple[str, str]] = []

    def walk(op) -> None:
        for region in op.regions:
            for block in region.blocks:
                for inner in block.operations:
                    inner = inner.operation
                    if inner.name == "torch.operator":
                        name = ir.StringAttr(inner.attributes["name"]).value
                        if name.startswith("onnx."):
                            left.append((str(inner.location), name.removeprefix("onnx.")))
                    walk(inner)

    walk(module)
    return left


_NAME = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _location_keys(location, prepared: PreparedModel) -> list[str]:
    """The ONNX nodes (their ``"<OpType>:<name>"``) a location names."""
    return [key for key in _NAME.findall(str(location)) if key in prepared.nodes]


def _describe_location(location, prepared: PreparedModel, op_type: str = "") -> str:
    """The ONNX node a location names (also through a call site of an expanded function)."""
    for key in _NAME.findall(str(location)):
        if key in prepared.nodes:
            name, kind, opset = prepared.nodes[key]
            return f"node '{name}' (op type {kind}, opset {opset})"
    return f"an op {op_type or '(unknown)'} at {location}"


def _pipeline_error(
    what: str, diagnostics: list[tuple[str, str]], prepared: PreparedModel, nodes: list[str]
) -> OnnxImportError:
    lines = [f"  {_describe_location(loc, prepared)}: {message.strip()}" for loc, message in diagnostics]
    return OnnxImportError(
        f"torch-mlir could not lower ONNX model '{prepared.name}' ({what}):\n"
        + "\n".join(dict.fromkeys(lines[:8]))
        + "\n  Compile with CompilerConfig(compile_depth=CompileDepth.STABLEHLO) to stop before the device compiler.",
        nodes,
    )


def _error_lines(text: str, limit: int = 12) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines[:limit])


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [""])[0][:500]


__all__ = [
    "MAX_OPSET",
    "OnnxImportError",
    "WEIGHT_MIN_ELEMENTS",
    "PreparedModel",
    "TensorInfo",
    "default_opset",
    "import_stablehlo",
    "load",
    "prepare",
    "torch_dtype",
]
