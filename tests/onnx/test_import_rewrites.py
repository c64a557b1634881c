"""The ONNX import's own rewrites, each compiled strictly (no CPU fallback) and run on the device
against ONNX Runtime or numpy: nodes replaced by their function bodies when torch-mlir fails
on them, Resize as weight-matrix products, Pad by a run-time value, and the general
StableHLO gather torch-mlir makes of Gather on any axis."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from tt_torch.errors import FrontendError
from tt_torch.frontend import onnx_functions
from tt_torch.onnx_compile import compile_onnx, reference
from tt_torch.tools.utils import CompilerConfig

pytestmark = pytest.mark.usefixtures("fast_numerics")

STRICT = CompilerConfig(numerics="fast", enable_cpu_fallback=False)


@pytest.fixture(autouse=True)
def _no_compile_cache(monkeypatch):
    monkeypatch.setenv("TT_TORCH_CACHE_DIR", "off")


def _model(nodes, inputs, outputs, initializers=(), opset=23) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    return model


def _info(name, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def _check(model: onnx.ModelProto, *inputs: np.ndarray, expected=None, atol: float = 1e-4):
    """``model`` on the device against ONNX Runtime (or ``expected``); returns the compiled model."""
    compiled = compile_onnx(model, STRICT)
    try:
        got = compiled(*inputs)
    finally:
        compiled.close()
    if expected is None:
        expected = reference.session(model).run(None, {i.name: x for i, x in zip(model.graph.input, inputs)})
    for e, g in zip(expected, got):
        e = torch.from_numpy(np.array(e, copy=True))
        assert g.shape == e.shape and g.dtype == e.dtype, f"{g.dtype}{tuple(g.shape)} vs {e.dtype}{tuple(e.shape)}"
        torch.testing.assert_close(g, e, rtol=atol, atol=atol)
    return compiled


rng = np.random.default_rng(0)


# --- function bodies ------------------------------------------------------------------------------


def test_rms_normalization_is_expanded_into_its_function_body():
    """torch-mlir's own expansion of RMSNormalization leaves its axes computed at run time; the
    body expanded here folds them, and the node is reported as expanded."""
    node = helper.make_node("RMSNormalization", ["x", "w"], ["y"], axis=1, epsilon=1e-3, name="norm")
    model = _model([node], [_info("x", [3, 4, 5]), _info("w", [4, 5])], [_info("y", [3, 4, 5])])
    x, w = rng.standard_normal((3, 4, 5)).astype(np.float32), rng.standard_normal((4, 5)).astype(np.float32)
    want = x / np.sqrt(np.mean(x * x, axis=(1, 2), keepdims=True) + 1e-3) * w
    compiled = _check(model, x, w, expected=[want])
    assert compiled.prepared.expanded == [("norm", "RMSNormalization")]


def test_nested_bodies_expand_with_the_outer_defaults():
    """SoftmaxCrossEntropyLoss expands into a body holding NegativeLogLikelihoodLoss, which expands
    in a later round; its ignore_index attribute reaches the inner op."""
    node = helper.make_node("SoftmaxCrossEntropyLoss", ["x", "t"], ["loss"], reduction="mean", ignore_index=2)
    model = _model(
        [node], [_info("x", [3, 5, 2]), _info("t", [3, 2], TensorProto.INT64)], [_info("loss", [])], opset=13
    )
    x = rng.standard_normal((3, 5, 2)).astype(np.float32)
    t = np.array([[0, 2], [4, 1], [2, 3]], dtype=np.int64)
    compiled = _check(model, x, t)
    assert {op for _, op in compiled.prepared.expanded} >= {"SoftmaxCrossEntropyLoss"}


def test_a_node_torch_mlir_lowers_is_left_whole():
    node = helper.make_node("LayerNormalization", ["x", "w"], ["y"], axis=-1)
    model = _model([node], [_info("x", [2, 6]), _info("w", [6])], [_info("y", [2, 6])], opset=17)
    compiled = _check(model, rng.standard_normal((2, 6)).astype(np.float32), np.ones(6, np.float32))
    assert compiled.prepared.expanded == []


def test_function_body_binds_attributes_and_defaults():
    node = helper.make_node("RMSNormalization", ["x", "w"], ["y"], name="n")
    model = onnx.shape_inference.infer_shapes(
        _model([node], [_info("x", [2, 3]), _info("w", [3])], [_info("y", [2, 3])])
    )
    expanded, done = onnx_functions.expand(model, ["n"])
    assert [e.op_type for e in done] == ["RMSNormalization"] and done[0].inner == len(expanded.graph.node)
    assert all(n.domain == "" for n in expanded.graph.node)
    assert all(n.name.startswith("n/") for n in expanded.graph.node)
    assert {i.domain for i in expanded.opset_import} == {""}


# --- Resize ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "attrs",
    [
        dict(mode="linear"),
        dict(mode="cubic", coordinate_transformation_mode="align_corners"),
        dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="ceil"),
        dict(mode="linear", antialias=1),
    ],
    ids=["linear", "cubic_align_corners", "nearest_ceil", "linear_antialias"],
)
def test_resize_as_weight_matrices_matches_onnx_runtime(attrs):
    down = attrs.get("antialias")
    scales = np.array([1, 1, 0.6, 0.5] if down else [1, 1, 2.0, 1.5], dtype=np.float32)
    out = [1, 2, 3, 4] if down else [1, 2, 10, 12]
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], **attrs)
    model = _model(
        [node], [_info("x", [1, 2, 5, 8])], [_info("y", out)], [numpy_helper.from_array(scales, "scales")], opset=19
    )
    _check(model, rng.standard_normal((1, 2, 5, 8)).astype(np.float32))


def test_resize_crop_with_extrapolation_and_sizes():
    roi = numpy_helper.from_array(np.array([0.4, 0.6, 0.6, 0.8], dtype=np.float32), "roi")
    sizes = numpy_helper.from_array(np.array([3, 3], dtype=np.int64), "sizes")
    node = helper.make_node(
        "Resize",
        ["x", "roi", "", "sizes"],
        ["y"],
        mode="linear",
        coordinate_transformation_mode="tf_crop_and_resize",
        extrapolation_value=10.0,
        axes=[2, 3],
    )
    model = _model([node], [_info("x", [1, 1, 4, 4])], [_info("y", [1, 1, 3, 3])], [roi, sizes], opset=19)
    _check(model, rng.standard_normal((1, 1, 4, 4)).astype(np.float32))


# --- Pad, Gather ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [1.5, -np.inf])
def test_pad_by_a_run_time_value(value):
    pads = numpy_helper.from_array(np.array([0, 1, 2, 0], dtype=np.int64), "pads")
    node = helper.make_node("Pad", ["x", "pads", "v"], ["y"], mode="constant")
    model = _model([node], [_info("x", [2, 3]), _info("v", [])], [_info("y", [4, 4])], [pads], opset=19)
    x, v = rng.standard_normal((2, 3)).astype(np.float32), np.array(value, dtype=np.float32)
    _check(model, x, v, expected=[np.pad(x, [[0, 2], [1, 0]], constant_values=value)])


@pytest.mark.parametrize("axis", [1, 2])
def test_gather_on_an_inner_axis_with_negative_indices(axis):
    """torch-mlir makes a general stablehlo.gather of Gather on an inner axis."""
    x = rng.standard_normal((2, 5, 6)).astype(np.float32)
    idx = np.array([[0, -1], [3, 1], [-2, 2]], dtype=np.int64)
    node = helper.make_node("Gather", ["x", "i"], ["y"], axis=axis)
    out = [2, 3, 2, 6] if axis == 1 else [2, 5, 3, 2]
    model = _model([node], [_info("x", [2, 5, 6]), _info("i", [3, 2], TensorProto.INT64)], [_info("y", out)], opset=13)
    _check(model, x, idx, expected=[np.take(x, idx, axis=axis)])


def test_affine_grid_body_folds_its_branches():
    """AffineGrid's body picks 2-D or 3-D with If nodes on the size input: known here, they fold."""
    size = numpy_helper.from_array(np.array([2, 1, 3, 4], dtype=np.int64), "size")
    node = helper.make_node("AffineGrid", ["theta", "size"], ["grid"], align_corners=0)
    model = _model([node], [_info("theta", [2, 2, 3])], [_info("grid", [2, 3, 4, 2])], [size], opset=20)
    compiled = _check(model, rng.standard_normal((2, 2, 3)).astype(np.float32))
    assert [op for _, op in compiled.prepared.expanded] == ["AffineGrid"]


