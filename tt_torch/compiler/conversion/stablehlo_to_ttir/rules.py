"""StableHLO -> TTIR rules that are more than a rename."""

from __future__ import annotations

import math

import numpy as np
from torch_mlir import ir
from torch_mlir._mlir_libs import _stablehlo as shlo

from tt_torch.composite import kind_of, node_of_location

from ...dialects import ttir
from ...dialects._define import build
from ...ir_helpers import as_operation, attr, dense_to_numpy, element_type, shape_of, splat_value
from ..rewrite import RewriteContext
from .types import narrow_element

# --- helpers -----------------------------------------------------------------


def _ints(a: ir.Attribute | None, default: list[int] | None = None) -> list[int]:
    if a is None:
        return list(default or [])
    if isinstance(a, ir.DenseI64ArrayAttr):
        return list(ir.DenseI64ArrayAttr(a))
    if isinstance(a, ir.DenseBoolArrayAttr):
        return [int(v) for v in ir.DenseBoolArrayAttr(a)]
    return [int(v) for v in dense_to_numpy(ir.DenseElementsAttr(a)).reshape(-1)]


def _opt(op: ir.Operation, name: str):
    return op.attributes[name] if name in op.attributes else None


def reshape_to(cx: RewriteContext, value: ir.Value, shape: list[int]) -> ir.Value:
    if shape_of(value) == list(shape):
        return value
    return cx.emit("reshape", value, result=cx.tensor_type(shape, element_type(value)), shape=list(shape))


def permute(cx: RewriteContext, value: ir.Value, perm: list[int]) -> ir.Value:
    if list(perm) == list(range(len(perm))):
        return value
    shape = shape_of(value)
    out = [shape[p] for p in perm]
    return cx.emit("permute", value, result=cx.tensor_type(out, element_type(value)), permutation=list(perm))


# --- elementwise -------------------------------------------------------------------

_COMPARE = {"EQ": "eq", "NE": "ne", "LT": "lt", "LE": "le", "GT": "gt", "GE": "ge"}


def compare(cx: RewriteContext, op):
    direction = shlo.ComparisonDirectionAttr(op.attributes["comparison_direction"]).value
    return [cx.emit(_COMPARE[direction], *op.operands, result=cx.result_type())]


def select(cx: RewriteContext, op):
    """where(c, t, f); on integers, where(c, x + y, x) becomes x + where(c, y, 0).

    torch-mlir's integer remainder is where(r != 0 and sign(r) != sign(b), r + b, r): r + b
    may leave int32 where it is not selected, which the device reports as an overflow. The
    second form adds only what is selected (r and b then have opposite signs).
    """
    cond, t, f = op.operands
    out_t = cx.result_type()
    add = as_operation(t.owner)
    if (
        isinstance(add, ir.Operation)
        and add.name == "ttir.add"
        and add.operands[0] == f
        and _is_int(f)
        and shape_of(add.result) == shape_of(f)
    ):
        y = add.operands[1]
        zero = cx.emit("full", result=y.type, fill_value=0.0)
        picked = cx.emit("where", cond, y, zero, result=cx.tensor_type(shape_of(f), element_type(y)))
        return [cx.emit("add", f, picked, result=out_t)]
    return [cx.emit("where", cond, t, f, result=out_t)]


def clamp(cx: RewriteContext, op):
    lo, x, hi = op.operands
    return [cx.emit("clamp_tensor", x, lo, hi, result=cx.result_type())]


def convert(cx: RewriteContext, op):
    src = op.operands[0]
    out_t = cx.result_type()
    orig_out = element_type(op.results[0].type)
    floor_div = _integer_floor_div(cx, src, out_t)
    if floor_div is not None:
        return [floor_div]
    if str(orig_out) == "i1" and str(element_type(src)) != "bf16":
        # x != 0, stored as bf16 like every boolean on the device
        zero = cx.emit("full", result=cx.type(src.type), fill_value=0.0)
        return [cx.emit("ne", src, zero, result=out_t)]
    if out_t == src.type:
        return [src]
    return [cx.emit("typecast", src, result=out_t)]


def _is_int(value: ir.Value) -> bool:
    return isinstance(element_type(value), ir.IntegerType) and str(element_type(value)) != "i1"


def _int_source(cx: RewriteContext, value: ir.Value) -> ir.Value | None:
    """The integer tensor a float ``value`` was made from by a typecast (through reshapes,
    repeats and permutes, which are redone on the integers), else None."""
    owner = as_operation(value.owner)
    if not isinstance(owner, ir.Operation):
        return None
    name = owner.name
    if name == "ttir.typecast":
        return owner.operands[0] if _is_int(owner.operands[0]) else None
    layout = {"ttir.reshape": "shape", "ttir.repeat": "repeat_dimensions", "ttir.permute": "permutation"}.get(name)
    if layout is None:
        return None
    inner = _int_source(cx, owner.operands[0])
    if inner is None:
        return None
    t = cx.tensor_type(shape_of(value), element_type(inner))
    return cx.emit(name.removeprefix("ttir."), inner, result=t, **{layout: _ints(owner.attributes[layout])})


def _integer_floor_div(cx: RewriteContext, src: ir.Value, out_t: ir.Type) -> ir.Value | None:
    """torch-mlir lowers integer floor division (``//``, ``div(rounding_mode="floor")``) as
    int(floor(float(a) / float(b))): in f32 on the device that is wrong past 2**24. Seen in
    ``convert(floor(div(typecast(a), typecast(b))))``, it becomes the exact integer form
    q = a / b (truncating), minus one where the remainder is nonzero and its sign differs
    from b's. The float ops it leaves unused are erased by ttir-fusion."""
    if not isinstance(element_type(out_t), ir.IntegerType) or str(element_type(out_t)) == "bf16":
        return None
    floor = as_operation(src.owner)
    if not isinstance(floor, ir.Operation) or floor.name != "ttir.floor":
        return None
    div = as_operation(floor.operands[0].owner)
    if not isinstance(div, ir.Operation) or div.name != "ttir.div":
        return None
    a, b = (_int_source(cx, v) for v in div.operands)
    if a is None or b is None or element_type(a) != element_type(out_t) or element_type(b) != element_type(out_t):
        return None

    def flags(v: ir.Value) -> ir.Type:
        return cx.tensor_type(shape_of(v), ir.BF16Type.get())

    def negative(v: ir.Value) -> ir.Value:
        return cx.emit("lt", v, cx.emit("full", result=v.type, fill_value=0.0), result=flags(v))

    q = cx.emit("div", a, b, result=out_t)
    r = cx.emit("subtract", a, cx.emit("multiply", q, b, result=out_t), result=out_t)
    inexact = cx.emit("ne", r, cx.emit("full", result=out_t, fill_value=0.0), result=flags(r))
    signs_differ = cx.emit("ne", negative(r), negative(b), result=flags(r))
    adjust = cx.emit("typecast", cx.emit("logical_and", inexact, signs_differ, result=flags(r)), result=out_t)
    return cx.emit("subtract", q, adjust, result=out_t)


