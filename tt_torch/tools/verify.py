"""Accuracy checks of a compiled model against a golden (CPU) result.

PCC is defined as ttrt defines it: two all-NaN tensors agree (1.0), an
all-zero tensor against a nonzero one does not (0.0), and NaN/inf positions
that agree are masked out before the correlation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def compute_pcc(golden: torch.Tensor, calculated: torch.Tensor) -> float:
    g = golden.detach().to(torch.float64).flatten()
    c = calculated.detach().to(torch.float64).flatten()
    if g.shape != c.shape:
        raise ValueError(f"shape mismatch: golden {tuple(golden.shape)} vs calculated {tuple(calculated.shape)}")
    g_nan, c_nan = torch.isnan(g), torch.isnan(c)
    if bool(g_nan.all()) and bool(c_nan.all()):
        return 1.0
    if bool(g_nan.any()) != bool(c_nan.any()) or not torch.equal(g_nan, c_nan):
        return 0.0
    g_inf, c_inf = torch.isinf(g), torch.isinf(c)
    if not torch.equal(g_inf, c_inf) or not torch.equal(g[g_inf], c[c_inf]):
        return 0.0
    keep = ~(g_nan | g_inf)
    g, c = g[keep], c[keep]
    if g.numel() == 0:
        return 1.0
    g_zero, c_zero = bool((g == 0).all()), bool((c == 0).all())
    if g_zero and c_zero:
        return 1.0
    if g_zero != c_zero:
        return 0.0
    if torch.equal(g, c):
        return 1.0
    if g.numel() == 1:
        return 1.0 if torch.isclose(g, c).all() else 0.0
    g_std, c_std = g.std(), c.std()
    if g_std == 0 or c_std == 0:
        # a constant tensor has no correlation to speak of: compare values
        return 1.0 if torch.allclose(g, c, rtol=1e-3, atol=1e-3) else 0.0
    pcc = torch.corrcoef(torch.stack([g, c]))[0, 1].item()
    return float(pcc)


def compute_atol(golden: torch.Tensor, calculated: torch.Tensor) -> float:
    g = golden.detach().to(torch.float64)
    c = calculated.detach().to(torch.float64)
    finite = torch.isfinite(g) & torch.isfinite(c)
    if not bool(finite.any()):
        return 0.0
    return float((g[finite] - c[finite]).abs().max())


@dataclass
class Comparison:
    pcc: float
    atol: float
    passed: bool

    def __str__(self) -> str:
        return f"PCC={self.pcc:.6f} atol={self.atol:.3g} {'ok' if self.passed else 'FAILED'}"


def verify_against_golden(
    golden: torch.Tensor | tuple | list,
    calculated: torch.Tensor | tuple | list,
    required_pcc: float = 0.99,
    required_atol: float = 1e-2,
) -> list[Comparison]:
    """Compares each output; raises AssertionError naming the first that fails."""
    goldens = list(golden) if isinstance(golden, (tuple, list)) else [golden]
    outs = list(calculated) if isinstance(calculated, (tuple, list)) else [calculated]
    if len(goldens) != len(outs):
        raise AssertionError(f"{len(outs)} outputs, expected {len(goldens)}")
    results = []
    for i, (g, c) in enumerate(zip(goldens, outs)):
        if tuple(g.shape) != tuple(c.shape) or g.dtype != c.dtype:
            raise AssertionError(
                f"output {i}: got shape {tuple(c.shape)} {c.dtype}, expected {tuple(g.shape)} {g.dtype}"
            )
        pcc, atol = compute_pcc(g, c), compute_atol(g, c)
        results.append(Comparison(pcc, atol, pcc >= required_pcc and atol <= required_atol))
    for i, r in enumerate(results):
        if not r.passed:
            raise AssertionError(f"output {i}: {r} (required PCC >= {required_pcc}, atol <= {required_atol})")
    return results


def _make_inputs(
    input_shapes,
    input_data_types,
    input_range: tuple[float, float],
    input_range_int: tuple[int, int],
) -> list[torch.Tensor]:
    dtypes = list(input_data_types) if input_data_types is not None else [torch.float32] * len(input_shapes)
    if len(dtypes) != len(input_shapes):
        raise ValueError(f"{len(input_shapes)} input shapes but {len(dtypes)} input data types")
    inputs = []
    for shape, dtype in zip(input_shapes, dtypes):
        if dtype.is_floating_point:
            low, high = input_range
            inputs.append((torch.rand(shape, dtype=torch.float32) * (high - low) + low).to(dtype))
        elif dtype == torch.bool:
            inputs.append(torch.randint(0, 2, shape).to(torch.bool))
        else:
            low, high = input_range_int
            inputs.append(torch.randint(low, high, shape, dtype=dtype))
    return inputs


def verify_module(
    mod: torch.nn.Module,
    inputs: list[torch.Tensor] | None = None,
    input_shapes: list[tuple[int, ...]] | None = None,
    input_data_types: list[torch.dtype] | None = None,
    required_pcc: float = 0.99,
    required_atol: float = 1e-2,
    input_range: tuple[float, float] = (-0.5, 0.5),
    input_range_int: tuple[int, int] = (0, 1000),
    compiler_config=None,
    do_assert: bool = True,
    device=None,
) -> list[Comparison]:
    """Compiles ``mod`` with the tt backend and compares it with eager PyTorch (tt-torch's signature).

    Inputs are ``inputs`` or random ones of ``input_shapes``/``input_data_types``.
    Returns one comparison per output; with ``do_assert`` a failing output
    raises AssertionError naming it.
    """
    from tt_torch.dynamo.backend import BackendOptions
    from tt_torch.tools.utils import CompilerConfig

    if inputs is None:
        if input_shapes is None:
            raise ValueError("verify_module needs inputs or input_shapes")
        inputs = _make_inputs(input_shapes, input_data_types, input_range, input_range_int)
    mod = mod.eval() if isinstance(mod, torch.nn.Module) else mod
    options = BackendOptions(
        compiler_config=compiler_config if compiler_config is not None else CompilerConfig(),
        devices=[device] if device is not None else None,
    )
    compiled = torch.compile(mod, backend="tt", options=options, dynamic=False)
    with torch.no_grad():
        golden = mod(*inputs)
        result = compiled(*inputs)
    goldens, outs = _tensors(golden), _tensors(result)
    if not do_assert:
        return [
            Comparison(p, a, p >= required_pcc and a <= required_atol)
            for p, a in ((compute_pcc(g, c), compute_atol(g, c)) for g, c in zip(goldens, outs))
        ]
    return verify_against_golden(goldens, outs, required_pcc=required_pcc, required_atol=required_atol)


def verify_torch_module_async(mod: torch.nn.Module, *args, **kwargs) -> list[Comparison]:
    """tt-torch's async variant; the emulated device is synchronous, so it is ``verify_module``."""
    return verify_module(mod, *args, **kwargs)


def _tensors(value) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if hasattr(value, "to_tuple"):
        value = value.to_tuple()
    if isinstance(value, dict):
        value = list(value.values())
    return [t for t in value if isinstance(t, torch.Tensor)]
