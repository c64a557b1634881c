"""A sample of onnx's node test cases across op families, through ONNX Runtime and tt-torch
(the whole suite: benchmarks/onnx_conformance.py, docs/onnx_coverage.md).

Each case's model, inputs and expected outputs come from the onnx package (generated
offline); both must match the expected outputs at rtol = atol = 1e-3."""

from __future__ import annotations

import pytest

from tests.onnx.models import node_cases
from tt_torch.config import CompilerConfig
from tt_torch.onnx_compile import conformance

# case name -> the module of onnx.backend.test.case.node that makes it
SAMPLE = {
    # elementwise
    "test_abs": "abs",
    "test_add_bcast": "add",
    "test_div": "div",
    "test_mul_uint8": "mul",
    "test_neg": "neg",
    "test_exp": "exp",
    "test_log": "log",
    "test_erf": "erf",
    "test_ceil": "ceil",
    "test_mod_broadcast": "mod",
    "test_max_two_inputs": "max",
    # activations
    "test_elu": "elu",
    "test_gelu_tanh_1": "gelu",
    "test_hardswish": "hardswish",
    "test_leakyrelu": "leakyrelu",
    "test_mish": "mish",
    # comparison and logic
    "test_greater_bcast": "greater",
    "test_equal": "equal",
    "test_and_bcast3v1d": "and_",
    "test_not_2d": "not_",
    # reductions and softmax
    "test_argmax_keepdims_random": "argmax",
    "test_argmin_no_keepdims_example": "argmin",
    "test_logsoftmax_axis_1": "logsoftmax",
    # normalization
    "test_layer_normalization_4d_axis_negative_1": "layernormalization",
    "test_batchnorm_example": "batch_normalization",
    "test_instancenorm_example": "instance_normalization",
    "test_group_normalization_example": "groupnormalization",
    # convolution and pooling
    "test_conv_with_strides_padding": "conv",
    "test_convtranspose_1d": "convtranspose",
    "test_maxpool_2d_pads": "maxpool",
    "test_averagepool_2d_ceil": "averagepool",
    "test_globalaveragepool": "globalaveragepool",
    # matrix products
    "test_matmul_4d": "matmul",
    "test_gemm_all_attributes": "gemm",
    "test_einsum_batch_matmul": "einsum",
    # data movement
    "test_concat_3d_axis_negative_2": "concat",
    "test_flatten_axis2": "flatten",
    "test_gather_0": "gather",
    "test_gather_elements_1": "gatherelements",
    "test_depthtospace_example": "depthtospace",
    "test_reshape_reduced_dims": "reshape",
    "test_cast_FLOAT_to_FLOAT16": "cast",
    # a function expanded by onnx (attention), and a loss
    "test_attention_4d_causal_expanded": "attention",
    "test_nllloss_NC": "negativeloglikelihoodloss",
    # nodes replaced by their function bodies when torch-mlir fails on them
    "test_rms_normalization_2d_axis0": "rmsnormalization",
    "test_attention_4d_gqa": "attention",
    "test_affine_grid_2d": "affinegrid",
    "test_center_crop_pad_crop": "center_crop_pad",
    "test_linear_attention_linear": "linear_attention",
    # ONNX-level rewrites (tt_torch/frontend/onnx_rewrites/)
    "test_resize_upsample_sizes_cubic": "resize",
    "test_resize_downsample_scales_linear_antialias": "resize",
    "test_hardmax_example": "hardmax",
    "test_averagepool_3d_dilations_small": "averagepool",
    "test_lppool_2d_same_upper": "lppool",
    "test_dft": "dft",
    "test_col2im_pads": "col2im",
    "test_cumprod_1d_exclusive": "cumprod",
    "test_gridsample_volumetric_bilinear_align_corners_0": "gridsample",
    "test_lstm_with_initial_bias": "lstm",
    "test_scatternd": "scatternd",
    # StableHLO forms torch-mlir emits: general gather, N-d pooling, transposed convolution
    "test_gather_2d_indices": "gather",
    "test_nllloss_NCd1_weight": "negativeloglikelihoodloss",
    "test_maxpool_3d_dilations": "maxpool",
    "test_maxpool_2d_ceil": "maxpool",
    "test_convtranspose_pads": "convtranspose",
}


@pytest.fixture(scope="module")
def cases():
    return node_cases(SAMPLE)


@pytest.fixture(autouse=True)
def _no_compile_cache(monkeypatch):
    monkeypatch.setenv("TT_TORCH_CACHE_DIR", "off")


@pytest.mark.parametrize("name", sorted(SAMPLE))
def test_node_case(name, cases):
    case = cases[name]
    record = conformance.check_case(name, case.model, case.data_sets, config=CompilerConfig(numerics="fast"))
    assert record["ort"]["status"] == "pass", record["ort"]  # the reference agrees with the case
    assert record["ours"]["status"] == "pass", record["ours"]["reason"]


def test_only_control_inputs_are_bound_as_constants():
    """Trilu's k and a reduction's axes are attribute-like and may be bound; the matrices are data
    and never are (bound, the case would test constant folding, not the device)."""
    import numpy as np
    from onnx import TensorProto, helper

    def model(nodes, inputs, outputs):
        graph = helper.make_graph(nodes, "g", inputs, outputs)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])

    x = helper.make_tensor_value_info("x", TensorProto.INT64, [3, 4])
    k = helper.make_tensor_value_info("k", TensorProto.INT64, [])
    y = helper.make_tensor_value_info("y", TensorProto.INT64, [3, 4])
    trilu = model([helper.make_node("Trilu", ["x", "k"], ["y"], upper=0)], [x, k], [y])
    data = [((np.arange(12, dtype=np.int64).reshape(3, 4), np.array(1, dtype=np.int64)), ())]
    assert sorted(conformance._control_inputs(trilu, data)) == ["k"]

    f = helper.make_tensor_value_info("f", TensorProto.FLOAT, [3, 4])
    axes = helper.make_tensor_value_info("axes", TensorProto.INT64, [1])
    r = helper.make_tensor_value_info("r", TensorProto.FLOAT, None)
    nodes = [helper.make_node("Abs", ["f"], ["a"]), helper.make_node("ReduceSum", ["a", "axes"], ["r"], keepdims=0)]
    reduce = model(nodes, [f, axes], [r])
    data = [((np.ones((3, 4), np.float32), np.array([1], dtype=np.int64)), ())]
    assert sorted(conformance._control_inputs(reduce, data)) == ["axes"]
