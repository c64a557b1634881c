"""Every op of the registry, per dtype, compiled with the tt backend and checked against eager."""

from __future__ import annotations

import pytest
import torch

from tests.ops.registry import OPS, TOLERANCE
from tt_torch.config import CompilerConfig
from tt_torch.dynamo import BackendOptions
from tt_torch.tools.verify import compute_pcc


class OpModule(torch.nn.Module):
    def __init__(self, op):
        super().__init__()
        self.op = op

    def forward(self, *args):
        return self.op(*args)


def _cases():
    for entry in OPS:
        for dtype in entry.dtypes:
            marks = []
            if dtype in entry.xfail:
                marks.append(pytest.mark.xfail(strict=True, reason=entry.xfail[dtype]))
            yield pytest.param(entry, dtype, id=f"{entry.name}-{str(dtype).removeprefix('torch.')}", marks=marks)


def _check(golden: torch.Tensor, got: torch.Tensor, dtype: torch.dtype, where: str) -> None:
    assert got.shape == golden.shape and got.dtype == golden.dtype, (
        f"{where}: got {tuple(got.shape)} {got.dtype}, expected {tuple(golden.shape)} {golden.dtype}"
    )
    if not golden.dtype.is_floating_point:
        assert torch.equal(got, golden), f"{where}: integer/boolean results differ"
        return
    min_pcc, atol = TOLERANCE[dtype]
    g, c = golden.double(), got.double()
    finite = torch.isfinite(g)
    assert torch.equal(finite, torch.isfinite(c)), f"{where}: inf/nan positions differ"
    scale = max(1.0, float(g[finite].abs().max())) if bool(finite.any()) else 1.0
    diff = float((g[finite] - c[finite]).abs().max()) if bool(finite.any()) else 0.0
    pcc = compute_pcc(golden, got)
    assert pcc >= min_pcc and diff <= atol * scale, (
        f"{where}: PCC {pcc:.5f} (>= {min_pcc}), max diff {diff:.3g} (<= {atol * scale:.3g})"
    )


@pytest.mark.parametrize("entry,dtype", list(_cases()))
def test_op(entry, dtype):
    torch.manual_seed(0)
    for i, args in enumerate(entry.samples(dtype)):
        torch._dynamo.reset()
        module = OpModule(entry.op)
        # strict: an op the device cannot lower fails here instead of running on the CPU
        options = BackendOptions(compiler_config=CompilerConfig(enable_cpu_fallback=False))
        compiled = torch.compile(module, backend="tt", options=options, dynamic=False)
        with torch.no_grad():
            golden = module(*args)
            got = compiled(*args)
        goldens = golden if isinstance(golden, (tuple, list)) else [golden]
        gots = got if isinstance(got, (tuple, list)) else [got]
        for j, (g, c) in enumerate(zip(goldens, gots)):
            shapes = [tuple(a.shape) for a in args if isinstance(a, torch.Tensor)]
            _check(g, c, dtype, f"{entry.name} sample {i} {shapes} output {j}")