_INT64_EXTREMES = (-(2**63), 2**63 - 1, 2**64 - 1)


def _int64_reduction_identity(op, arr: np.ndarray) -> bool:
    """Whether the constant is INT64_MIN, INT64_MAX or UINT64_MAX used only as the init value of
    reductions (torch-mlir starts an integer max at INT64_MIN): on 32-bit integers the 32-bit
    extreme is the same identity, while any other use of such a value cannot be narrowed."""
    if arr.size == 0 or arr.dtype.kind not in "iu":
        return False
    first = int(arr.reshape(-1)[0])
    if first not in _INT64_EXTREMES or not np.all(arr == first):
        return False
    uses = list(op.results[0].uses)
    return bool(uses) and all(
        u.owner.name in ("stablehlo.reduce", "stablehlo.reduce_window")
        and u.operand_number >= len(u.owner.operands) // 2
        for u in uses
    )


def constant(cx: RewriteContext, op):
    value = ir.DenseElementsAttr(op.attributes["value"])
    t = ir.RankedTensorType(value.type)
    new_el = narrow_element(t.element_type)
    out_t = cx.result_type()
    if new_el == t.element_type:
        return [cx.emit("constant", result=out_t, value=value)]
    arr = dense_to_numpy(value)
    if str(new_el) in ("i32", "ui32"):  # from i64 / ui64, or an i8 / i16 widened
        lo, hi, np_type = (0, 2**32 - 1, np.uint32) if str(new_el) == "ui32" else (-(2**31), 2**31 - 1, np.int32)
        if _int64_reduction_identity(op, arr):  # a max's or min's start: the 32-bit extreme is as good
            arr = np.clip(arr, lo, hi)
        if arr.size and (int(arr.min()) < lo or int(arr.max()) > hi):
            raise cx.fail(
                f"the constant holds values in [{arr.min()}, {arr.max()}], which do not fit the device's "
                f"32-bit {new_el} integers"
            )
        new_value = _dense(arr.astype(np_type), out_t)
    elif str(new_el) == "f32":
        with np.errstate(over="ignore"):
            narrowed = arr.astype(np.float32)
        # f64's own extremes are the -inf / +inf of a max's or min's padding (torch-mlir's ONNX pools)
        extreme = np.abs(arr) == np.finfo(np.float64).max
        if np.any(np.isinf(narrowed) & np.isfinite(arr) & ~extreme):
            raise cx.fail("the constant holds f64 values outside the f32 range the device computes in")
        new_value = _dense(narrowed, out_t)
    else:  # i1 -> bf16: 1.0 / 0.0
        return [_full_or_constant(cx, arr.astype(np.float32), out_t)]
    return [cx.emit("constant", result=out_t, value=new_value)]


def _dense(arr: np.ndarray, t: ir.Type) -> ir.DenseElementsAttr:
    rt = ir.RankedTensorType(t)
    flat = arr.reshape(-1)
    if flat.size and np.all(flat == flat[0]):
        el = rt.element_type
        scalar = (
            ir.IntegerAttr.get(el, int(flat[0]))
            if isinstance(el, ir.IntegerType)
            else ir.FloatAttr.get(el, float(flat[0]))
        )
        return ir.DenseElementsAttr.get_splat(rt, scalar)
    return ir.DenseElementsAttr.get(np.ascontiguousarray(arr), type=rt.element_type, shape=list(rt.shape))


def _constant_of(cx: RewriteContext, arr: np.ndarray, el: ir.Type) -> ir.Value:
    """A constant tensor of ``arr``'s values in element type ``el`` (via f32 for bf16, which NumPy lacks)."""
    t = ir.RankedTensorType.get(list(arr.shape), el)
    if isinstance(el, ir.IntegerType):
        return cx.emit("constant", result=t, value=_dense(arr.astype(np.int32), t))
    if str(el) in ("f32", "f16"):
        return cx.emit(
            "constant", result=t, value=_dense(arr.astype(np.float32 if str(el) == "f32" else np.float16), t)
        )
    return _full_or_constant(cx, arr.astype(np.float32), t)


def _full_or_constant(cx: RewriteContext, arr: np.ndarray, out_t: ir.Type) -> ir.Value:
    flat = arr.reshape(-1)
    if flat.size == 0 or np.all(flat == flat[0]):
        return cx.emit("full", result=out_t, fill_value=float(flat[0]) if flat.size else 0.0)
    f32_t = ir.RankedTensorType.get(list(arr.shape), ir.F32Type.get())
    c = cx.emit("constant", result=f32_t, value=_dense(arr.astype(np.float32), f32_t))
    return cx.emit("typecast", c, result=out_t)


def empty(cx: RewriteContext, op):
    """``tensor.empty`` (``torch.empty``, ``new_empty``, a window function's buffer): its values are
    unspecified, so the device fills it with zeros rather than reading whatever memory held."""
    if not ir.RankedTensorType(op.results[0].type).has_static_shape:
        raise cx.fail("tensor.empty with a dynamic shape is not supported")
    return [cx.emit("full", result=cx.result_type(), fill_value=0.0)]


def iota(cx: RewriteContext, op):
    """iota, and dynamic_iota whose result shape is static (the shape operand is then redundant)."""
    if not ir.RankedTensorType(op.results[0].type).has_static_shape:
        raise cx.fail("iota with a dynamic result shape is not supported")
    dim = ir.IntegerAttr(op.attributes["iota_dimension"]).value
    return [cx.emit("arange", result=cx.result_type(), start=0.0, step=1.0, arange_dimension=dim)]


