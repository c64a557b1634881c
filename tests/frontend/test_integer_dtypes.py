"""torch.compile on int8, int16, uint16 and uint32 tensors, wholly on the device.

PyTorch's CPU kernels cover few ops on uint16/uint32 (no add, compare or max), so the
reference is NumPy on the same dtype; int8/int16/uint16 results wrap as PyTorch's do, and an
unsigned right shift is logical (torch-mlir emits an arithmetic one: stablehlo_fixes.py).
uint32 is also the type uint64 narrows to, so a uint32 result past its range is an integer
overflow, as for int32, unless compiled with narrowing="wrap".
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tt_torch.dynamo import BackendOptions
from tt_torch.errors import TTRuntimeError
from tt_torch.tools.utils import CompilerConfig

DTYPES = [torch.int8, torch.int16, torch.uint16, torch.uint32]
_NP = {torch.int8: np.int8, torch.int16: np.int16, torch.uint16: np.uint16, torch.uint32: np.uint32}


def compiled(fn, **config):
    cfg = CompilerConfig(enable_cpu_fallback=False, **config)
    return torch.compile(fn, backend="tt", options=BackendOptions(compiler_config=cfg))


def program(a, b):
    total = a + b  # wraps
    product = a * b
    return total, product, a & b, a ^ b, a << 3, a >> 1, b >> a.bitwise_and(7), torch.maximum(a, b), a > b


def reference(a: np.ndarray, b: np.ndarray):
    width = a.dtype.itemsize * 8
    with np.errstate(over="ignore"):
        amounts = np.bitwise_and(a, 7)
        return (
            a + b,
            a * b,
            a & b,
            a ^ b,
            np.left_shift(a, a.dtype.type(3)),
            np.right_shift(a, a.dtype.type(1)),
            np.right_shift(b, amounts) if width > 7 else None,
            np.maximum(a, b),
            a > b,
        )


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_integer_dtypes_through_the_backend(dtype):
    info = np.iinfo(_NP[dtype])
    rng = np.random.default_rng(0)
    a = rng.integers(info.min, info.max, size=(4, 33), endpoint=True, dtype=_NP[dtype])
    b = rng.integers(info.min, info.max, size=(4, 33), endpoint=True, dtype=_NP[dtype])
    a.reshape(-1)[:3] = [info.max, info.min, info.max]  # a sum and a product past the range
    b.reshape(-1)[:3] = [info.max, info.min, 1]
    wrap = {"narrowing": "wrap"} if dtype == torch.uint32 else {}
    outs = compiled(program, **wrap)(torch.from_numpy(a), torch.from_numpy(b))
    torch._dynamo.reset()
    for k, (out, expected) in enumerate(zip(outs, reference(a, b))):
        assert out.dtype == (torch.bool if expected.dtype == np.bool_ else dtype), k
        np.testing.assert_array_equal(out.numpy(), expected, err_msg=f"output {k}")


def test_uint32_overflow_is_an_error_by_default():
    a = torch.tensor([2**32 - 1, 5], dtype=torch.uint32)
    with pytest.raises(TTRuntimeError, match=r"outside the device's uint32 range"):
        compiled(lambda x: x + x)(a)
    torch._dynamo.reset()


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int8], ids=str)
def test_max_pool_of_8_bit_integers(dtype):
    """torch-mlir crashes the process on an 8-bit integer max pool: it is pooled in int32."""
    x = torch.randint(-100 if dtype == torch.int8 else 0, 100, (1, 2, 6, 6)).to(dtype)
    out = compiled(lambda t: torch.nn.functional.max_pool2d(t, 2))(x)
    torch._dynamo.reset()
    assert out.dtype == dtype and torch.equal(out, torch.nn.functional.max_pool2d(x, 2))