# --- Hardmax, pooling, DFT ------------------------------------------------------------------------


def test_hardmax_marks_the_first_maximum():
    x = np.array([[1, 3, 3, 0], [2, 2, -1, 2], [0, 0, 0, 0]], dtype=np.float32)
    model = _model([helper.make_node("Hardmax", ["x"], ["y"], axis=1)], [_info("x", [3, 4])], [_info("y", [3, 4])])
    want = np.zeros_like(x)
    want[np.arange(3), np.argmax(x, axis=1)] = 1
    _check(model, x, expected=[want])


@pytest.mark.parametrize("include_pad", [0, 1])
def test_average_pool_3d_dilated_ceil_mode(include_pad):
    node = helper.make_node(
        "AveragePool",
        ["x"],
        ["y"],
        kernel_shape=[3, 2, 2],
        strides=[2, 2, 1],
        dilations=[1, 2, 1],
        pads=[1, 0, 1, 0, 1, 0],
        ceil_mode=1,
        count_include_pad=include_pad,
    )
    model = onnx.shape_inference.infer_shapes(
        _model([node], [_info("x", [1, 2, 7, 6, 5])], [_info("y", None)], opset=22)
    )
    _check(model, rng.standard_normal((1, 2, 7, 6, 5)).astype(np.float32))