def tan(cx: RewriteContext, op):
    t = cx.result_type()
    x = op.operands[0]
    return [cx.emit("div", cx.emit("sin", x, result=t), cx.emit("cos", x, result=t), result=t)]


def _round(cx: RewriteContext, op, ties_to_even: bool) -> ir.Value:
    """Rounding to an integer on the magnitude: r = f + up with f = floor(|x|) and up set when
    the fraction |x| - f is past one half, or is one half and (ties_to_even) f is odd or
    (away from zero) always; r is negated for x < 0.

    The fraction is exact, so halves are found exactly (floor(x + 0.5) rounds 0.49999997 up
    in f32), and the sign is applied by negation (a multiply by sign(x) would go through the
    FPU's TF32 operands); inf and NaN come out as themselves."""
    t = cx.result_type()
    x = op.operands[0]
    bool_t = cx.tensor_type(shape_of(x), ir.BF16Type.get())

    def full(v):
        return cx.emit("full", result=t, fill_value=v)

    magnitude = cx.emit("abs", x, result=t)
    whole = cx.emit("floor", magnitude, result=t)
    fraction = cx.emit("subtract", magnitude, whole, result=t)
    if ties_to_even:
        past = cx.emit("gt", fraction, full(0.5), result=bool_t)
        tie = cx.emit("eq", fraction, full(0.5), result=bool_t)
        odd = cx.emit("ne", cx.emit("remainder", whole, full(2.0), result=t), full(0.0), result=bool_t)
        up = cx.emit("logical_or", past, cx.emit("logical_and", tie, odd, result=bool_t), result=bool_t)
    else:
        up = cx.emit("ge", fraction, full(0.5), result=bool_t)
    if str(element_type(t)) != "bf16":
        up = cx.emit("typecast", up, result=t)
    rounded = cx.emit("add", whole, up, result=t)
    negative = cx.emit("lt", x, full(0.0), result=bool_t)
    return cx.emit("where", negative, cx.emit("neg", rounded, result=t), rounded, result=t)


def round_nearest_even(cx: RewriteContext, op):
    return [_round(cx, op, ties_to_even=True)]


def round_nearest_afz(cx: RewriteContext, op):
    return [_round(cx, op, ties_to_even=False)]


# --- shapes ----------------------------------------------------------------------------


def reshape(cx: RewriteContext, op):
    out = cx.result_type()
    return [cx.emit("reshape", op.operands[0], result=out, shape=list(ir.RankedTensorType(out).shape))]


def transpose(cx: RewriteContext, op):
    return [
        cx.emit("permute", op.operands[0], result=cx.result_type(), permutation=_ints(op.attributes["permutation"]))
    ]


def broadcast_in_dim(cx: RewriteContext, op):
    x = op.operands[0]
    dims = _ints(op.attributes["broadcast_dimensions"])
    out_shape = list(ir.RankedTensorType(op.results[0].type).shape)
    order = sorted(range(len(dims)), key=lambda i: dims[i])
    x = permute(cx, x, order)
    dims = [dims[i] for i in order]
    in_shape = shape_of(x)
    expanded = [1] * len(out_shape)
    for src, dst in enumerate(dims):
        expanded[dst] = in_shape[src]
    x = reshape_to(cx, x, expanded)
    if expanded == out_shape:
        return [x]
    repeats = [o if e == 1 else 1 for e, o in zip(expanded, out_shape)]
    return [cx.emit("repeat", x, result=cx.result_type(), repeat_dimensions=repeats)]


def reverse(cx: RewriteContext, op):
    """Reverses dims by reading rows in reverse order: an embedding with constant indices."""
    x = op.operands[0]
    for dim in _ints(op.attributes["dimensions"]):
        shape = shape_of(x)
        n = shape[dim]
        perm = [dim] + [d for d in range(len(shape)) if d != dim]
        moved = permute(cx, x, perm)
        moved_shape = shape_of(moved)
        rest = math.prod(moved_shape[1:])
        table = reshape_to(cx, moved, [n, rest])
        idx = _constant_of(cx, np.arange(n - 1, -1, -1), ir.IntegerType.get_signless(32))
        rows = cx.emit("embedding", idx, table, result=cx.tensor_type([n, rest], element_type(x)))
        x = permute(cx, reshape_to(cx, rows, moved_shape), [perm.index(d) for d in range(len(shape))])
    return [x]


def slice_(cx: RewriteContext, op):
    return [
        cx.emit(
            "slice_static",
            op.operands[0],
            result=cx.result_type(),
            begins=_ints(op.attributes["start_indices"]),
            ends=_ints(op.attributes["limit_indices"]),
            step=_ints(op.attributes["strides"]),
        )
    ]


def concatenate(cx: RewriteContext, op):
    dim = ir.IntegerAttr(op.attributes["dimension"]).value
    return [cx.emit("concat", list(op.operands), result=cx.result_type(), dim=dim)]


def pad(cx: RewriteContext, op):
    x, value = op.operands
    low, high = _ints(op.attributes["edge_padding_low"]), _ints(op.attributes["edge_padding_high"])
    if any(_ints(op.attributes["interior_padding"])):
        raise cx.fail("interior padding is not supported yet")
    if any(v < 0 for v in low + high):
        raise cx.fail("negative padding is not supported yet")
    fill = splat_value(value)
    if fill is None:
        raise cx.fail("the padding value must be a constant")
    padding = [v for pair in zip(low, high) for v in pair]
    return [cx.emit("pad", x, result=cx.result_type(), padding=padding, value=float(fill))]


# --- matmul -----------------------------------------------------------------------------


