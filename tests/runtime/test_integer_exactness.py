"""Integers are exact in 32 bits, and a value that does not survive narrowing is reported.

The device has no 64-bit types: int64 values are computed in int32, f64 values in f32.
Each case compares with eager PyTorch: the device's answer is the same, or the call
raises an error naming the op (or the input), its source line and the values' range.
``CompilerConfig(narrowing="wrap")`` gives the hardware's wrapped / inf values with a
warning instead.
"""

from __future__ import annotations

import logging

import pytest
import torch

from tt_torch import runtime
from tt_torch.dynamo import BackendOptions
from tt_torch.errors import TTRuntimeError
from tt_torch.tools.utils import CompilerConfig

INT32_MAX = 2**31 - 1


def compiled(fn, **config):
    cfg = CompilerConfig(enable_cpu_fallback=False, **config)
    return torch.compile(fn, backend="tt", options=BackendOptions(compiler_config=cfg))


def add_one(a):
    return a + 1


def times_three(a):
    return a * 3


def total(a):
    return a.sum()


def floor_div(a, b):
    return a // b


# --- int32 overflow inside the program ------------------------------------------------------


@pytest.mark.parametrize(
    "fn, value",
    [(add_one, [INT32_MAX, 5]), (times_three, [2**30, -7]), (total, [2**30, 2**30])],
    ids=["add", "mul", "sum"],
)
def test_int32_overflow_raises_with_op_line_and_range(fn, value):
    a = torch.tensor(value, dtype=torch.int64)
    run = compiled(fn)
    small = torch.tensor([3, -4], dtype=torch.int64)
    assert torch.equal(run(small), fn(small))  # in range: exact, like eager
    with pytest.raises(TTRuntimeError) as info:
        run(a)
    msg = str(info.value)
    assert "integer overflow" in msg
    assert "test_integer_exactness.py" in msg  # the op's source line
    expected = fn(a)  # eager, in int64
    assert str(int(expected.max())) in msg  # the range the result would need


def test_int32_overflow_wraps_with_a_warning_when_asked(caplog):
    a = torch.tensor([INT32_MAX], dtype=torch.int64)
    with caplog.at_level(logging.WARNING, logger="tt_torch"):
        out = compiled(add_one, narrowing="wrap")(a)
    assert out.tolist() == [-(2**31)]  # what silicon computes
    assert any("wrapped to int32" in r.getMessage() for r in caplog.records)


def test_int_matmul_and_prod_are_exact_or_raise():
    a = torch.tensor([[2**20, 3], [-(2**20), 5]], dtype=torch.int64)
    b = torch.tensor([[2**10, 1], [7, -2]], dtype=torch.int64)
    mm = compiled(lambda x, y: x @ y)
    assert torch.equal(mm(a, b), a @ b)
    with pytest.raises(TTRuntimeError, match="integer overflow"):
        mm(a * 4, b * 4)  # 2**34 does not fit
    prod = compiled(lambda x: x.prod())
    assert torch.equal(prod(torch.tensor([3, -5, 7, 11])), torch.tensor(-1155))
    # 2**80 wraps past 64 bits back to 0 in int64: still reported
    with pytest.raises(TTRuntimeError, match="integer overflow"):
        prod(torch.full((10,), 256, dtype=torch.int64))


def test_float_to_int_out_of_int32_raises_but_undefined_lanes_do_not():
    x = torch.tensor([1.0, 2.0])
    with pytest.raises(TTRuntimeError, match="integer overflow"):
        compiled(lambda v: (v * 3e9).to(torch.int64))(x)  # 3e9 and 6e9: int64 holds them, int32 does not

    # log(0) = -inf has no integer (undefined in PyTorch too); the where() does not select it (T5's buckets)
    def buckets(v):
        return torch.where(v > 0, torch.log(v).to(torch.int64), torch.zeros_like(v, dtype=torch.int64))

    v = torch.tensor([0.0, 5.0, 100.0])
    torch._dynamo.reset()
    assert torch.equal(compiled(buckets)(v), buckets(v))


# --- integer floor division in integers, not f32 ------------------------------------------------