def test_average_pool_same_upper():
    node = helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 2], auto_pad="SAME_UPPER")
    model = _model([node], [_info("x", [1, 3, 7, 6])], [_info("y", [1, 3, 7, 6])], opset=22)
    _check(model, rng.standard_normal((1, 3, 7, 6)).astype(np.float32))


def test_lp_pool_3d():
    node = helper.make_node("LpPool", ["x"], ["y"], kernel_shape=[2, 2, 2], p=3, strides=[1, 2, 2])
    model = _model([node], [_info("x", [1, 2, 4, 5, 6])], [_info("y", [1, 2, 3, 2, 3])], opset=22)
    _check(model, rng.standard_normal((1, 2, 4, 5, 6)).astype(np.float32))


@pytest.mark.parametrize(
    "shape,attrs,length",
    [((2, 8, 2), dict(), None), ((2, 8, 2), dict(inverse=1), None), ((1, 6, 3, 1), dict(onesided=1), 8)],
    ids=["complex", "inverse", "real_onesided_padded"],
)
def test_dft_as_cosine_and_sine_products(shape, attrs, length):
    x = rng.standard_normal(shape).astype(np.float32)
    signal = x[..., 0] + (1j * x[..., 1] if shape[-1] == 2 else 0)
    n = length or shape[1]
    spectrum = np.fft.ifft(signal, n=n, axis=1) if attrs.get("inverse") else np.fft.fft(signal, n=n, axis=1)
    if attrs.get("onesided"):
        spectrum = spectrum[:, : n // 2 + 1]
    inputs = ["x", "n" if length else "", "axis"]
    inits = [numpy_helper.from_array(np.array(1, dtype=np.int64), "axis")]
    if length:
        inits.append(numpy_helper.from_array(np.array(length, dtype=np.int64), "n"))
    want = np.stack([spectrum.real, spectrum.imag], axis=-1).astype(np.float32)
    node = helper.make_node("DFT", inputs, ["y"], **attrs)
    model = _model([node], [_info("x", list(shape))], [_info("y", list(want.shape))], inits, opset=20)
    _check(model, x, expected=[want])


# --- max pooling, einsum of scalars ----------------------------------------------------------------


def test_max_pool_3d_over_strided_slices():
    """A 3-D max pool reaches the compiler as a reduce_window over 5-D: strided slices, combined."""
    node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 3, 2], strides=[1, 2, 2], pads=[1, 1, 0, 0, 1, 1])
    model = onnx.shape_inference.infer_shapes(
        _model([node], [_info("x", [1, 2, 5, 6, 5])], [_info("y", None)], opset=22)
    )
    _check(model, rng.standard_normal((1, 2, 5, 6, 5)).astype(np.float32))


def test_max_pool_ceil_mode_and_same_padding():
    ceil = helper.make_node("MaxPool", ["x"], ["a"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    same = helper.make_node("MaxPool", ["x"], ["b"], kernel_shape=[2, 2], auto_pad="SAME_LOWER")
    model = _model([ceil, same], [_info("x", [1, 1, 4, 4])], [_info("a", [1, 1, 2, 2]), _info("b", [1, 1, 4, 4])])
    _check(model, rng.standard_normal((1, 1, 4, 4)).astype(np.float32))


def test_max_pool_of_uint8():
    node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2])
    model = _model([node], [_info("x", [1, 1, 3, 3], TensorProto.UINT8)], [_info("y", [1, 1, 2, 2], TensorProto.UINT8)])
    _check(model, rng.integers(0, 255, (1, 1, 3, 3)).astype(np.uint8))


