"""Accuracy checks of a compiled model against a golden (CPU) result, as tt-torch's API names them.

PCC and atol are :mod:`tt_torch.accuracy`'s (PCC as ttrt defines it); they are
re-exported here under their usual names.
"""

from __future__ import annotations

from dataclasses import dataclass

import onnx
import torch

from tt_torch import runtime
from tt_torch.accuracy import compute_atol, compute_pcc
from tt_torch.config import CompilerConfig
from tt_torch.dynamo.backend import BackendOptions
from tt_torch.onnx_compile import compile_onnx
from tt_torch.tools.device_manager import DeviceManager

__all__ = [
    "Comparison",
    "compute_atol",
    "compute_pcc",
    "verify_against_golden",
    "verify_module",
    "verify_torch_module_async",
]


@dataclass
class Comparison:
    """One output's result: ``pcc`` is None where tt-torch skips it (a single value, a non-tensor)."""

    pcc: float | None
    atol: float | None
    passed: bool

    def __str__(self) -> str:
        pcc = "n/a" if self.pcc is None else f"{self.pcc:.6f}"
        atol = "n/a" if self.atol is None else f"{self.atol:.3g}"
        return f"PCC={pcc} atol={atol} {'ok' if self.passed else 'FAILED'}"


_PASS, _FAIL, _WARN = "\u2705", "\u274c", "\u274e"


def _as_outputs(value: object, what: str) -> tuple:
    """tt-torch takes tuples; a list or a single tensor is taken as well."""
    if isinstance(value, tuple):
        return value
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, torch.Tensor):
        return (value,)
    raise AssertionError(
        f"Expecting the {what} tensors to be a tuple of tensors, got {type(value).__name__}; "
        "pass the model's outputs as a tuple"
    )