def test_floor_division_is_exact_past_f32():
    a = torch.tensor([2**25 + 1, -(2**25) - 1, INT32_MAX], dtype=torch.int64)
    one = torch.ones(3, dtype=torch.int64)
    assert torch.equal(compiled(floor_div)(a, one), a)


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
def test_floor_division_and_remainder_match_eager_on_random_pairs(dtype):
    g = torch.Generator().manual_seed(18)
    a = torch.randint(-(2**31), 2**31, (1000,), generator=g, dtype=torch.int64).to(dtype)
    b = torch.randint(-(2**31), 2**31, (1000,), generator=g, dtype=torch.int64)
    b[:500] = torch.randint(-300, 300, (500,), generator=g)  # small divisors: large quotients
    b[b == 0] = 1
    b = b.to(dtype)
    for fn in (
        floor_div,
        lambda x, y: torch.div(x, y, rounding_mode="floor"),
        lambda x, y: x % y,
        lambda x, y: torch.div(x, y, rounding_mode="trunc"),
    ):
        torch._dynamo.reset()
        out = compiled(fn)(a, b)
        expected = fn(a, b)
        assert out.dtype == expected.dtype
        assert int((out != expected).sum()) == 0


def test_floor_division_by_a_python_number():
    a = torch.tensor([2**25 + 1, -(2**25) - 1, -7, 7], dtype=torch.int64)
    assert torch.equal(compiled(lambda x: x // 3)(a), a // 3)


# --- inputs that do not survive narrowing ---------------------------------------------------------


def test_int64_input_out_of_range_names_the_input():
    with pytest.raises(TTRuntimeError, match=r"input '.*' has values in \[5, 1099511627776\]"):
        compiled(add_one)(torch.tensor([5, 2**40], dtype=torch.int64))


def test_f64_input_beyond_f32_raises_or_becomes_inf_when_asked(caplog):
    def double(x):
        return x * 2

    x = torch.tensor([1e300, 1.0], dtype=torch.float64)
    with pytest.raises(TTRuntimeError, match=r"values in \[1, 1e\+300\], which do not fit the device's torch.float32"):
        compiled(double)(x)
    torch._dynamo.reset()
    with caplog.at_level(logging.WARNING, logger="tt_torch"):
        out = compiled(double, narrowing="wrap")(x)
    assert out[0] == float("inf") and out[1] == 2.0 and out.dtype == torch.float64
    assert any("overflow to inf" in r.getMessage() for r in caplog.records)
    # in f32's range: what eager computes, to the precision of multiply's TF32 operands
    y = torch.tensor([1e30, -3.5], dtype=torch.float64)
    torch._dynamo.reset()
    torch.testing.assert_close(compiled(double)(y), double(y), rtol=2**-10, atol=0)


def test_one_narrowing_warning_per_compiled_graph(caplog):
    run = compiled(add_one)
    with caplog.at_level(logging.WARNING, logger="tt_torch"):
        for _ in range(3):
            run(torch.tensor([1, 2], dtype=torch.int64))
    warnings = [r.getMessage() for r in caplog.records if "no 64-bit types" in r.getMessage()]
    assert len(warnings) == 1
    assert "i64 -> i32 (1 input" in warnings[0]
    # an f32 model narrows nothing that can lose a value (its constants fit): no warning
    torch._dynamo.reset()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tt_torch"):
        compiled(lambda x: x * 2 + 1)(torch.randn(4))
    assert not [r for r in caplog.records if "no 64-bit types" in r.getMessage()]


def test_narrowing_option_is_checked():
    with pytest.raises(ValueError, match="narrowing='saturate' is not valid"):
        CompilerConfig(narrowing="saturate")


@pytest.mark.parametrize("shape", [(), (1,), (1, 1)])
@pytest.mark.parametrize("value", [0, -7, INT32_MAX, -(2**31), INT32_MAX + 1, -(2**31) - 1, 2**40])
@pytest.mark.parametrize("narrowing", ["error", "wrap"])
def test_one_element_inputs_narrow_as_any_other(shape, value, narrowing, caplog):
    """A position or a token id (one element, read as one value) narrows to the same values, and
    fails or warns with the same message, as the same value in a two-element input."""
    one = torch.full(shape, value, dtype=torch.int64)
    two = torch.full((2,), value, dtype=torch.int64)
    results, messages = [], []
    for t in (one, two):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="tt_torch"):
            try:
                results.append(runtime.narrow(t, torch.int32, "pos", narrowing))
                messages.append([r.getMessage() for r in caplog.records])
            except TTRuntimeError as e:
                results.append(None)
                messages.append([str(e)])
    assert messages[0] == messages[1]
    fits = -(2**31) <= value <= INT32_MAX
    assert len(messages[0]) == (0 if fits else 1)
    if narrowing == "error" and not fits:
        assert results == [None, None]
        return
    assert results[0].dtype == torch.int32 and results[0].shape == one.shape and results[0].is_contiguous()
    # the cast's values: the low 32 bits of an out-of-range value
    assert torch.equal(results[0], one.to(torch.int32)) and torch.equal(results[1], two.to(torch.int32))