def test_einsum_of_scalars():
    node = helper.make_node("Einsum", ["x", "w"], ["y"], equation=",->")
    model = _model([node], [_info("x", []), _info("w", [])], [_info("y", [])], opset=12)
    x, w = np.array(1.5, np.float32), np.array(-2.0, np.float32)
    _check(model, x, w, expected=[np.array(-3.0, np.float32)])


@pytest.mark.parametrize(
    "attrs",
    [dict(strides=[2, 2], pads=[1, 0, 1, 0], output_padding=[1, 1]), dict(strides=[3, 2], pads=[2, 2, 2, 2])],
    ids=["output_padding", "pads_beyond_kernel"],
)
def test_conv_transpose_as_a_convolution_of_the_dilated_input(attrs):
    """torch-mlir makes a StableHLO convolution with lhs_dilation (and negative padding) of it."""
    x = rng.standard_normal((1, 2, 4, 5)).astype(np.float32)
    w = numpy_helper.from_array(rng.standard_normal((2, 3, 3, 3)).astype(np.float32), "w")
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], **attrs)
    model = onnx.shape_inference.infer_shapes(_model([node], [_info("x", [1, 2, 4, 5])], [_info("y", None)], [w]))
    _check(model, x)


# --- Dropout, CumProd, OneHot, Compress, Col2Im, QLinearMatMul ------------------------------------


def test_dropout_at_inference_keeps_everything():
    node = helper.make_node("Dropout", ["x", "r"], ["y", "mask"])
    ratio = numpy_helper.from_array(np.array(0.5, np.float32), "r")
    model = _model([node], [_info("x", [2, 3])], [_info("y", [2, 3]), _info("mask", [2, 3], TensorProto.BOOL)], [ratio])
    x = rng.standard_normal((2, 3)).astype(np.float32)
    _check(model, x, expected=[x, np.ones((2, 3), bool)])


@pytest.mark.parametrize("exclusive,reverse", [(0, 0), (1, 1)])
def test_cum_prod(exclusive, reverse):
    axis = numpy_helper.from_array(np.array(1, np.int64), "axis")
    node = helper.make_node("CumProd", ["x", "axis"], ["y"], exclusive=exclusive, reverse=reverse)
    model = _model([node], [_info("x", [2, 4])], [_info("y", [2, 4])], [axis], opset=26)
    x = rng.uniform(0.5, 2.0, (2, 4)).astype(np.float32)
    src = x[:, ::-1] if reverse else x
    want = np.cumprod(src, axis=1)
    if exclusive:
        want = np.concatenate([np.ones((2, 1), np.float32), want[:, :-1]], axis=1)
    _check(model, x, expected=[want[:, ::-1] if reverse else want])


def test_one_hot_with_negative_indices_and_run_time_values():
    depth = numpy_helper.from_array(np.array(4, np.int64), "depth")
    node = helper.make_node("OneHot", ["i", "depth", "values"], ["y"], axis=1)
    model = _model(
        [node], [_info("i", [3], TensorProto.INT64), _info("values", [2])], [_info("y", [3, 4])], [depth], opset=13
    )
    i, values = np.array([0, -1, 2], np.int64), np.array([-2.0, 5.0], np.float32)
    want = np.where(np.eye(4, dtype=bool)[[0, 3, 2]], 5.0, -2.0).astype(np.float32)
    _check(model, i, values, expected=[want])


def test_compress_by_a_known_condition():
    cond = numpy_helper.from_array(np.array([True, False, True]), "c")
    node = helper.make_node("Compress", ["x", "c"], ["y"], axis=1)
    model = _model([node], [_info("x", [2, 3])], [_info("y", [2, 2])], [cond], opset=11)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    _check(model, x, expected=[x[:, [0, 2]]])


def test_col2im_as_a_matrix_product():
    shapes = [numpy_helper.from_array(np.array(v, np.int64), n) for v, n in (([5, 5], "image"), ([2, 3], "block"))]
    node = helper.make_node("Col2Im", ["x", "image", "block"], ["y"], strides=[2, 1], pads=[1, 0, 0, 1])
    model = _model([node], [_info("x", [1, 12, 12])], [_info("y", [1, 2, 5, 5])], shapes, opset=18)
    _check(model, rng.standard_normal((1, 12, 12)).astype(np.float32))


