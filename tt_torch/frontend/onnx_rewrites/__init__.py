"""ONNX nodes rewritten, before import, into ops that torch-mlir lowers and the device runs.

A table of rules, op type -> function; a rule returns the nodes (and initializers) that
replace the node, or None to leave it as it is. Each rule needs the node's shapes and
control operands known (the importer folds what it can first); per op:

- ``Resize`` (any mode, coordinate transformation, antialias, axes, aspect-ratio policy):
  resizing is separable and linear in the input, so each resized axis becomes a product
  with a constant [in, out] weight matrix (read from onnx's reference implementation, row
  by row, so every mode means exactly what the spec says), between two transposes; the
  extrapolated positions of ``tf_crop_and_resize`` add a constant. torch-mlir lowers only
  some ``__interpolate`` forms to StableHLO, a matrix product always.
- ``Pad`` in ``constant`` mode with a value known only at run time: the input padded with
  zeros, and the value where a constant mask marks the padding (torch-mlir needs the pad
  value as a constant). ``CastLike`` to a known type: a Cast (a constant one then folds).
- ``Hardmax``: ArgMax compared with the positions along the axis.
- ``AveragePool`` (the forms torch-mlir fails or crashes on: 3-D, dilated, SAME) and
  ``LpPool``: window sums one dim after the other as products with 0/1 matrices (a window
  is a box), then a constant divisor map or the p-th root.
- ``MaxPool``: ceil_mode as explicit end padding (torch-mlir pads both sides); 8/16-bit
  integers through f32 (torch-mlir crashes on an integer max pool).
- ``DFT``: products with constant cosine and sine matrices along the axis.
- ``Einsum`` of scalars only: their product (torch-mlir aborts on it).
- ``Dropout`` that keeps everything, ``CumProd`` (running products), ``OneHot`` (a comparison
  with positions), ``Compress`` by a known condition (a Gather), ``Col2Im`` (a constant
  tap-to-pixel matrix), ``QLinearMatMul`` (dequantize, multiply, requantize).
- ``QuantizeLinear`` per tensor to 8 bits: divide, round half to even, add the zero point,
  saturate (torch-mlir's lowering goes through quantized tensors, which StableHLO lacks).
- ``ConvTranspose`` with auto_pad SAME: explicit pads (uneven ones as a crop); ``Slice`` with
  a negative step: a Gather of the positions it visits.
- ``GridSample`` (nearest, linear or cubic; zeros, border or reflection padding; 2-D or
  3-D), for the forms torch-mlir fails on or rounds otherwise: grid arithmetic and one
  GatherElements of the flattened input per corner, weighted and summed.
- ``ScatterND`` / ``ScatterElements`` with a reduction and known indices: one update after
  the other (gather, combine, scatter without reduction), repeated indices in order.
- ``RNN``, ``GRU``, ``LSTM`` (default activations, time-major, full-length sequences):
  unrolled over time with the spec's gate formulas (torch-mlir's loops do not lower).
- ``Scan`` over a static length: unrolled, one renamed copy of the body per step (torch-mlir
  converts no Scan; LinearAttention's body is one).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import onnx
from onnx import numpy_helper

from .. import onnx_semantics
from .convolution import col2im, conv_transpose
from .graph import Graph
from .pooling import average_pool, lp_pool, max_pool
from .quantized import qlinear_matmul, quantize_linear
from .recurrent import recurrent, scan
from .resize import grid_sample, resize
from .spectral import dft
from .tensor import cast_like, compress, cum_prod, dropout, einsum, hardmax, one_hot, pad, scatter_reduce, slice_

_LOG = logging.getLogger(__name__)

RULES: dict[str, Callable[[onnx.NodeProto, Graph], list[onnx.NodeProto] | None]] = {
    "Resize": resize,
    "Pad": pad,
    "CastLike": cast_like,
    "Hardmax": hardmax,
    "LpPool": lp_pool,
    "AveragePool": average_pool,
    "MaxPool": max_pool,
    "Einsum": einsum,
    "Dropout": dropout,
    "CumProd": cum_prod,
    "OneHot": one_hot,
    "Compress": compress,
    "Col2Im": col2im,
    "QLinearMatMul": qlinear_matmul,
    "Scan": scan,
    "QuantizeLinear": quantize_linear,
    "ConvTranspose": conv_transpose,
    "Slice": slice_,
    "GridSample": grid_sample,
    "ScatterND": scatter_reduce,
    "ScatterElements": scatter_reduce,
    "RNN": recurrent,
    "GRU": recurrent,
    "LSTM": recurrent,
    "DFT": dft,
    # ops torch-mlir imports with other semantics than ONNX's (Mod, bool ReduceMax/Min,
    # LpNormalization, SpaceToDepth CRD): see onnx_semantics
    **onnx_semantics.RULES,
}

# operands (by position) a static-shape compile needs as constants: they decide shapes or weights
# Operand positions (per op type) whose value is an attribute in all but name: axes, sizes, pads,
# counts and modes that later opsets moved from attributes to inputs (ONNX's operator spec), and
# values that decide an output's shape (Compress's condition, Range's bounds).
CONTROL_OPERANDS = {
    "Resize": (1, 2, 3),
    "Upsample": (1,),
    "Range": (0, 1, 2),
    "OneHot": (1,),
    "Compress": (1,),
    "Dropout": (1, 2),
    "Reshape": (1,),
    "Expand": (1,),
    "Tile": (1,),
    "Slice": (1, 2, 3, 4),
    "Squeeze": (1,),
    "Unsqueeze": (1,),
    "Split": (1,),
    "Pad": (1, 3),
    "TopK": (1,),
    "Trilu": (1,),
    "CumSum": (1,),
    "CumProd": (1,),
    "ConstantOfShape": (0,),
    "CenterCropPad": (1,),
    "AffineGrid": (1,),
    "Col2Im": (1, 2),
    "BlackmanWindow": (0,),
    "HannWindow": (0,),
    "HammingWindow": (0,),
    "DFT": (1, 2),
    "STFT": (1, 3),
    "MelWeightMatrix": (0, 1, 2, 3, 4),
    "NonMaxSuppression": (2, 3, 4),
    **{
        op: (1,)
        for op in (
            "ReduceSum",
            "ReduceMean",
            "ReduceMax",
            "ReduceMin",
            "ReduceProd",
            "ReduceL1",
            "ReduceL2",
            "ReduceLogSum",
            "ReduceLogSumExp",
            "ReduceSumSquare",
        )
    },
}


def control_operand_inputs(model: onnx.ModelProto) -> set[str]:
    """The graph inputs that the model reads only as :data:`CONTROL_OPERANDS`."""
    uses: dict[str, bool] = {}
    for node in model.graph.node:
        control = CONTROL_OPERANDS.get(node.op_type, ()) if node.domain in ("", "ai.onnx") else ()
        for k, name in enumerate(node.input):
            uses[name] = uses.get(name, True) and k in control
    return {i.name for i in model.graph.input if uses.get(i.name, False)}


def rewrite(graph: onnx.GraphProto, model: onnx.ModelProto) -> int:
    """Applies :data:`RULES` to the graph's top-level nodes; returns the number rewritten."""
    opset = next((i.version for i in model.opset_import if i.domain in ("", "ai.onnx")), 0)
    g = Graph(known={t.name: numpy_helper.to_array(t) for t in graph.initializer}, shapes={}, types={}, opset=opset)
    for v in [*graph.input, *graph.value_info, *graph.output]:
        t = v.type.tensor_type
        if v.type.HasField("tensor_type"):
            g.types[v.name] = t.elem_type
            if t.HasField("shape"):
                dims = [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim]
                if -1 not in dims:
                    g.shapes[v.name] = dims
    for t in graph.initializer:
        g.types[t.name], g.shapes[t.name] = t.data_type, list(t.dims)
    nodes, count = [], 0
    for node in graph.node:
        rule = RULES.get(node.op_type) if node.domain in ("", "ai.onnx") else None
        try:
            replacement = rule(node, g) if rule is not None else None
        except Exception as e:  # onnx's reference helpers raise plain errors on forms they lack
            _LOG.info("%s node '%s' left as it is: %s", node.op_type, node.name, e)
            replacement = None
        if replacement is None:
            nodes.append(node)
            continue
        _LOG.info("%s node '%s' rewritten into %d nodes", node.op_type, node.name, len(replacement))
        nodes.extend(replacement)
        count += 1
    if count:
        del graph.node[:]
        graph.node.extend(nodes)
        graph.initializer.extend(g.made)
    return count


__all__ = ["CONTROL_OPERANDS", "RULES", "control_operand_inputs", "rewrite"]
