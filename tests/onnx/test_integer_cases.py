"""onnx's node test cases on integer element types and integer ops, wholly on the device.

A sample of benchmarks/onnx_conformance.py's cases: int8 / int16 (widened to si32, wrapped
to their width), uint16 / uint32 (device types), uint64 (narrowed to uint32), the bitwise
ops and shifts, and the ops torch-mlir imports with other semantics than ONNX's
(tt_torch/frontend/onnx_semantics.py). Compiled with the CPU fallback off: every node runs
on the device, and the outputs match the expected ones exactly.
"""

from __future__ import annotations

import pytest

from tests.onnx.models import node_cases
from tt_torch.config import CompilerConfig
from tt_torch.onnx_compile import conformance

# case name -> the module of onnx.backend.test.case.node that makes it
SAMPLE = {
    "test_add_int8": "add",
    "test_sub_int16": "sub",
    "test_mul_uint16": "mul",
    "test_div_uint32": "div",
    "test_add_uint64": "add",
    "test_greater_uint32": "greater",
    "test_less_equal_int8_expanded": "less_or_equal",
    "test_max_int8": "max",
    "test_clip_default_int8_min": "clip",
    "test_bitshift_left_int8_overflow": "bitshift",
    "test_bitshift_right_int32_negative_shift": "bitshift",
    "test_bitshift_right_uint16": "bitshift",
    "test_bitwise_and_ui64_bcast_3v1d": "bitwiseand",
    "test_bitwise_xor_i16_3d": "bitwisexor",
    "test_bitwise_not_3d": "bitwisenot",
    # torch-mlir's semantics corrected before import
    "test_mod_mixed_sign_int8": "mod",
    "test_mod_float_edge_cases_fmod_0_float32": "mod",
    "test_reduce_max_bool_inputs": "reducemax",
    "test_l2normalization_axis_0": "lpnormalization",
    "test_spacetodepth_crd_mode_example": "spacetodepth",
}
DEVICE_ONLY = CompilerConfig(numerics="fast", enable_cpu_fallback=False)


@pytest.fixture(scope="module")
def cases():
    return node_cases(SAMPLE)


@pytest.fixture(autouse=True)
def _no_compile_cache(monkeypatch):
    monkeypatch.setenv("TT_TORCH_CACHE_DIR", "off")


@pytest.mark.parametrize("name", sorted(SAMPLE))
def test_integer_case_on_the_device(name, cases):
    case = cases[name]
    record = conformance.check_case(name, case.model, case.data_sets, config=DEVICE_ONLY)
    assert record["ort"]["status"] == "pass", record["ort"]
    assert record["ours"]["status"] == "pass", record["ours"]["reason"]
    assert not record["ours"].get("host_nodes"), "every node runs on the device"