def verify_against_golden(
    golden_tensors: tuple | list | torch.Tensor,
    calculated_tensors: tuple | list | torch.Tensor,
    assert_pcc: bool,
    assert_atol: bool,
    required_pcc: float = 0.99,
    required_atol: float | None = None,
    relative_atol: float | None = None,
    disable_print: bool = False,
) -> tuple[list[float | None], list[float | None], bool, bool, list[float]]:
    """Compares each calculated output with its golden, as tt-torch does.

    Exactly one of ``required_atol`` and ``relative_atol`` (a fraction of the golden's
    largest magnitude) is given. An output passes with PCC >= ``required_pcc`` (skipped
    for a single value) and ATOL <= the threshold; a non-tensor item must be equal.
    A failed check raises AssertionError listing every failing output where its assert
    flag is True; where it is False the failure is a warning (the ❎ mark in the lines
    printed, and a ``logging`` warning). The per-output PCC/ATOL lines are printed with
    ``print`` unless ``disable_print``, as tt-torch prints them.

    Returns ``(pccs, atols, passed_pcc, passed_atol, atol_thresholds)``.
    """
    import logging

    log = logging.getLogger(__name__)
    assert (required_atol is not None) != (relative_atol is not None), (
        "Exactly one of atol or relative_atol should be provided."
        f" Got required_atol={required_atol!r}, relative_atol={relative_atol!r}."
    )
    goldens = _as_outputs(golden_tensors, "golden")
    outs = _as_outputs(calculated_tensors, "calculated")
    assert len(goldens) == len(outs), (
        f"Expecting the number of golden tensors (ct: {len(goldens)}) and calculated tensors "
        f"(ct: {len(outs)}) to be the same."
    )
    rel = f" (calculated using relative_atol: {relative_atol})" if relative_atol is not None else ""
    pccs: list[float | None] = []
    atols: list[float | None] = []
    thresholds: list[float] = []
    lines: list[str] = []
    errors: list[str] = []
    passed_pcc = passed_atol = True
    for i, (golden, calculated) in enumerate(zip(goldens, outs)):
        lines.append(f"Results for output {i}:")
        if not isinstance(golden, torch.Tensor) or not isinstance(calculated, torch.Tensor):
            equal = _equal_items(golden, calculated)
            pccs.append(None)
            atols.append(None)
            thresholds.append(0)
            if equal:
                lines.append(f"  value: equal {_PASS}")
            else:
                mark = _FAIL if assert_pcc or assert_atol else _WARN
                text = f"value of output {i}: {calculated!r}, expected {golden!r} {mark}"
                lines.append(f"  {text}")
                errors.append(text)
                passed_pcc = passed_atol = False
            continue
        assert golden.shape == calculated.shape, f"Shape mismatch on output {i}: {golden.shape} vs {calculated.shape}"
        if golden.numel() == 1:
            pcc = None  # tt-torch skips PCC for a single value
        else:
            pcc = compute_pcc(golden, calculated)
        pccs.append(pcc)
        if relative_atol is not None:
            finite = golden.detach()[~torch.isnan(golden.detach())]
            largest = float(finite.abs().max()) if finite.numel() else 0.0
            threshold = largest * relative_atol
        else:
            threshold = required_atol
        thresholds.append(threshold)
        atol = compute_atol(golden, calculated)
        atols.append(atol)
        if pcc is not None:
            mark = _PASS if pcc >= required_pcc else (_FAIL if assert_pcc else f"{_WARN} (assert_pcc == False)")
            lines.append(f"  PCC: {pcc:0,.4f}, threshold: {required_pcc} {mark}")
            if pcc < required_pcc:
                errors.append(f"PCC of output {i}: {pcc:0,.4f}, threshold: {required_pcc} {mark}")
                passed_pcc = False
        mark = _PASS if atol <= threshold else (_FAIL if assert_atol else f"{_WARN} (assert_atol == False)")
        lines.append(f"  ATOL: {atol:0,.4f}, threshold: {threshold}{rel} {mark}")
        if not atol <= threshold:
            errors.append(f"ATOL of output {i}: {atol:0,.4f}, threshold: {threshold}{rel} {mark}")
            passed_atol = False

    err_msg = "".join(e + "\n" for e in errors)
    if assert_pcc and assert_atol:
        if not passed_pcc or not passed_atol:
            raise AssertionError(err_msg)
    elif assert_atol:
        print("Ignoring PCC check\n")
        if not passed_atol:
            raise AssertionError(err_msg)
    elif assert_pcc:
        print("Ignoring ATOL check\n")
        if not passed_pcc:
            raise AssertionError(err_msg)
    if errors:
        log.warning("verification failed, not asserted:\n%s", err_msg.rstrip())
    if not disable_print:
        print("\n".join(lines) + "\n")
    return pccs, atols, passed_pcc, passed_atol, thresholds


def _equal_items(golden: object, calculated: object) -> bool:
    try:
        return bool(golden == calculated)
    except (RuntimeError, TypeError, ValueError):  # a tensor against a non-tensor
        return False


def generate_inputs(
    input_shapes: list,
    input_data_types: list[torch.dtype],
    input_range: tuple[float, float],
    input_range_int: tuple[int, int],
) -> list[torch.Tensor]:
    """Random inputs as tt-torch makes them: floats uniform in ``input_range`` (in their own
    dtype), bools, and every integer type as int32 uniform in ``input_range_int``.

    One dtype per shape gives one input per shape. With fewer dtypes than shapes, as
    tt-torch: all-bool dtypes give bools and integer dtypes give int32 for every shape;
    float dtypes must then match the shapes one for one.
    """
    shapes, dtypes = list(input_shapes), list(input_data_types)
    if len(dtypes) != len(shapes):
        if dtypes and all(d == torch.bool for d in dtypes):
            dtypes = [torch.bool] * len(shapes)
        elif dtypes and not any(d.is_floating_point for d in dtypes):
            dtypes = [torch.int32] * len(shapes)
        else:
            raise ValueError(
                f"{len(shapes)} input shapes but {len(dtypes)} input data types ({dtypes}); give one float "
                "dtype per shape (all-bool or all-integer dtypes apply to every shape)"
            )
    inputs = []
    for shape, dtype in zip(shapes, dtypes):
        if dtype.is_floating_point:
            low, high = input_range
            inputs.append((low - high) * torch.rand(shape, dtype=dtype) + high)
        elif dtype == torch.bool:
            inputs.append(torch.randint(0, 2, shape, dtype=torch.bool))
        else:
            low, high = input_range_int
            inputs.append(torch.randint(low, high, shape, dtype=torch.int32))
    return inputs