def dot_general(cx: RewriteContext, op):
    lhs, rhs = op.operands
    dn = shlo.DotDimensionNumbers(op.attributes["dot_dimension_numbers"])
    lb, lc = list(dn.lhs_batching_dimensions), list(dn.lhs_contracting_dimensions)
    rb, rc = list(dn.rhs_batching_dimensions), list(dn.rhs_contracting_dimensions)
    ls, rs = shape_of(lhs), shape_of(rhs)
    lf = [d for d in range(len(ls)) if d not in lb + lc]
    rf = [d for d in range(len(rs)) if d not in rb + rc]
    batch = [ls[d] for d in lb]
    m = math.prod(ls[d] for d in lf)
    k = math.prod(ls[d] for d in lc)
    n = math.prod(rs[d] for d in rf)
    el = element_type(cx.result_type())

    # lhs as [batch..., M, K], or [batch..., K, M] with transpose_a
    transpose_a = False
    if not lb and len(lf) == 1 and len(lc) == 1 and lc[0] < lf[0]:
        a, transpose_a = lhs, True
    else:
        a = reshape_to(cx, permute(cx, lhs, lb + lf + lc), batch + [m, k])
    transpose_b = False
    if not rb and len(rf) == 1 and len(rc) == 1 and rf[0] < rc[0]:
        b, transpose_b = rhs, True
    else:
        b = reshape_to(cx, permute(cx, rhs, rb + rc + rf), batch + [k, n])
    mm = cx.emit(
        "matmul", a, b, result=cx.tensor_type(batch + [m, n], el), transpose_a=transpose_a, transpose_b=transpose_b
    )
    return [reshape_to(cx, mm, list(ir.RankedTensorType(op.results[0].type).shape))]


# --- convolution and pooling ----------------------------------------------------------------


def _pairs(a: ir.Attribute | None, rank: int) -> list[list[int]]:
    if a is None:
        return [[0, 0] for _ in range(rank)]
    flat = _ints(a)
    return [flat[2 * i : 2 * i + 2] for i in range(rank)]


def convolution(cx: RewriteContext, op):
    """2-D convolution as TTIR's NHWC conv2d; 1-D as a 2-D one over a unit height; a transposed
    one (lhs_dilation) over the input dilated first."""
    x, w = op.operands
    dn = shlo.ConvDimensionNumbers(op.attributes["dimension_numbers"])
    spatial = list(dn.input_spatial_dimensions)
    rank = len(spatial)
    if rank not in (1, 2):
        raise cx.fail(f"{rank}-D convolution is not supported yet (1-D and 2-D are)")
    if ir.IntegerAttr(op.attributes["batch_group_count"]).value != 1:
        raise cx.fail("batch_group_count != 1 is not supported")
    groups = ir.IntegerAttr(op.attributes["feature_group_count"]).value
    unit = [1] * (2 - rank)  # the unit height a 1-D convolution gets
    stride = unit + _ints(_opt(op, "window_strides"), [1] * rank)
    dilation = unit + _ints(_opt(op, "rhs_dilation"), [1] * rank)
    spatial_pads = _pairs(_opt(op, "padding"), rank)
    # a transposed convolution: the input dilated (zeros between its elements), negative padding cut off
    for d, factor in zip(spatial, _ints(_opt(op, "lhs_dilation"), [1] * rank)):
        if factor != 1:
            x = _dilate(cx, x, d, factor)
    for k, d in enumerate(spatial):
        low, high = spatial_pads[k]
        if low < 0 or high < 0:
            shape = shape_of(x)
            begins, ends = [0] * len(shape), list(shape)
            begins[d], ends[d] = max(0, -low), shape[d] - max(0, -high)
            cut = [e - b for b, e in zip(begins, ends)]
            x = cx.emit(
                "slice_static",
                x,
                result=cx.tensor_type(cut, element_type(x)),
                begins=begins,
                ends=ends,
                step=[1] * len(shape),
            )
            spatial_pads[k] = [max(0, low), max(0, high)]
    pads = [[0, 0]] * (2 - rank) + spatial_pads

    el = element_type(cx.result_type())
    nhwc = permute(cx, x, [dn.input_batch_dimension, *spatial, dn.input_feature_dimension])
    s = shape_of(nhwc)
    nhwc = reshape_to(cx, nhwc, [s[0], *unit, *s[1:]])
    oihw = permute(
        cx, w, [dn.kernel_output_feature_dimension, dn.kernel_input_feature_dimension, *dn.kernel_spatial_dimensions]
    )
    ws = shape_of(oihw)
    oihw = reshape_to(cx, oihw, [ws[0], ws[1], *unit, *ws[2:]])
    out_shape = list(ir.RankedTensorType(op.results[0].type).shape)
    ob, of, osp = dn.output_batch_dimension, dn.output_feature_dimension, list(dn.output_spatial_dimensions)
    nhwc_out = [out_shape[ob], *unit, *(out_shape[d] for d in osp), out_shape[of]]
    y = cx.emit(
        "conv2d",
        nhwc,
        oihw,
        bias=None,
        result=cx.tensor_type(nhwc_out, el),
        stride=stride,
        padding=[*pads[0], *pads[1]],
        dilation=dilation,
        groups=groups,
    )
    # N[H]WC -> the requested output layout
    y = reshape_to(cx, y, [nhwc_out[0], *nhwc_out[len(unit) + 1 :]])
    position = {d: i for i, d in enumerate([ob, *osp, of])}
    return [permute(cx, y, [position[d] for d in range(len(out_shape))])]


def _dilate(cx: RewriteContext, x: ir.Value, dim: int, factor: int) -> ir.Value:
    """``factor - 1`` zeros between the elements of ``x`` along ``dim``: each element gets a new
    unit dim padded with zeros, flattened back, the trailing zeros cut."""
    shape, el = shape_of(x), element_type(x)
    n = shape[dim]
    column = reshape_to(cx, x, shape[: dim + 1] + [1] + shape[dim + 1 :])
    padding = [0] * (2 * (len(shape) + 1))
    padding[2 * (dim + 1) + 1] = factor - 1
    spread = shape[: dim + 1] + [factor] + shape[dim + 1 :]
    column = cx.emit("pad", column, result=cx.tensor_type(spread, el), padding=padding, value=0.0)
    flat = reshape_to(cx, column, shape[:dim] + [n * factor] + shape[dim + 1 :])
    begins, ends = [0] * len(shape), shape[:dim] + [n * factor - (factor - 1)] + shape[dim + 1 :]
    return cx.emit(
        "slice_static", flat, result=cx.tensor_type(ends, el), begins=begins, ends=ends, step=[1] * len(shape)
    )


