"""Integer element types and integer ops from StableHLO to the device, against NumPy.

i8 and i16 are widened to si32 and wrapped to their width after each op that can leave
it; ui64 is narrowed to ui32 with the same checks as i64 -> si32; ui16 and ui32 are device
types. The bitwise ops and shifts follow StableHLO (amounts at or past the width, negative
ones included, shift every bit out); round_nearest_afz rounds halves away from zero.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_mlir import ir

from tt_torch import runtime
from tt_torch.compiler import context, pipelines
from tt_torch.compiler.options import CompileOptions
from tt_torch.errors import LoweringError, TTRuntimeError

_MLIR = {np.int8: "i8", np.int16: "i16", np.int32: "i32", np.uint16: "ui16", np.uint32: "ui32", np.uint64: "ui64"}


@pytest.fixture(scope="module")
def device():
    with runtime.open_device("n150") as d:
        yield d


def compile_text(text: str):
    module = ir.Module.parse(text, context.new_context())
    return pipelines.compile_stablehlo(module, CompileOptions(emit_flatbuffer=True))


def run(device, text: str, *arrays: np.ndarray) -> list[np.ndarray]:
    result = compile_text(text)
    binary = runtime.load_binary(result.flatbuffer)
    dtypes = [runtime.torch_dtype(d["dtype"]) for d in binary.program_inputs(0)]
    inputs = [
        runtime.narrow(torch.from_numpy(np.ascontiguousarray(a)), dt, f"arg{k}")
        for k, (a, dt) in enumerate(zip(arrays, dtypes))
    ]
    return [(o.float() if o.dtype == torch.bfloat16 else o).numpy() for o in runtime.submit(device, binary, 0, inputs)]


def binary_program(op: str, dtype, shape=(3, 40), out=None) -> str:
    t = f"tensor<{'x'.join(map(str, shape))}x{_MLIR[dtype]}>"
    o = t if out is None else f"tensor<{'x'.join(map(str, shape))}x{out}>"
    return f"""
func.func @main(%a: {t}, %b: {t}) -> {o} {{
  %0 = stablehlo.{op} %a, %b : ({t}, {t}) -> {o}
  return %0 : {o}
}}"""


def _values(dtype, shape, seed):
    info = np.iinfo(dtype)
    x = np.random.default_rng(seed).integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    x.reshape(-1)[:4] = [info.min, info.max, 0, 1]
    return x


# --- i8 / i16: 8- and 16-bit results, wrapped as the narrow type computes them -----------------

_WRAPPING = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply}


@pytest.mark.parametrize("dtype", [np.int8, np.int16], ids=lambda d: _MLIR[d])
@pytest.mark.parametrize("op", list(_WRAPPING))
def test_narrow_signed_arithmetic_wraps_like_the_type(device, op, dtype):
    a, b = _values(dtype, (3, 40), 0), _values(dtype, (3, 40), 1)
    (out,) = run(device, binary_program(op, dtype), a, b)
    with np.errstate(over="ignore"):
        expected = _WRAPPING[op](a, b)
    np.testing.assert_array_equal(out.astype(dtype), expected)
    assert out.dtype == np.int32  # the device holds it widened; values within the type


def test_wrapped_values_feed_the_next_op(device):
    """(a + b) > c compares the 8-bit sum: 100 + 100 is -56 on int8, not 200."""
    text = """
func.func @main(%a: tensor<4xi8>, %b: tensor<4xi8>, %c: tensor<4xi8>) -> tensor<4xi1> {
  %0 = stablehlo.add %a, %b : tensor<4xi8>
  %1 = stablehlo.compare GT, %0, %c, SIGNED : (tensor<4xi8>, tensor<4xi8>) -> tensor<4xi1>
  return %1 : tensor<4xi1>
}"""
    a = np.array([100, 1, -100, 127], np.int8)
    b = np.array([100, 1, -100, 1], np.int8)
    c = np.array([0, 0, 0, 0], np.int8)
    (out,) = run(device, text, a, b, c)
    with np.errstate(over="ignore"):
        expected = (a + b) > c
    np.testing.assert_array_equal(out.astype(bool), expected)


def test_convert_to_i8_keeps_the_low_bits(device):
    text = """
func.func @main(%a: tensor<5xi32>) -> tensor<5xi8> {
  %0 = stablehlo.convert %a : (tensor<5xi32>) -> tensor<5xi8>
  return %0 : tensor<5xi8>
}"""
    a = np.array([300, -129, 127, -1, 2**31 - 1], np.int32)
    (out,) = run(device, text, a)
    np.testing.assert_array_equal(out.astype(np.int8), a.astype(np.int8))


def test_widening_is_reported_apart_from_narrowing():
    report = compile_text(binary_program("add", np.int8)).report
    assert any(k.startswith("i8 -> i32") for k in report["widenings"])
    assert not report["narrowings"]
    report = compile_text(binary_program("add", np.uint64)).report
    assert any(k.startswith("ui64 -> ui32") for k in report["narrowings"])


# --- unsigned types ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint16, np.uint32], ids=lambda d: _MLIR[d])
def test_unsigned_compare_and_divide_see_every_value(device, dtype):
    a, b = _values(dtype, (3, 40), 2), _values(dtype, (3, 40), 3) | 1
    (gt,) = run(
        device,
        binary_program("compare GT,", dtype, out="i1").replace(") -> tensor<3x40xi1>", ") -> tensor<3x40xi1>"),
        a,
        b,
    )
    np.testing.assert_array_equal(gt.astype(bool), a > b)
    (q,) = run(device, binary_program("divide", dtype), a, b)
    np.testing.assert_array_equal(q, a // b)


def test_uint16_arithmetic_wraps(device):
    a = np.array([0, 65535, 3], np.uint16)
    b = np.array([1, 1, 5], np.uint16)
    (s,) = run(device, binary_program("subtract", np.uint16, shape=(3,)), a, b)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(s, a - b)


def test_uint64_within_uint32_is_exact_and_past_it_an_error(device):
    a = np.array([2**32 - 1, 5, 0], np.uint64)
    b = np.array([0, 7, 1], np.uint64)
    (s,) = run(device, binary_program("add", np.uint64, shape=(3,)), a, b)
    np.testing.assert_array_equal(s.astype(np.uint64), a + b)
    with pytest.raises(TTRuntimeError, match="do not fit the device's torch.uint32"):
        run(device, binary_program("add", np.uint64, shape=(3,)), a + 1, b)


def test_uint64_constant_past_uint32_is_refused():
    text = """