def _compile(mod: torch.nn.Module, compiler_config, device, async_mode: bool):
    options = BackendOptions()
    options.compiler_config = compiler_config if compiler_config is not None else CompilerConfig()
    options.devices = [device]
    options.async_mode = async_mode
    return torch.compile(mod, backend="tt", options=options)


def _prepare_inputs(inputs, input_shapes, input_data_types, input_range, input_range_int) -> list:
    assert input_shapes is not None or inputs is not None, "Either input_shapes or inputs must be provided"
    if inputs is not None:
        return list(inputs)
    if input_data_types is None:
        input_data_types = [torch.float32] * len(input_shapes)
    return generate_inputs(input_shapes, input_data_types, input_range, input_range_int)


def _comparisons(pccs, atols, thresholds, required_pcc: float) -> list[Comparison]:
    return [
        Comparison(p, a, (p is None or p >= required_pcc) and (a is None or a <= t))
        for p, a, t in zip(pccs, atols, thresholds)
    ]


def verify_module(
    mod: torch.nn.Module | onnx.ModelProto,
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

    Inputs are ``inputs`` or random ones of ``input_shapes``/``input_data_types``
    (:func:`generate_inputs`). ``compiler_config`` None means a fresh ``CompilerConfig()``;
    ``device``: a device from ``DeviceManager`` (None: the executor opens one). Checks
    every output with :func:`verify_against_golden` (``do_assert`` for both PCC and
    ATOL) and returns one comparison per output. Resets dynamo afterwards, as tt-torch does.

    An ``onnx.ModelProto`` is compiled with :func:`tt_torch.onnx_compile.compile_onnx`
    and compared with ONNX Runtime; its inputs come from the graph's input types and
    shapes when not given, and ``input_shapes`` is refused (the graph fixes them).
    """
    if isinstance(mod, onnx.ModelProto):
        _refuse_input_shapes(input_shapes)
        compiled = compile_onnx(mod, compiler_config, device=device)
        try:
            return _verify_onnx(
                compiled, inputs, input_data_types, input_range, input_range_int, required_pcc, required_atol, do_assert
            )
        finally:
            compiled.close()
    if not isinstance(mod, torch.nn.Module):
        raise ValueError(f"verify_module takes a torch.nn.Module or an onnx.ModelProto, got {type(mod).__name__}")
    try:
        inputs = _prepare_inputs(inputs, input_shapes, input_data_types, input_range, input_range_int)
        golden = _tensors(mod(*inputs))
        result = _tensors(_compile(mod, compiler_config, device, async_mode=False)(*inputs))
        pccs, atols, _, _, thresholds = verify_against_golden(
            golden, result, do_assert, do_assert, required_pcc, required_atol=required_atol
        )
        return _comparisons(pccs, atols, thresholds, required_pcc)
    finally:
        torch._dynamo.reset()


def verify_torch_module_async(
    mod: torch.nn.Module | onnx.ModelProto,
    inputs: list[torch.Tensor] | None = None,
    input_shapes: list[tuple[int, ...]] | None = None,
    input_data_types: list[torch.dtype] | None = None,
    required_pcc: float = 0.99,
    required_atol: float = 1e-2,
    input_range: tuple[float, float] = (-0.5, 0.5),
    input_range_int: tuple[int, int] = (0, 1000),
    compiler_config=None,
    do_assert: bool = True,
) -> list[list[Comparison]]:
    """tt-torch's multi-device check: acquires every available device
    (``DeviceManager.acquire_available_devices``), compiles ``mod`` with ``async_mode=True``
    for each, runs it on each and compares every device's outputs with eager PyTorch.
    The devices are released afterwards, also when a check fails. Returns one list of
    comparisons per device. An ``onnx.ModelProto`` is compiled once per device with
    ``compile_onnx`` and compared with ONNX Runtime, as :func:`verify_module` does."""
    if isinstance(mod, onnx.ModelProto):
        _refuse_input_shapes(input_shapes)
        parent, devices = DeviceManager.acquire_available_devices()
        try:
            results = []
            for device in devices:
                compiled = compile_onnx(mod, compiler_config, device=device)
                results.append(
                    _verify_onnx(
                        compiled,
                        inputs,
                        input_data_types,
                        input_range,
                        input_range_int,
                        required_pcc,
                        required_atol,
                        do_assert,
                    )
                )
            return results
        finally:
            DeviceManager.release_parent_device(parent, cleanup_sub_devices=True)
    inputs = _prepare_inputs(inputs, input_shapes, input_data_types, input_range, input_range_int)
    parent, devices = DeviceManager.acquire_available_devices()
    try:
        compiled = [_compile(mod, compiler_config, device, async_mode=True) for device in devices]
        golden = _tensors(mod(*inputs))
        results = []
        for model in compiled:
            pccs, atols, _, _, thresholds = verify_against_golden(
                golden, _tensors(model(*inputs)), do_assert, do_assert, required_pcc, required_atol=required_atol
            )
            results.append(_comparisons(pccs, atols, thresholds, required_pcc))
        return results
    finally:
        DeviceManager.release_parent_device(parent, cleanup_sub_devices=True)
        torch._dynamo.reset()


def _refuse_input_shapes(input_shapes) -> None:
    if input_shapes is not None:
        raise ValueError(
            "input_shapes must be None for an ONNX model: its graph fixes the input shapes (bind dynamic dims with "
            "tt_torch.onnx_compile.compile_onnx(model, input_shapes=...))"
        )


def _onnx_inputs(compiled, inputs, input_data_types, input_range, input_range_int) -> list[torch.Tensor]:
    """``inputs``, or random ones of the graph's input shapes and types (``input_data_types``
    overrides the types): floats in ``input_range``, integers in ``input_range_int``, bools."""
    if inputs is not None:
        return [torch.from_numpy(x) if not isinstance(x, torch.Tensor) else x for x in inputs]
    infos = compiled.prepared.inputs
    dtypes = list(input_data_types) if input_data_types is not None else [i.dtype for i in infos]
    if len(dtypes) != len(infos):
        raise ValueError(f"{len(dtypes)} input data types for the ONNX model's {len(infos)} inputs")
    out = []
    for info, dtype in zip(infos, dtypes):
        if dtype.is_floating_point:
            low, high = input_range
            out.append(((low - high) * torch.rand(info.shape) + high).to(dtype))
        elif dtype == torch.bool:
            out.append(torch.randint(0, 2, info.shape, dtype=torch.bool))
        else:
            low, high = input_range_int
            out.append(torch.randint(low, high, info.shape).to(dtype))
    return out


def _verify_onnx(
    compiled, inputs, input_data_types, input_range, input_range_int, required_pcc, required_atol, do_assert
) -> list[Comparison]:
    """``compiled`` (an ``OnnxModel``) against ONNX Runtime on the same inputs."""
    inputs = _onnx_inputs(compiled, inputs, input_data_types, input_range, input_range_int)
    golden = tuple(compiled.run_reference(inputs))
    result = tuple(compiled(*inputs))
    pccs, atols, _, _, thresholds = verify_against_golden(
        golden, result, do_assert, do_assert, required_pcc, required_atol=required_atol
    )
    return _comparisons(pccs, atols, thresholds, required_pcc)


def _tensors(value: object) -> tuple:
    """A model's outputs as tt-torch's verification takes them: a tuple."""
    if isinstance(value, (torch.Tensor, runtime.PendingTensor)):
        return (runtime.to_host(value),)
    if hasattr(value, "to_tuple"):
        value = value.to_tuple()
    if isinstance(value, dict):
        value = list(value.values())
    return tuple(runtime.to_host(list(value)))  # async_mode's pending outputs are waited for