def _body_op(cx: RewriteContext, op) -> str:
    body = op.regions[0].blocks[0]
    ops = [o.operation.name for o in body.operations]
    if len(ops) != 2 or ops[1] != "stablehlo.return":
        raise cx.fail(f"the reduction body {ops} is not a single binary op")
    return ops[0]


_REDUCE_KIND = {
    "stablehlo.add": "sum",
    "stablehlo.maximum": "max",
    "stablehlo.minimum": "min",
    "stablehlo.multiply": "prod",
}
_BOOL_REDUCE = {"stablehlo.or": ("max", 0.0), "stablehlo.and": ("min", 1.0)}
_IDENTITY = {"sum": 0.0, "prod": 1.0, "max": -math.inf, "min": math.inf}
_COMBINE = {"sum": "add", "prod": "multiply", "max": "maximum", "min": "minimum"}


def _arg_reduce(cx: RewriteContext, op):
    """The (value, index) reduce torch-mlir emits for argmax/argmin/max.dim: TTIR max/min and argmax/argmin."""
    body = op.regions[0].blocks[0]
    names = [o.operation.name for o in body.operations]
    directions = [
        shlo.ComparisonDirectionAttr(o.operation.attributes["comparison_direction"]).value
        for o in body.operations
        if o.operation.name == "stablehlo.compare"
    ]
    dims = _ints(op.attributes["dimensions"])
    if len(op.operands) != 4 or len(dims) != 1 or "stablehlo.select" not in names or not directions:
        raise cx.fail("only argmax/argmin-shaped reductions with two results are supported")
    if directions[0] in ("GT", "GE"):
        value_kind, index_kind = "max", "argmax"
    elif directions[0] in ("LT", "LE"):
        value_kind, index_kind = "min", "argmin"
    else:
        raise cx.fail(f"a two-result reduction comparing with {directions[0]} is not argmax/argmin")
    x = op.operands[0]
    values = cx.emit(value_kind, x, result=cx.result_type(0), dim_arg=dims, keep_dim=False)
    indices = cx.emit(index_kind, x, result=cx.result_type(1), dim_arg=dims, keep_dim=False)
    return [values, indices]


def reduce(cx: RewriteContext, op):
    if len(op.results) == 2:
        return _arg_reduce(cx, op)
    if len(op.results) != 1:
        raise cx.fail("reductions with more than two results are not supported")
    x, init = op.operands
    body = _body_op(cx, op)
    dims = _ints(op.attributes["dimensions"])
    out_t = cx.result_type()
    if body in _BOOL_REDUCE:  # any / all over booleans, which the device holds as 1.0 / 0.0
        kind, identity = _BOOL_REDUCE[body]
        y = cx.emit(kind, x, result=out_t, dim_arg=dims, keep_dim=False)
        return [y if splat_value(init) == identity else _apply_init(cx, y, init, kind, out_t)]
    kind = _REDUCE_KIND.get(body)
    if kind is None:
        raise cx.fail(f"reduction with body {body} is not supported")
    y = cx.emit(kind, x, result=out_t, dim_arg=dims, keep_dim=False)
    return [_apply_init(cx, y, init, kind, out_t)]


def _apply_init(cx: RewriteContext, y: ir.Value, init: ir.Value, kind: str, out_t: ir.Type) -> ir.Value:
    """A reduction's init value takes part in it; fold it in unless it is the identity."""
    value = splat_value(init)
    ident = _IDENTITY[kind]
    if value is not None and (
        value == ident or (ident == -math.inf and value <= -3.0e38) or (ident == math.inf and value >= 3.0e38)
    ):
        return y
    if value is not None:
        full = cx.emit("full", result=out_t, fill_value=float(value))
    else:
        shape = shape_of(y)
        full = (
            cx.emit("repeat", reshape_to(cx, init, [1] * len(shape)), result=out_t, repeat_dimensions=shape)
            if shape
            else init
        )
    return cx.emit(_COMBINE[kind], y, full, result=out_t)


_POOL_KIND = {"stablehlo.maximum": "max_pool2d", "stablehlo.add": "sum_pool2d"}


def reduce_window(cx: RewriteContext, op):
    if len(op.results) != 1:
        raise cx.fail("reduce_window with several results is not supported")
    x, init = op.operands
    rank = len(shape_of(x))
    window = _ints(op.attributes["window_dimensions"])
    strides = _ints(_opt(op, "window_strides"), [1] * rank)
    dil = _ints(_opt(op, "window_dilations"), [1] * rank)
    if any(v != 1 for v in _ints(_opt(op, "base_dilations"), [1] * rank)):
        raise cx.fail("base dilations are not supported")
    pads = _pairs(_opt(op, "padding"), rank)
    kind = _POOL_KIND.get(_body_op(cx, op))
    if kind is None:
        raise cx.fail(f"reduce_window with body {_body_op(cx, op)} is not supported (max and sum are)")
    active = [d for d in range(rank) if window[d] != 1 or strides[d] != 1 or pads[d] != [0, 0] or dil[d] != 1]
    if kind == "sum_pool2d" and len(active) == 1 and strides[active[0]] == 1 and dil[active[0]] == 1:
        return [
            _apply_init(
                cx, _window_sum_1d(cx, x, active[0], window[active[0]], pads[active[0]]), init, "sum", cx.result_type()
            )
        ]
    if rank != 4 or len(active) > 2:
        return [_pool_by_slices(cx, op, x, init, window, strides, dil, pads, kind)]
    # The two pooled dims: those the window touches, NCHW's (2, 3) by default.
    spatial = next((c for c in ([2, 3], [1, 2]) if set(active) <= set(c)), active)
    rest = [d for d in range(4) if d not in spatial]
    perm = [rest[0], spatial[0], spatial[1], rest[1]]
    nhwc = permute(cx, x, perm)
    out_shape = list(ir.RankedTensorType(op.results[0].type).shape)
    nhwc_out = [out_shape[d] for d in perm]
    y = cx.emit(
        kind,
        nhwc,
        result=cx.tensor_type(nhwc_out, element_type(cx.result_type())),
        kernel_size=[window[d] for d in spatial],
        stride=[strides[d] for d in spatial],
        padding=[*pads[spatial[0]], *pads[spatial[1]]],
        dilation=[dil[d] for d in spatial],
        ceil_mode=False,
    )
    inverse = [perm.index(d) for d in range(4)]
    y = permute(cx, y, inverse)
    init_kind = "max" if kind == "max_pool2d" else "sum"
    return [_apply_init(cx, y, init, init_kind, cx.result_type())]