def test_qlinear_matmul_uint8():
    names = ("a_scale", "a_zero", "b_scale", "b_zero", "y_scale", "y_zero")
    values = (np.float32(0.05), np.uint8(110), np.float32(0.02), np.uint8(120), np.float32(0.1), np.uint8(100))
    inits = [numpy_helper.from_array(np.array(v), n) for n, v in zip(names, values)]
    node = helper.make_node(
        "QLinearMatMul", ["a", "a_scale", "a_zero", "b", "b_scale", "b_zero", "y_scale", "y_zero"], ["y"]
    )
    u8 = TensorProto.UINT8
    model = _model([node], [_info("a", [2, 4], u8), _info("b", [4, 3], u8)], [_info("y", [2, 3], u8)], inits, opset=21)
    _check(model, rng.integers(0, 255, (2, 4)).astype(np.uint8), rng.integers(0, 255, (4, 3)).astype(np.uint8))


def test_scan_unrolled_with_state_and_directions():
    """A running sum (state) and a per-step product (scan output), the input scanned backwards
    along axis 1 and the output stacked along axis 1."""
    body = helper.make_graph(
        [
            helper.make_node("Add", ["s_in", "x_t"], ["s_out"]),
            helper.make_node("Mul", ["s_out", "x_t"], ["y_t"]),
        ],
        "body",
        [_info("s_in", [2]), _info("x_t", [2])],
        [_info("s_out", [2]), _info("y_t", [2])],
    )
    node = helper.make_node(
        "Scan",
        ["s0", "x"],
        ["s", "y"],
        body=body,
        num_scan_inputs=1,
        scan_input_axes=[1],
        scan_input_directions=[1],
        scan_output_axes=[1],
    )
    model = _model([node], [_info("s0", [2]), _info("x", [2, 5])], [_info("s", [2]), _info("y", [2, 5])], opset=16)
    _check(model, rng.standard_normal(2).astype(np.float32), rng.standard_normal((2, 5)).astype(np.float32))


def test_quantize_linear_per_tensor():
    scale, zero = numpy_helper.from_array(np.array(0.05, np.float32), "s"), numpy_helper.from_array(np.uint8(128), "z")
    node = helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"])
    model = _model([node], [_info("x", [2, 5])], [_info("y", [2, 5], TensorProto.UINT8)], [scale, zero], opset=19)
    x = np.array([[-7.0, -0.025, 0.025, 0.075, 1.0], [6.3, 9.0, -0.124, 0.126, 0.0]], np.float32)
    _check(model, x)


def test_an_old_opset_model_is_converted_up_when_torch_mlir_fails():
    """Upsample-9 (scales as an input) and Unsqueeze/Slice forms before opset 13 are refused by
    torch-mlir; the model converts up to opset 13 and imports."""
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    node = helper.make_node("Upsample", ["x", "scales"], ["y"], mode="nearest")
    model = _model([node], [_info("x", [1, 1, 2, 3])], [_info("y", [1, 1, 4, 6])], [scales], opset=9)
    compiled = _check(model, rng.standard_normal((1, 1, 2, 3)).astype(np.float32))
    assert compiled.prepared.converted_from == 9 and compiled.prepared.opset == 13


def test_a_node_torch_mlir_aborts_on_is_refused():
    scale = numpy_helper.from_array(np.array(0.5, np.float32), "scale")
    zero = numpy_helper.from_array(np.array(3, np.uint16), "zero")
    node = helper.make_node("QuantizeLinear", ["x", "scale", "zero"], ["y"], name="q")
    model = _model([node], [_info("x", [3])], [_info("y", [3], TensorProto.UINT16)], [scale, zero])
    with pytest.raises(FrontendError, match=r"node 'q' \(QuantizeLinear\) has a UINT16 operand or result"):
        compile_onnx(model, STRICT)


@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER"])
def test_conv_transpose_auto_pad_same(auto_pad):
    w = numpy_helper.from_array(rng.standard_normal((1, 2, 3, 3)).astype(np.float32), "w")
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], auto_pad=auto_pad, strides=[2, 2])
    model = _model([node], [_info("x", [1, 1, 3, 4])], [_info("y", [1, 2, 6, 8])], [w])
    _check(model, rng.standard_normal((1, 1, 3, 4)).astype(np.float32))


