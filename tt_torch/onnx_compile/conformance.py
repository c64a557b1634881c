"""onnx's node test cases through ONNX Runtime and through tt-torch, one case at a time.

tt-torch is checked twice: strictly (every node on the device: the headline figure), then,
when that fails, with the CPU fallback on (refused nodes in ONNX Runtime on the host).

``onnx.backend.test.case.node.collect_testcases()`` gives each case as a model, its input
sets and their expected outputs. :func:`check_case` runs one through both and classifies
tt-torch's result; ``benchmarks/onnx_conformance.py`` runs them all crash-tolerantly and
writes docs/onnx_coverage.md, ``tests/onnx/test_conformance.py`` runs a sample.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from tt_torch.config import CompilerConfig
from tt_torch.errors import CompileError, FrontendError, LoweringError, TTTorchError
from tt_torch.frontend import onnx_importer
from tt_torch.frontend.onnx_rewrites import control_operand_inputs

from . import reference
from .onnx_compile import compile_onnx

_LOG = logging.getLogger(__name__)

RTOL = ATOL = 1e-3  # the bar for ONNX Runtime and for tt-torch alike
# tt-torch's result, best first
STATUSES = ("pass", "wrong", "unsupported", "import", "compile", "run", "inputs", "error", "crash", "timeout")
REASONS = {
    "pass": "matches the expected outputs (rtol = atol = 1e-3)",
    "wrong": "compiles and runs, outputs differ from the expected ones",
    "unsupported": "an ONNX node torch-mlir's ONNX importer has no conversion for",
    "import": "torch-mlir failed to lower the model to StableHLO, or shape inference / binding failed",
    "compile": "tt-torch's compiler (StableHLO -> TTIR -> TTNN) has no lowering for an op",
    "run": "the device program failed, or an input does not fit the device's types",
    "inputs": "inputs or outputs that are not tensors of a supported type (strings, sequences, optionals)",
    "error": "an exception tt-torch does not raise on purpose (a defect)",
    "crash": "the worker process died",
    "timeout": "no answer within the time limit",
}


def case_operator(name: str, model: onnx.ModelProto, schemas: Sequence[str]) -> str:
    """The ONNX operator a node test case is about: the one node's op type, or, for an expanded
    function or a small graph, the schema name the case name starts with."""
    nodes = [n.op_type for n in model.graph.node]
    if len(nodes) == 1:
        return nodes[0]
    squashed = name.removeprefix("test_").replace("_", "").lower()
    best, length = None, 0
    for schema in (*dict.fromkeys(nodes), *schemas):
        low = schema.lower()
        common = 0
        while common < min(len(low), len(squashed)) and low[common] == squashed[common]:
            common += 1
        if (common == len(low) or common >= 6) and common > length:
            best, length = schema, common
    return best or (nodes[0] if nodes else "?")


def compare(expected: Sequence[np.ndarray], actual: Sequence[Any], rtol: float = RTOL, atol: float = ATOL) -> str:
    """ "" when every output matches (NaNs where expected), else what differs first."""
    if len(expected) != len(actual):
        return f"{len(actual)} outputs, expected {len(expected)}"
    for k, (e, a) in enumerate(zip(expected, actual)):
        a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
        e = np.asarray(e)
        if e.shape != a.shape:
            return f"output {k}: shape {a.shape}, expected {e.shape}"
        if e.dtype == object or a.dtype == object:
            if not np.array_equal(e, a):
                return f"output {k}: values differ"
            continue
        if e.dtype.kind in "biu" or a.dtype.kind in "biu":
            if not np.array_equal(e.astype(np.float64), a.astype(np.float64)):
                bad = int(np.sum(e.astype(np.float64) != a.astype(np.float64)))
                return f"output {k}: {bad} of {e.size} values differ"
            continue
        e64, a64 = e.astype(np.float64), a.astype(np.float64)
        ok = np.isclose(a64, e64, rtol=rtol, atol=atol, equal_nan=True)
        if not ok.all():
            err = np.abs(a64 - e64)
            err = np.where(np.isnan(err), np.inf, err)
            return f"output {k}: {int((~ok).sum())} of {e.size} values off, max error {float(err.max()):.3g}"
    return ""


def as_arrays(values: Sequence[Any]) -> list[Any]:
    """A case's inputs or outputs with TensorProtos and numpy scalars as arrays (sequences,
    optionals and maps stay as they are)."""
    out = []
    for x in values:
        if isinstance(x, onnx.TensorProto):
            x = numpy_helper.to_array(x)
        elif isinstance(x, np.generic):
            x = np.asarray(x)
        out.append(x)
    return out


def _tensor_inputs(inputs: Sequence[Any]) -> list[np.ndarray] | None:
    if not all(isinstance(x, np.ndarray) and x.dtype.kind in "biuf" and x.dtype.name in _NUMPY_TYPES for x in inputs):
        return None
    return list(inputs)


_NUMPY_TYPES = {"bool", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64"}
_NUMPY_TYPES |= {"float16", "float32", "float64"}


def check_ort(model: onnx.ModelProto, data_sets: Sequence[tuple], rtol: float = RTOL, atol: float = ATOL) -> dict:
    """ONNX Runtime on every input set: {"status": "pass" | "fail" | "error", "reason": ...}."""
    try:
        sess = reference.session(model)
        names = [i.name for i in sess.get_inputs()]
        for inputs, expected in data_sets:
            outs = sess.run(None, dict(zip(names, inputs)))
            diff = compare(expected, outs, rtol, atol)
            if diff:
                return {"status": "fail", "reason": diff}
    except Exception as e:  # anything ONNX Runtime raises is its failure on this case
        return {"status": "error", "reason": _short(e)}
    return {"status": "pass", "reason": ""}


def check_ours(
    model: onnx.ModelProto,
    data_sets: Sequence[tuple],
    rtol: float = RTOL,
    atol: float = ATOL,
    config: CompilerConfig | None = None,
    fallback: bool = False,
    bind: Sequence[str] = (),
) -> dict:
    """tt-torch on every input set: {"status": one of STATUSES, "reason", "seconds", "bound",
    "host_nodes"}, strictly (every node on the device) unless ``fallback`` (the CPU fallback on:
    "host_nodes" counts the nodes it ran on the host).

    A model torch-mlir cannot import as given is compiled again with its small control inputs
    (axes, sizes, pads, k, scales: the same in every input set; see :func:`_control_inputs`) as
    ``constant_inputs``; "bound" names them (a static-shape compiler needs them known; ONNX
    Runtime takes them at run time). Data inputs are never bound.
    ``bind`` names inputs to compile as constants from the start (those the strict check bound)."""
    t = time.perf_counter()
    config = dataclasses.replace(config or CompilerConfig(), enable_cpu_fallback=fallback)
    status, reason, bound, host = _ours(model, data_sets, rtol, atol, config, bind)
    return {
        "status": status,
        "reason": reason,
        "seconds": round(time.perf_counter() - t, 3),
        "bound": bound,
        "host_nodes": host,
    }


def check_fallback(model: onnx.ModelProto, data_sets: Sequence[tuple], strict: dict, **kw) -> dict:
    """tt-torch with the CPU fallback on, after the strict result ``strict``: a strict pass is
    a pass with no host node; else the model is compiled again with the fallback on (binding
    the inputs the strict check bound)."""
    if strict["status"] == "pass":
        return {**strict, "host_nodes": 0}
    return check_ours(model, data_sets, fallback=True, bind=strict.get("bound") or (), **kw)


def _ours(model, data_sets, rtol, atol, config, bind=()) -> tuple[str, str, list[str], int]:
    for inputs, expected in data_sets:
        if _tensor_inputs(inputs) is None or _tensor_inputs(expected) is None:
            return "inputs", "an input or output is not a numeric tensor", [], 0
    bound: dict[str, np.ndarray] = {}
    if bind:
        bound = {k: v for k, v in _control_inputs(model, data_sets).items() if k in bind}
    compiled, status, reason = _compile(model, config, bound)
    if compiled is None and status in ("import", "unsupported") and not bound:
        bound = _control_inputs(model, data_sets)
        if bound:
            compiled, status, reason = _compile(model, config, bound)
    if compiled is None:
        return status, reason, sorted(bound), 0
    host = len(compiled.report.get("cpu_fallback", {}).get("ops", []))
    status, reason = _run(compiled, model, data_sets, rtol, atol, bound)
    return status, reason, sorted(bound), host


def _run(compiled, model, data_sets, rtol, atol, bound) -> tuple[str, str]:
    names = _input_names(model)
    try:
        for inputs, expected in data_sets:
            given = [x for n, x in zip(names, inputs) if n not in bound]
            try:
                outs = compiled(*given)
            except TTTorchError as e:
                return "run", _short(e)
            except Exception as e:  # not raised on purpose: recorded, the run goes on
                return "error", _short(e)
            diff = compare(expected, list(outs), rtol, atol)
            if diff:
                return "wrong", diff
    finally:
        compiled.close()
    return "pass", ""


def _compile(model, config, bound) -> tuple[Any, str, str]:
    try:
        return compile_onnx(model, config, constant_inputs=bound or None), "pass", ""
    except FrontendError as e:
        kind = "unsupported" if "have no conversion" in str(e) else "import"
        if "element type" in str(e) or "is not a tensor" in str(e):
            kind = "inputs"
        return None, kind, _short(e)
    except LoweringError as e:
        return None, "compile", f"{e.stage}: {e.op_name}: {e.reason or _short(e)}"
    except CompileError as e:
        return None, "compile", _short(e)
    except TTTorchError as e:
        return None, "run", _short(e)
    except Exception as e:  # not raised on purpose: recorded, the run goes on
        return None, "error", _short(e)


def _input_names(model: onnx.ModelProto) -> list[str]:
    initializers = {t.name for t in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in initializers]


def _control_inputs(model: onnx.ModelProto, data_sets: Sequence[tuple], limit: int = 64) -> dict[str, np.ndarray]:
    """The inputs of at most ``limit`` elements that hold the same values in every input set and
    that the model reads as control operands: only in an operand position whose value is an
    attribute in all but name (axes, sizes, pads, k, Resize's scales, Compress's condition: see
    onnx_rewrites.CONTROL_OPERANDS), or whose value makes shapes of the graph known (a shape
    fed through a function body). A data operand (Trilu's matrix, TopK's values, a scatter's
    indices) is never bound: compiled as a constant, the case would test folding, not the device."""
    control = control_operand_inputs(model)
    out = {}
    for k, name in enumerate(_input_names(model)):
        values = [inputs[k] for inputs, _ in data_sets if k < len(inputs)]
        first = values[0] if values else None
        if (
            isinstance(first, np.ndarray)
            and first.size <= limit
            and all(np.array_equal(v, first) for v in values)
            and (name in control or _makes_shapes_known(model, name, first))
        ):
            out[name] = first
    return out


def _makes_shapes_known(model: onnx.ModelProto, name: str, value: np.ndarray) -> bool:
    """Whether the importer's preparation (shape inference, constants folded to a fixed point)
    knows more dims of the model's own values (its nodes' results that stay computed, not
    folded away) with input ``name`` given as ``value`` than without."""
    values = {o for node in model.graph.node for o in node.output} | {o.name for o in model.graph.output}
    return _known_dims(model, {name: np.asarray(value)}, values) > _known_dims(model, {}, values)


def _known_dims(model: onnx.ModelProto, constants: dict[str, np.ndarray], values: set[str]) -> int:
    try:
        graph = onnx_importer.prepare(model, constant_inputs=constants).model.graph
    except Exception:  # a model the importer cannot prepare knows nothing more either way
        return 0
    folded = {t.name for t in graph.initializer}
    return sum(
        1
        for v in [*graph.value_info, *graph.output]
        if v.name in values and v.name not in folded
        if v.type.HasField("tensor_type") and v.type.tensor_type.HasField("shape")
        for d in v.type.tensor_type.shape.dim
        if d.HasField("dim_value")
    )


def start_record(name: str, model: onnx.ModelProto, data_sets: Sequence[tuple], operator: str = "") -> tuple:
    """A case's record with ONNX Runtime's result, and its input sets as arrays."""
    data_sets = [(as_arrays(inputs), as_arrays(expected)) for inputs, expected in data_sets]
    record = {"case": name, "operator": operator, "opset": _opset(model), "ort": check_ort(model, data_sets)}
    return record, data_sets


def check_case(
    name: str,
    model: onnx.ModelProto,
    data_sets: Sequence[tuple],
    operator: str = "",
    config: CompilerConfig | None = None,
) -> dict:
    """One case through ONNX Runtime and tt-torch (compiled with ``config``), as the record the benchmark keeps."""
    record, data_sets = start_record(name, model, data_sets, operator)
    record["ours"] = check_ours(model, data_sets, config=config)
    record["fallback"] = check_fallback(model, data_sets, record["ours"], config=config)
    return record


def _opset(model: onnx.ModelProto) -> int:
    return next((i.version for i in model.opset_import if i.domain in ("", "ai.onnx")), 0)


def _short(e: BaseException, limit: int = 600) -> str:
    text = f"{type(e).__name__}: {str(e).strip()}"
    return text if len(text) <= limit else text[:limit] + " ..."


__all__ = [
    "ATOL",
    "REASONS",
    "RTOL",
    "STATUSES",
    "as_arrays",
    "case_operator",
    "check_case",
    "check_fallback",
    "check_ort",
    "check_ours",
    "compare",
]