def _pool_by_slices(cx: RewriteContext, op, x, init, window, strides, dil, pads, kind) -> ir.Value:
    """Pooling over any number of dims: the input padded with the init value (as reduce_window
    pads), then one strided slice per kernel offset, combined elementwise."""
    shape, el = shape_of(x), element_type(x)
    out_t = cx.result_type()
    out = list(ir.RankedTensorType(op.results[0].type).shape)
    if math.prod(window) > 512:
        raise cx.fail(f"a pooling window of {math.prod(window)} elements over a {len(shape)}-D tensor is too large")
    if any(p != [0, 0] for p in pads):
        fill = splat_value(init)
        if fill is None:
            raise cx.fail("a padded reduce_window needs a constant init value")
        fill = float(fill)
        if abs(fill) >= 3.0e38:  # the f64 lowest/highest torch-mlir pads max/min pools with
            fill = math.copysign(math.inf, fill)
        padded = [n + lo + hi for n, (lo, hi) in zip(shape, pads)]
        padding = [v for pair in pads for v in pair]
        x = cx.emit("pad", x, result=cx.tensor_type(padded, el), padding=padding, value=fill)
    combine = "maximum" if kind == "max_pool2d" else "add"
    y = None
    for offset in np.ndindex(*window):
        begins = [int(t) * d for t, d in zip(offset, dil)]
        ends = [b + (o - 1) * s + 1 for b, o, s in zip(begins, out, strides)]
        part = cx.emit("slice_static", x, result=cx.tensor_type(out, el), begins=begins, ends=ends, step=list(strides))
        y = part if y is None else cx.emit(combine, y, part, result=cx.tensor_type(out, el))
    return _apply_init(cx, y, init, "max" if kind == "max_pool2d" else "sum", out_t)


def _window_sum_1d(cx: RewriteContext, x: ir.Value, dim: int, size: int, pad: list[int]) -> ir.Value:
    """A stride-1 window sum along one dim (cumsum is one) as a matmul with a 0/1 band matrix.

    out[j] = sum of x[i] for j - low <= i <= j - low + size - 1, i.e. x @ band.
    """
    shape = shape_of(x)
    n = shape[dim]
    low, high = pad
    out_n = n + low + high - size + 1
    i = np.arange(n)[:, None]
    j = np.arange(out_n)[None, :]
    band = ((i >= j - low) & (i <= j - low + size - 1)).astype(np.float32)
    el = element_type(cx.result_type())
    band_v = _constant_of(cx, band, el)
    perm = [d for d in range(len(shape)) if d != dim] + [dim]
    moved = permute(cx, x, perm)
    moved_shape = shape_of(moved)
    y = cx.emit(
        "matmul",
        moved,
        band_v,
        result=cx.tensor_type(moved_shape[:-1] + [out_n], el),
        transpose_a=False,
        transpose_b=False,
    )
    return permute(cx, y, [perm.index(d) for d in range(len(shape))])


# --- gather ------------------------------------------------------------------------------------


def gather(cx: RewriteContext, op):
    """The embedding form of gather: rows of a 2-D table picked by integer indices."""
    table, indices = op.operands
    dn = shlo.GatherDimensionNumbers(op.attributes["dimension_numbers"])
    sizes = _ints(op.attributes["slice_sizes"])
    ts, ishape = shape_of(table), shape_of(indices)
    out_shape = list(ir.RankedTensorType(op.results[0].type).shape)
    rest = ts[1:]
    is_embedding = (
        len(ts) >= 2
        and list(dn.collapsed_slice_dims) == [0]
        and list(dn.start_index_map) == [0]
        and sizes == [1, *rest]
        and list(dn.offset_dims) == list(range(len(out_shape) - len(rest), len(out_shape)))
        and not list(dn.operand_batching_dims)
    )
    is_point = (
        not list(dn.offset_dims)
        and sorted(dn.collapsed_slice_dims) == list(range(len(ts)))
        and all(v == 1 for v in sizes)
        and not list(dn.operand_batching_dims)
        and dn.index_vector_dim == len(ishape) - 1
    )
    if is_point:
        return [_point_gather(cx, table, indices, list(dn.start_index_map))]
    if not is_embedding:
        return [_slice_gather(cx, op, table, indices, dn, sizes)]
    ivd = dn.index_vector_dim
    if ivd == len(ishape) - 1 and ishape[-1] == 1:
        indices = reshape_to(cx, indices, ishape[:-1])
    elif ivd != len(ishape):
        raise cx.fail("unsupported index_vector_dim for the embedding form of gather")
    if len(rest) == 1:
        return [cx.emit("embedding", indices, table, result=cx.result_type())]
    # rows of a higher-rank table: embed its flattened rows, then restore their shape
    width = math.prod(rest)
    rows_t = cx.tensor_type(shape_of(indices) + [width], element_type(table))
    rows = cx.emit("embedding", indices, reshape_to(cx, table, [ts[0], width]), result=rows_t)
    return [reshape_to(cx, rows, out_shape)]