def test_slice_with_negative_steps():
    consts = [
        numpy_helper.from_array(np.array(v, np.int64), n)
        for v, n in (([-1, 4], "starts"), ([-1000, 0], "ends"), ([0, 2], "axes"), ([-1, -2], "steps"))
    ]
    node = helper.make_node("Slice", ["x", "starts", "ends", "axes", "steps"], ["y"])
    model = _model([node], [_info("x", [3, 2, 6])], [_info("y", [3, 2, 2])], consts, opset=13)
    x = rng.standard_normal((3, 2, 6)).astype(np.float32)
    _check(model, x, expected=[x[::-1, :, 4:0:-2]])


@pytest.mark.parametrize(
    "x_shape,grid_shape,attrs",
    [
        ([2, 3, 4, 5], [2, 3, 6, 2], dict(mode="nearest", padding_mode="reflection")),
        ([1, 2, 3, 4, 5], [1, 2, 3, 4, 3], dict(mode="linear", padding_mode="border", align_corners=1)),
        ([1, 2, 4, 5], [1, 3, 3, 2], dict(mode="cubic")),
    ],
    ids=["nearest_reflection", "trilinear_border", "bicubic_zeros"],
)
def test_grid_sample(x_shape, grid_shape, attrs):
    node = helper.make_node("GridSample", ["x", "grid"], ["y"], **attrs)
    out = [x_shape[0], x_shape[1], *grid_shape[1:-1]]
    model = _model([node], [_info("x", x_shape), _info("grid", grid_shape)], [_info("y", out)], opset=22)
    grid = rng.uniform(-1.3, 1.3, grid_shape).astype(np.float32)
    _check(model, rng.standard_normal(x_shape).astype(np.float32), grid)


@pytest.mark.parametrize("reduction", ["add", "mul", "max", "min"])
def test_scatter_with_reduction_and_repeated_indices(reduction):
    nd_index = numpy_helper.from_array(np.array([[1], [3], [1]], np.int64), "i")
    el_index = numpy_helper.from_array(np.array([[0, 2, 0], [4, -1, 4]], np.int64), "j")
    nd = helper.make_node("ScatterND", ["x", "i", "u"], ["a"], reduction=reduction)
    el = helper.make_node("ScatterElements", ["x2", "j", "v"], ["b"], axis=1, reduction=reduction)
    model = _model(
        [nd, el],
        [_info("x", [4, 3]), _info("u", [3, 3]), _info("x2", [2, 5]), _info("v", [2, 3])],
        [_info("a", [4, 3]), _info("b", [2, 5])],
        [nd_index, el_index],
        opset=18,
    )
    shapes = ((4, 3), (3, 3), (2, 5), (2, 3))
    _check(model, *(rng.standard_normal(s).astype(np.float32) for s in shapes))


@pytest.mark.parametrize(
    "kind,attrs",
    [
        ("LSTM", dict(direction="bidirectional")),
        ("GRU", dict(direction="reverse", linear_before_reset=1)),
        ("GRU", dict()),
        ("RNN", dict(direction="bidirectional")),
    ],
    ids=["lstm_bidirectional_peepholes", "gru_reverse_linear_before_reset", "gru", "rnn_bidirectional"],
)
def test_recurrent_unrolled(kind, attrs):
    gates, hidden, dirs = (
        {"RNN": 1, "GRU": 3, "LSTM": 4}[kind],
        3,
        2 if attrs.get("direction") == "bidirectional" else 1,
    )
    steps, batch, width = 4, 2, 5
    shapes = {
        "X": [steps, batch, width],
        "W": [dirs, gates * hidden, width],
        "R": [dirs, gates * hidden, hidden],
        "B": [dirs, 2 * gates * hidden],
        "initial_h": [dirs, batch, hidden],
    }
    names = ["X", "W", "R", "B", "", "initial_h"]
    outputs = [_info("Y", [steps, dirs, batch, hidden]), _info("Y_h", [dirs, batch, hidden])]
    if kind == "LSTM":
        shapes |= {"initial_c": [dirs, batch, hidden], "P": [dirs, 3 * hidden]}
        names += ["initial_c", "P"]
        outputs.append(_info("Y_c", [dirs, batch, hidden]))
    node = helper.make_node(kind, names, [o.name for o in outputs], hidden_size=hidden, **attrs)
    model = _model([node], [_info(n, s) for n, s in shapes.items()], outputs, opset=22)
    _check(model, *(rng.standard_normal(s).astype(np.float32) * 0.5 for s in shapes.values()))
