"""FX graph -> StableHLO module, through torch-mlir.

Every op's MLIR location carries the FX node name and the user's source line:
``loc("addmm"("model.py":8:0))``, so a later failure names the model line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator

import numpy as np
import torch
import torch.fx as fx
from torch_mlir import ir
from torch_mlir.compiler_utils import TorchMlirCompilerError
from torch_mlir.dialects import torch as torch_d
from torch_mlir.extras import fx_importer
from torch_mlir.extras.fx_importer import TORCH_DTYPE_TO_NPY_TYPE, ContextCache, FxImporter, FxImporterHooks
from torch_mlir.fx import stateless_fx_import

from tt_torch import composite
from tt_torch.errors import FrontendError

from .locking import COMPILE_LOCK
from .stablehlo_fixes import logical_unsigned_right_shifts

# torch-mlir's FX importer maps uint8 and uint32 but not uint16 / uint64 (a KeyError on the
# graph): the same entries for them (ScalarType numbers 27 and 29, as c10 numbers them).
for _dtype, _bits, _number, _npy in ((torch.uint16, 16, 27, np.uint16), (torch.uint64, 64, 29, np.uint64)):
    fx_importer.TORCH_DTYPE_TO_MLIR_TYPE_ASM.setdefault(_dtype, f"ui{_bits}")
    fx_importer.TORCH_DTYPE_TO_MLIR_TYPE.setdefault(_dtype, lambda b=_bits: ir.IntegerType.get_unsigned(b))
    fx_importer.TORCH_DTYPE_TO_NPY_TYPE.setdefault(_dtype, _npy)
    fx_importer.TORCH_DTYPE_TO_INT.setdefault(_dtype, _number)

_FRAME = re.compile(r'File "([^"]+)", line ([0-9]+),')
# Frames in these packages are tt-torch's and PyTorch's own code, not the model's: a node whose
# stack holds nothing else (a torch.nn layer called by dynamo) is located at the user's call.
_INTERNAL = tuple(os.path.dirname(os.path.abspath(m.__file__)) + os.sep for m in (torch, composite))


def _user_frame(node: fx.Node) -> tuple[str, str] | None:
    """(file, line) of the innermost frame of the node's stack outside tt-torch and PyTorch."""
    frames = _FRAME.findall(node.meta.get("stack_trace") or "")
    outside = [f for f in frames if not os.path.abspath(f[0]).startswith(_INTERNAL)]
    return outside[-1] if outside else None


class _LocatingCache(ContextCache):
    """torch-mlir's context cache, with locations that also name the FX node (or the
    composite group the node belongs to: ``tt_torch.composite``)."""

    def get_node_location(self, node: fx.Node):
        ctx = self._c
        name = composite.location_name(node)
        frame = _user_frame(node)
        if frame is None:
            return ir.Location.name(name, context=ctx)
        child = ir.Location.file(frame[0], int(frame[1]), col=0, context=ctx)
        return ir.Location.name(name, childLoc=child, context=ctx)


def source_line(node: fx.Node) -> str:
    """``"file:line"`` of the model line that made ``node`` (its innermost frame outside tt-torch
    and PyTorch), "" when unknown."""
    frame = _user_frame(node)
    return f"{frame[0]}:{frame[1]}" if frame else ""


class _DenseLiterals(FxImporterHooks):
    """Literal tensors of the graph (``torch.tensor([0, 2])`` in a model, a decomposition's
    index table) as dense attributes. torch-mlir writes them as ``dense_resource`` blobs by
    default, whose values cannot be read back from Python ("Cannot cast attribute to
    DenseElementsAttr"), and the compiler reads every constant it lowers."""

    def resolve_literal(self, gni, literal, info):
        if not isinstance(literal, torch.Tensor) or literal.numel() <= 1:
            return None  # torch-mlir writes these as dense splats already
        npy = TORCH_DTYPE_TO_NPY_TYPE.get(literal.dtype)
        if npy is None or literal.dtype == torch.bfloat16:
            return None
        array = np.array(literal.tolist(), dtype=npy).reshape(tuple(literal.shape))
        vtensor = gni._cc.tensor_to_vtensor_type(literal)
        value = ir.DenseElementsAttr.get(array, type=_element_type(literal.dtype), shape=list(literal.shape))
        return ir.Operation.create("torch.vtensor.literal", results=[vtensor], attributes={"value": value}).result


def _element_type(dtype: torch.dtype) -> ir.Type:
    if dtype.is_floating_point:
        return {torch.float32: ir.F32Type, torch.float64: ir.F64Type, torch.float16: ir.F16Type}[dtype].get()
    if dtype in (torch.uint8, torch.uint16, torch.uint32, torch.uint64):
        return ir.IntegerType.get_unsigned(torch.iinfo(dtype).bits)
    return ir.IntegerType.get_signless(torch.iinfo(dtype).bits)