func.func @main(%a: tensor<2xui64>) -> tensor<2xui64> {
  %c = stablehlo.constant dense<[1, 8589934592]> : tensor<2xui64>
  %0 = stablehlo.add %a, %c : tensor<2xui64>
  return %0 : tensor<2xui64>
}"""
    with pytest.raises(LoweringError, match="do not fit the device's 32-bit ui32 integers"):
        compile_text(text)


# --- bitwise ops and shifts ----------------------------------------------------------------------

_BITWISE = {"and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor}
_TYPES = [np.int8, np.int16, np.int32, np.uint16, np.uint32]


@pytest.mark.parametrize("dtype", _TYPES, ids=lambda d: _MLIR[d])
@pytest.mark.parametrize("op", list(_BITWISE))
def test_bitwise(device, op, dtype):
    a, b = _values(dtype, (3, 40), 4), _values(dtype, (3, 40), 5)
    (out,) = run(device, binary_program(op, dtype), a, b)
    np.testing.assert_array_equal(out.astype(dtype), _BITWISE[op](a, b))


@pytest.mark.parametrize("dtype", _TYPES, ids=lambda d: _MLIR[d])
def test_bitwise_not(device, dtype):
    t = f"tensor<3x40x{_MLIR[dtype]}>"
    text = f"func.func @main(%a: {t}) -> {t} {{\n  %0 = stablehlo.not %a : {t}\n  return %0 : {t}\n}}"
    a = _values(dtype, (3, 40), 6)
    (out,) = run(device, text, a)
    np.testing.assert_array_equal(out.astype(dtype), np.invert(a))


def _shift_reference(op: str, a: np.ndarray, s: np.ndarray) -> np.ndarray:
    """StableHLO's shifts on the type's bit pattern; an amount is unsigned."""
    width = a.dtype.itemsize * 8
    unsigned = np.dtype(f"uint{width}")
    amount = s.astype(unsigned).astype(np.uint64)
    out_of_range = amount >= width
    safe = np.where(out_of_range, 0, amount).astype(unsigned)
    bits = a.view(unsigned)
    if op == "shift_left":
        return np.where(out_of_range, 0, np.left_shift(bits, safe)).astype(unsigned).view(a.dtype)
    if op == "shift_right_logical":
        return np.where(out_of_range, 0, np.right_shift(bits, safe)).astype(unsigned).view(a.dtype)
    signed = a.view(np.dtype(f"int{width}"))
    shifted = np.right_shift(signed, np.where(out_of_range, width - 1, amount).astype(signed.dtype))
    return shifted.astype(signed.dtype).view(a.dtype)


@pytest.mark.parametrize("dtype", _TYPES, ids=lambda d: _MLIR[d])
@pytest.mark.parametrize("op", ["shift_left", "shift_right_logical", "shift_right_arithmetic"])
def test_shifts_follow_stablehlo(device, op, dtype):
    width = np.iinfo(dtype).bits
    a = _values(dtype, (3, 40), 7)
    s = np.resize(np.arange(-3, width + 3), (3, 40)).astype(np.int64).astype(dtype)
    (out,) = run(device, binary_program(op, dtype), a, s)
    np.testing.assert_array_equal(out.astype(dtype), _shift_reference(op, a, s))


# --- rounding ----------------------------------------------------------------------------------

_ROUND_INPUTS = [
    0.5,
    -0.5,
    1.5,
    -2.5,
    2.5,
    0.49999997,
    -0.49999997,
    2.4,
    -7.6,
    1e9 + 64,
    8388609.0,
    np.inf,
    -np.inf,
    np.nan,
]


@pytest.mark.parametrize("op", ["round_nearest_afz", "round_nearest_even"])
def test_rounding(device, op):
    n = len(_ROUND_INPUTS)
    text = f"""
func.func @main(%a: tensor<{n}xf32>) -> tensor<{n}xf32> {{
  %0 = stablehlo.{op} %a : tensor<{n}xf32>
  return %0 : tensor<{n}xf32>
}}"""
    x = np.array(_ROUND_INPUTS, np.float32)
    (out,) = run(device, text, x)
    if op == "round_nearest_even":
        expected = np.round(x)
    else:
        expected = np.where(np.isfinite(x), np.sign(x) * np.floor(np.abs(x.astype(np.float64)) + 0.5), x)
    np.testing.assert_array_equal(out, expected.astype(np.float32))