def _slice_gather(cx: RewriteContext, op, table: ir.Value, indices: ir.Value, dn, sizes: list[int]) -> ir.Value:
    """A gather whose index vectors pick one position along the dims ``start_index_map`` and
    take every other dim whole (ONNX Gather on any axis, take_along a set of dims), as an
    embedding: the indexed dims go first and flatten into rows (each index vector becomes
    its row-major row number), the others into the row width; the gathered rows are then
    reshaped and permuted into the result's layout."""
    ts, ishape = shape_of(table), shape_of(indices)
    index_map = list(dn.start_index_map)
    if list(dn.operand_batching_dims) or len(set(index_map)) != len(index_map):
        raise cx.fail("a gather with batching dims or a repeated start_index_map is not supported")
    for d in range(len(ts)):
        if d in index_map and sizes[d] != 1:
            raise cx.fail(f"a gather slicing {sizes[d]} of {ts[d]} along indexed dim {d} is not supported")
        if d not in index_map and sizes[d] != ts[d]:
            raise cx.fail(f"a gather taking {sizes[d]} of {ts[d]} along unindexed dim {d} is not supported")
    ivd = dn.index_vector_dim
    if ivd == len(ishape):  # index vectors of one entry, implicit
        indices = reshape_to(cx, indices, ishape + [1])
    elif ivd != len(ishape) - 1:
        perm = [d for d in range(len(ishape)) if d != ivd] + [ivd]
        indices = permute(cx, indices, perm)
    batch = shape_of(indices)[:-1]
    rest = [d for d in range(len(ts)) if d not in index_map]
    moved = permute(cx, table, index_map + rest)
    rows = math.prod(ts[d] for d in index_map)
    width = math.prod(ts[d] for d in rest)
    strides = [math.prod(ts[e] for e in index_map[k + 1 :]) for k in range(len(index_map))]
    linear = _linear_index(cx, indices, strides)
    el = element_type(table)
    picked = cx.emit(
        "embedding", linear, reshape_to(cx, moved, [rows, width]), result=cx.tensor_type(batch + [width], el)
    )
    # [batch..., the window's dims in operand order] -> the result's layout
    window = [d for d in range(len(ts)) if d not in dn.collapsed_slice_dims]
    picked = reshape_to(cx, picked, batch + [sizes[d] for d in window])
    out_rank = len(batch) + len(window)
    offset = list(dn.offset_dims)
    batch_pos = [p for p in range(out_rank) if p not in offset]
    perm = [0] * out_rank
    for k, p in enumerate(batch_pos):
        perm[p] = k
    for k, p in enumerate(offset):
        perm[p] = len(batch) + k
    return reshape_to(cx, permute(cx, picked, perm), list(ir.RankedTensorType(op.results[0].type).shape))


def _point_gather(cx: RewriteContext, table: ir.Value, indices: ir.Value, index_map: list[int]) -> ir.Value:
    """Gather of single elements by full coordinates (torch.gather's form) as an embedding.

    The table becomes a column [numel, 1]; each coordinate vector becomes the
    row-major linear index sum(idx[..., k] * stride[index_map[k]]).
    """
    ts, ishape = shape_of(table), shape_of(indices)
    batch = ishape[:-1]
    strides = [math.prod(ts[d + 1 :]) for d in range(len(ts))]
    linear = _linear_index(cx, indices, [strides[d] for d in index_map])
    column = reshape_to(cx, table, [math.prod(ts), 1])
    rows = cx.emit("embedding", linear, column, result=cx.tensor_type(batch + [1], element_type(column)))
    return reshape_to(cx, rows, list(ir.RankedTensorType(cx.result_type()).shape))


def _linear_index(cx: RewriteContext, indices: ir.Value, strides: list[int]) -> ir.Value:
    """sum(indices[..., k] * strides[k]) over the last dim of ``indices`` (the index vectors)."""
    ishape = shape_of(indices)
    batch = ishape[:-1]
    idx_el = element_type(indices)
    linear = None
    for k, stride in enumerate(strides):
        begins = [0] * len(ishape)
        ends = list(ishape)
        begins[-1], ends[-1] = k, k + 1
        part = cx.emit(
            "slice_static",
            indices,
            result=cx.tensor_type(batch + [1], idx_el),
            begins=begins,
            ends=ends,
            step=[1] * len(ishape),
        )
        part = reshape_to(cx, part, batch)
        if stride != 1:
            factor = cx.emit("full", result=cx.tensor_type(batch, idx_el), fill_value=float(stride))
            part = cx.emit("multiply", part, factor, result=cx.tensor_type(batch, idx_el))
        linear = part if linear is None else cx.emit("add", linear, part, result=cx.tensor_type(batch, idx_el))
    return linear


# --- scatter -----------------------------------------------------------------------------------


def _scatter_kind(cx: RewriteContext, op) -> str:
    """The update computation: "none" when the body returns the update (assignment), "sum" when it adds it."""
    body = op.regions[0].blocks[0]
    ops = [o.operation for o in body.operations]
    current, update = body.arguments[0], body.arguments[1]
    if len(ops) == 1 and ops[0].operands[0] == update:
        return "none"
    if (
        len(ops) == 2
        and ops[0].name == "stablehlo.add"
        and set(ops[0].operands) == {current, update}
        and ops[1].operands[0] == ops[0].results[0]
    ):
        return "sum"
    names = [o.name for o in ops]
    raise cx.fail(f"a scatter whose update computation is {names} is not supported (assignment and add are)")


