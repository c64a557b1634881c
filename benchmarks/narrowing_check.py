"""Cost of the host-side check of int64 and f64 inputs (runtime.narrow) per call.

    python benchmarks/narrowing_check.py

Best of 50 calls on one million elements, beside the cast alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from tt_torch.runtime import narrow


def best_ms(f: Callable[[], object], n: int = 50) -> float:
    for _ in range(3):
        f()
    best = float("inf")
    for _ in range(n):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best * 1e3


def main() -> None:
    cases = (
        (torch.randint(-1000, 1000, (1_000_000,), dtype=torch.int64), torch.int32),
        (torch.randn(1_000_000, dtype=torch.float64), torch.float32),
    )
    for src, dtype in cases:
        total = best_ms(lambda s=src, d=dtype: narrow(s, d, "x"))
        cast = best_ms(lambda s=src, d=dtype: s.to(d).contiguous())
        print(f"{src.dtype} -> {dtype}: narrow {total:.2f} ms, the cast alone {cast:.2f} ms (1M elements)")


if __name__ == "__main__":
    main()