@contextlib.contextmanager
def _root_logging_untouched() -> Iterator[None]:
    """torch-mlir's FxImporter logs through ``logging.debug``, which configures the root logger
    (``basicConfig``) of an application that set up no logging: a NullHandler prevents that."""
    root = logging.getLogger()
    if root.handlers:
        yield
        return
    guard = logging.NullHandler()
    root.addHandler(guard)
    try:
        yield
    finally:
        root.removeHandler(guard)


def locating_importer(context: ir.Context | None = None) -> FxImporter:
    """torch-mlir's FX importer whose op locations name the FX node (or composite group)."""
    if context is None:
        context = ir.Context()
        torch_d.register_dialect(context)
    with _root_logging_untouched():
        importer = FxImporter(context=context, hooks=_DenseLiterals())
    importer._cc = _LocatingCache(context, py_attr_tracker=importer._py_attr_tracker)
    return importer


def import_stablehlo(gm: fx.GraphModule, func_name: str = "main") -> ir.Module:
    """Imports ``gm`` (an aten-level, statically shaped graph) as a StableHLO module."""
    with COMPILE_LOCK:  # torch-mlir's contexts and dialect loading are not thread-safe
        return _import_stablehlo(gm, func_name)


def _import_stablehlo(gm: fx.GraphModule, func_name: str) -> ir.Module:
    importer = locating_importer()
    diagnostics: list[tuple[str, str]] = []  # (location, message) of each error torch-mlir reports

    def collect(d: ir.Diagnostic) -> bool:
        if d.severity == ir.DiagnosticSeverity.ERROR:
            diagnostics.append((str(d.location), str(d.message)))
        return True  # handled: into the FrontendError, not onto stderr

    _refuse_aborting_dtypes(gm)
    handler = importer._c.attach_diagnostic_handler(collect)
    try:
        module = stateless_fx_import(gm, output_type="stablehlo", fx_importer=importer, model_name=func_name)
    except TorchMlirCompilerError as e:
        detail = _failing_ops(gm, diagnostics) or str(e)
        raise _frontend_error(gm, "torch-mlir could not lower the graph to StableHLO", detail) from None
    except (AssertionError, KeyError, NotImplementedError, TypeError, ValueError) as e:
        # torch-mlir's FX importer refuses some graphs with a Python exception of its own
        # (an unsupported symbolic builtin, an unmapped dtype such as complex128 or uint64):
        # the same kind of failure
        raise _frontend_error(gm, "torch-mlir's FX importer refused the graph", f"{type(e).__name__}: {e}") from e
    finally:
        handler.detach()
    logical_unsigned_right_shifts(module)
    return module


# torch-mlir aborts the process (getScalarTypeForType) on these as an op's dtype argument
# (torch.full(..., dtype=torch.uint16), .to(torch.uint16)); tensors of them import fine.
_ABORTING_DTYPES = (torch.uint16, torch.uint64)


def _refuse_aborting_dtypes(gm: fx.GraphModule) -> None:
    for node in gm.graph.nodes:
        if node.op != "call_function":
            continue
        for value in [*node.args, *node.kwargs.values()]:
            if isinstance(value, torch.dtype) and value in _ABORTING_DTYPES:
                raise _frontend_error(
                    gm,
                    f"an op takes {value} as its dtype argument, which torch-mlir aborts on",
                    f"  op: {node.target} (node {node.name}) at {source_line(node) or 'an unknown line'}; compute "
                    f"in int32 and keep {value} for the inputs and outputs, or enable the CPU fallback",
                )


def _failing_ops(gm: fx.GraphModule, diagnostics: list[tuple[str, str]]) -> str:
    """Each op torch-mlir refused: its aten op, FX node and model line, and torch-mlir's message."""
    nodes = {n.name: n for n in gm.graph.nodes}
    lines = []
    for location, message in dict.fromkeys(diagnostics):
        name = composite.node_of_location(location)
        node = nodes.get(name) if name else None
        if node is not None:
            where = f"{node.target} (node {node.name}) at {source_line(node) or 'an unknown line'}"
        else:
            where = f"an op at {location}"
        lines.append(f"  failing op: {where}\n    torch-mlir: {message.strip()[:600]}")
    return "\n".join(lines)


def _frontend_error(gm: fx.GraphModule, what: str, detail: str) -> FrontendError:
    ops = sorted({str(n.target) for n in gm.graph.nodes if n.op == "call_function"})
    detail = detail.strip("\n").rstrip()
    return FrontendError(
        f"{what}.\n"
        f"{detail}\n"
        f"  aten ops in the graph: {', '.join(ops)}\n"
        "  Compile with CompilerConfig(compile_depth=CompileDepth.TORCH_FX) to inspect the FX graph."
    )