def scatter(cx: RewriteContext, op):
    """The scatter torch-mlir emits for index_put, scatter, scatter_add and index_add, as one
    TTIR scatter of rows along dim 0.

    Each index vector addresses whole slices of the operand: it picks a position along the
    dims ``scatter_dims_to_operand_dims`` (all of them inserted window dims), and the update
    window covers every other dim in full. The operand becomes [positions, slice] (indexed
    dims first, flattened), each index vector its row-major linear position, and the
    updates [index vectors, slice]; the result is put back in the operand's layout.
    """
    if len(op.results) != 1:
        raise cx.fail("a scatter of several operands is not supported")
    if kind_of(node_of_location(op.location) or "") == "update_cache":
        found = _cache_update(cx, op)
        if found is not None:
            return [found]
    operand, indices, updates = op.operands
    dn = shlo.ScatterDimensionNumbers(op.attributes["scatter_dimension_numbers"])
    if list(dn.input_batching_dims) or list(dn.scatter_indices_batching_dims):
        raise cx.fail("a scatter with batching dims is not supported")
    kind = _scatter_kind(cx, op)
    if str(element_type(op.results[0].type)) == "i1" and kind == "sum":
        raise cx.fail("an adding scatter on booleans is not supported")
    os_, ishape, us = shape_of(operand), shape_of(indices), shape_of(updates)
    index_map = list(dn.scattered_dims_to_operand_dims)
    window = list(dn.update_window_dims)
    ivd = dn.index_vector_dim
    if ivd == len(ishape):  # implicit index vectors of one entry
        ishape = ishape + [1]
        indices = reshape_to(cx, indices, ishape)
    elif ivd != len(ishape) - 1:
        raise cx.fail(f"index_vector_dim {ivd} is not the last dim of the indices {ishape}")
    rest = [d for d in range(len(os_)) if d not in index_map]
    if sorted(dn.inserted_window_dims) != sorted(index_map) or len(set(index_map)) != len(index_map):
        raise cx.fail("only a scatter whose indexed dims are all inserted window dims is supported")
    scatter_dims = [d for d in range(len(us)) if d not in window]
    batch = ishape[:-1]
    if len(window) != len(rest) or [us[d] for d in window] != [os_[d] for d in rest]:
        raise cx.fail("only a scatter whose update windows span the operand's other dims in full is supported")
    if [us[d] for d in scatter_dims] != batch:
        raise cx.fail(f"the updates {us} do not match the index vectors {batch}")
    positions = math.prod(os_[d] for d in index_map)
    width = math.prod(os_[d] for d in rest)
    count = math.prod(batch)
    el = element_type(cx.result_type())
    perm = index_map + rest
    x = reshape_to(cx, permute(cx, operand, perm), [positions, width])
    strides = [math.prod(os_[d] for d in index_map[k + 1 :]) for k in range(len(index_map))]
    linear = reshape_to(cx, _linear_index(cx, indices, strides), [count, 1])
    idx_el = element_type(linear)
    if width != 1:
        linear = cx.emit("repeat", linear, result=cx.tensor_type([count, width], idx_el), repeat_dimensions=[1, width])
    source = reshape_to(cx, permute(cx, updates, scatter_dims + window), [count, width])
    y = cx.emit(
        "scatter",
        x,
        linear,
        source,
        result=cx.tensor_type([positions, width], el),
        dim=0,
        scatter_reduce_type=kind,
    )
    y = reshape_to(cx, y, [os_[d] for d in perm])
    return [permute(cx, y, [perm.index(d) for d in range(len(os_))])]


def _cache_update(cx: RewriteContext, op):
    """``ttir.update_cache`` for the scatter of a node the frontend named ``update_cache``
    (tt_torch/dynamo/mutations.py: ``index_put(cache, [None, None, pos], new)`` into a graph
    input that the call writes back and nothing else reads): cache [B, H, S, D], new
    [B, H, 1, D]. torch-mlir indexes every element, its index vector's third component
    the position broadcast; that one value is the update's index. None when the scatter
    does not have this form (it stays a scatter)."""
    operand, indices, updates = op.operands
    shape, new = shape_of(operand), shape_of(updates)
    if not isinstance(operand.owner, ir.Block) or len(shape) != 4 or new != [shape[0], shape[1], 1, shape[3]]:
        return None
    if element_type(operand) != element_type(updates) or _scatter_kind(cx, op) != "none":
        return None
    dn = shlo.ScatterDimensionNumbers(op.attributes["scatter_dimension_numbers"])
    full = [0, 1, 2, 3]
    if (
        list(dn.scattered_dims_to_operand_dims) != full
        or list(dn.inserted_window_dims) != full
        or dn.index_vector_dim != 4
    ):
        return None
    grid = as_operation(indices.owner)
    if not isinstance(grid, ir.Operation) or grid.name != "ttir.concat" or len(grid.operands) != 4:
        return None
    if ir.IntegerAttr(grid.attributes["dim"]).value != 4 or any(shape_of(v)[-1] != 1 for v in grid.operands):
        return None
    position = grid.operands[2]
    while math.prod(shape_of(position)) != 1:
        source = as_operation(position.owner)
        if not isinstance(source, ir.Operation) or source.name not in ("ttir.reshape", "ttir.repeat", "ttir.typecast"):
            return None
        position = source.operands[0]
    index = reshape_to(cx, position, [1])
    return cx.emit("update_cache", operand, updates, index, result=cx.result_type(), batch_offset=0)


# --- sort -----------------------------------------------------------------------------------------

_SORT_DIRECTION = {"LT": False, "LE": False, "GT": True, "GE": True}


def sort(cx: RewriteContext, op):
    """The sort torch-mlir emits for sort, argsort, msort and topk: the values, and optionally
    an iota along the sorted dim that becomes the indices, ordered by one comparison of the
    values. TTIR's sort is stable, so ties keep their order (as in eager's CPU sort)."""
    dim = ir.IntegerAttr(op.attributes["dimension"]).value
    x = op.operands[0]
    rank = len(shape_of(x))
    dim = dim + rank if dim < 0 else dim
    if len(op.operands) == 2:
        iota = as_operation(op.operands[1].owner)
        if not (
            isinstance(iota, ir.Operation)
            and iota.name == "ttir.arange"
            and ir.IntegerAttr(iota.attributes["arange_dimension"]).value == dim
            and ir.FloatAttr(iota.attributes["start"]).value == 0.0
            and ir.FloatAttr(iota.attributes["step"]).value == 1.0
        ):
            raise cx.fail("only a sort whose second operand is an iota along the sorted dim (the indices) is supported")
    elif len(op.operands) != 1:
        raise cx.fail(f"a sort of {len(op.operands)} operands is not supported (the values and their indices are)")
    body = op.regions[0].blocks[0]
    ops = [o.operation for o in body.operations]
    args = list(body.arguments)
    if len(ops) != 2 or ops[0].name != "stablehlo.compare" or ops[1].operands[0] != ops[0].results[0]:
        raise cx.fail(f"a sort comparing with {[o.name for o in ops]} is not supported (one comparison is)")
    direction = shlo.ComparisonDirectionAttr(ops[0].attributes["comparison_direction"]).value
    lhs, rhs = ops[0].operands
    if direction not in _SORT_DIRECTION or {lhs, rhs} != {args[0], args[1]}:
        raise cx.fail(f"a sort comparing with {direction} or not on the values is not supported")
    descending = _SORT_DIRECTION[direction] == (lhs == args[0])
    values_t = cx.result_type(0)
    indices_t = (
        cx.result_type(1) if len(op.results) == 2 else cx.tensor_type(shape_of(x), ir.IntegerType.get_signless(32))
    )
    sorted_op = build(
        ttir.OPS["sort"],
        [x],
        {k: attr(v) for k, v in {"dim": dim, "descending": descending, "stable": True}.items()},
        [values_t, indices_t],
        cx.loc,
    )
    return list(sorted_op.operation.results)[: len(op.results)]
