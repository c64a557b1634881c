"""An exported ``.ttnn`` loaded back: callable like the model it came from.

    model = tt_torch.runtime.load("model.ttnn")
    outputs = model(x)            # list of tensors, the model's outputs flattened

Weights come from the file (or its side file). Inputs must have the program's dtypes,
except that integer inputs (int64 indices, bool masks) are narrowed to the program's
integer type with a range check; outputs are widened back to the model's dtypes, exactly
as the compiled model does, so the outputs are the same bit for bit.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from typing import Any

import torch

from tt_torch.errors import BinaryError, TTRuntimeError

from . import core
from .tensor import check_input_dtype, torch_dtype

_LOG = logging.getLogger("tt_torch.runtime")

_TORCH = {str(d): d for d in (torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int64, torch.int32)}
_TORCH.update({str(d): d for d in (torch.int16, torch.int8, torch.uint8, torch.bool)})
_TORCH.update({str(d): d for d in (torch.uint16, torch.uint32, torch.uint64)})
# PyTorch's unsigned types past uint8 have no min/max kernels: their range is read in NumPy.
_UNSIGNED = (torch.uint16, torch.uint32, torch.uint64)


def export_info(binary) -> dict[str, Any]:
    """The binary's export facts (JSON), {} for a binary that was not exported."""
    text = binary.export_info
    if not text:
        return {}
    try:
        info = json.loads(text)
    except ValueError as e:
        raise BinaryError(f"corrupt binary: its export info is not valid JSON ({e}); re-export the model") from None
    if not isinstance(info, dict):
        raise BinaryError("corrupt binary: its export info is not a JSON object; re-export the model")
    return info


def torch_dtype_from_name(name: str) -> torch.dtype:
    """'torch.float32' -> torch.float32 (how export_info records the model's output dtypes)."""
    if name not in _TORCH:
        raise TTRuntimeError(f"export info names an unknown torch dtype {name!r}; known: {', '.join(_TORCH)}")
    return _TORCH[name]


def narrow(t: torch.Tensor, dtype: torch.dtype, name: str, narrowing: str = "error") -> torch.Tensor:
    """Host-side narrowing of an input to the type the program takes (int64 -> int32,
    uint64 -> uint32, f64 -> f32; int8 and int16 widen to int32, exactly).

    A value that does not survive it (an integer out of int32's range, a finite f64 beyond
    f32's) is an error naming the input and the range; with ``narrowing="wrap"`` it becomes
    what the hardware holds (the low 32 bits, inf) and a warning says so. The check is one pass
    over each int64 input (min and max) or narrowed f64 input (max of abs) per call; an integer
    input of one element (a token id, a decode position) is read as one value instead.
    """
    if t.dtype == dtype:
        return t.contiguous()
    bounds = _ONE_VALUE.get((t.dtype, dtype))
    if bounds is not None and t.numel() == 1:
        # an index or a position: its one value read once, checked, and written in a new tensor
        # (no min/max pass, no cast kernel); out of range, the general path says so below
        value = t.item()
        if bounds[0] <= value <= bounds[1]:
            return torch.full(t.shape, value, dtype=dtype)
    narrowed = t.to(dtype).contiguous()
    lost = _lost_in_narrowing(t, narrowed)
    if lost is not None:
        if narrowing != "wrap":
            raise TTRuntimeError(
                f"input '{name}' has values in {lost}, which do not fit the device's {dtype} (narrowing "
                f"{t.dtype} -> {dtype}: the device has no 64-bit types); pass values within {_range_of(dtype)}, "
                "or compile with CompilerConfig(narrowing='wrap') for what the hardware would compute"
            )
        _LOG.warning(
            "input '%s' has values in %s, outside %s: narrowed %s -> %s as the hardware does (%s), "
            "CompilerConfig(narrowing='wrap')",
            name,
            lost,
            _range_of(dtype),
            t.dtype,
            dtype,
            "overflow to inf" if dtype.is_floating_point else "wrapped to 32 bits",
        )
    return narrowed


# (input dtype, program dtype) -> the program dtype's range, for integer inputs of one element
_ONE_VALUE = {
    (src, dst): (int(torch.iinfo(dst).min), int(torch.iinfo(dst).max))
    for src in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)
    for dst in (torch.int32, torch.uint32)
    if src != dst
}


def _range_of(dtype: torch.dtype) -> str:
    info = torch.finfo(dtype) if dtype.is_floating_point else torch.iinfo(dtype)
    return f"[{info.min}, {info.max}]"


def _lost_in_narrowing(t: torch.Tensor, narrowed: torch.Tensor) -> str | None:
    """The range of ``t`` as text when some value of it did not survive becoming ``narrowed``
    (an integer out of range, a finite float that became inf), else None."""
    if t.numel() == 0 or t.dtype == torch.bool:
        return None
    if not t.dtype.is_floating_point and not narrowed.dtype.is_floating_point:
        info = torch.iinfo(narrowed.dtype)
        if t.dtype in _UNSIGNED:
            values = t.detach().cpu().numpy()
            lo, hi = int(values.min()), int(values.max())
        else:
            lo, hi = (int(v) for v in torch.aminmax(t))
        return f"[{lo}, {hi}]" if lo < int(info.min) or hi > int(info.max) else None
    if t.dtype.is_floating_point and narrowed.dtype.is_floating_point:
        if bool(torch.isfinite(narrowed.abs().max())):  # one pass when nothing is inf (or NaN)
            return None
        overflowed = torch.isinf(narrowed) & torch.isfinite(t)
        if bool(overflowed.any()):
            lo, hi = (float(v) for v in torch.aminmax(t[torch.isfinite(t)]))
            return f"[{lo:g}, {hi:g}]"
    return None


class LoadedModel:
    """The programs of one ``.ttnn`` with their weights, on a device opened lazily from the
    binary's own system description."""

    def __init__(self, binary, device=None, numerics: str | None = None):
        self.binary = binary
        self.info = export_info(binary)
        self.public = [i for i in range(binary.num_programs) if not binary.program_is_private(i)]
        self._device = device
        self._numerics = core.resolve_numerics(numerics)
        self._weights: dict[int, list[torch.Tensor | None]] = {}
        # private const-eval programs run once on the file's weights, until those change
        self.const_eval_cache = core.ConstEvalCache()

    @property
    def device(self):
        if self._device is None or not self._device.is_open:
            self._device = core.open_device(self.binary, self._numerics)
        return self._device

    @property
    def program_names(self) -> list[str]:
        return [self.binary.program_name(i) for i in range(self.binary.num_programs)]

    def user_inputs(self, program: int) -> list[dict]:
        """The inputs a caller passes to `program` (its arguments that are not weights)."""
        with core.translated_errors():  # a corrupt description is the file's fault: TTRuntimeError
            return [d for d in self.binary.program_inputs(program) if d["arg_type"] == "Input"]

    def _consteval(self, program: int) -> tuple[int, dict[str, int]] | None:
        """(private program, {argument name: its output index}) when `program` takes const-eval results."""
        programs = self.info.get("programs", [])
        entry = programs[program] if isinstance(programs, list) and program < len(programs) else None
        ce = entry.get("consteval") if isinstance(entry, dict) else None
        if ce is None:
            return None
        index, args = (
            ce.get("program") if isinstance(ce, dict) else None,
            ce.get("args") if isinstance(ce, dict) else None,
        )
        if not isinstance(index, int) or not 0 <= index < self.binary.num_programs or not isinstance(args, dict):
            raise BinaryError("corrupt binary: its export info names a malformed const-eval program; re-export")
        return index, args

    def _program_weights(self, program: int) -> list[torch.Tensor | None]:
        if program not in self._weights:
            ce = self._consteval(program)
            skip = set(ce[1]) if ce else set()
            with core.translated_errors():
                self._weights[program] = [
                    None if d["arg_type"] == "Input" or d["name"] in skip else self.binary.weight(d["name"])
                    for d in self.binary.program_inputs(program)
                ]
        return self._weights[program]

    def _consteval_values(self, program: int) -> dict[str, torch.Tensor]:
        ce = self._consteval(program)
        if ce is None:
            return {}
        index, args = ce
        outputs = core.submit(
            self.device, self.binary, index, self._program_weights(index), const_eval_cache=self.const_eval_cache
        )
        if not all(isinstance(k, int) and 0 <= k < len(outputs) for k in args.values()):
            raise BinaryError("corrupt binary: its export info maps a const-eval output that does not exist")
        return {name: outputs[k] for name, k in args.items()}

    def full_inputs(self, program: int, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """`inputs` narrowed to the program's types, with the weights in their places."""
        descs = self.binary.program_inputs(program)
        wanted = [d for d in descs if d["arg_type"] == "Input"]
        if len(inputs) != len(wanted):
            names = ", ".join(f"{d['name']} {d['shape']} {d['dtype']}" for d in wanted)
            raise TTRuntimeError(
                f"program {program} ('{self.binary.program_name(program)}') takes {len(wanted)} input(s) ({names}), "
                f"got {len(inputs)}"
            )
        user = iter(inputs)
        full = []
        consteval = self._consteval_values(program)
        for desc, weight in zip(descs, self._program_weights(program)):
            if weight is not None:
                full.append(weight)
                continue
            if desc["arg_type"] != "Input":
                full.append(consteval[desc["name"]])
                continue
            t = next(user)
            if not isinstance(t, torch.Tensor):
                raise TTRuntimeError(f"input '{desc['name']}' must be a torch.Tensor, got {type(t).__name__}")
            dtype = torch_dtype(desc["dtype"])
            check_input_dtype(t, dtype, desc["name"], self.binary.program_name(program))
            full.append(narrow(t, dtype, desc["name"]))
        return full

    def output_dtypes(self, program: int) -> list[torch.dtype] | None:
        programs = self.info.get("programs", [])
        entry = programs[program] if isinstance(programs, list) and program < len(programs) else None
        if not isinstance(entry, dict) or "output_dtypes" not in entry:
            return None
        names = entry["output_dtypes"]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise BinaryError("corrupt binary: its export info has malformed output dtypes; re-export the model")
        return [torch_dtype_from_name(n) for n in names]

    def run(self, program: int, inputs: Sequence[torch.Tensor], **hooks) -> list[torch.Tensor]:
        """Runs `program` on user `inputs`; `hooks` are submit's pre_op / post_op."""
        with core.translated_errors():  # e.g. a program index the file does not have
            full = self.full_inputs(program, inputs)
        outs = core.submit(self.device, self.binary, program, full, **hooks)
        dtypes = self.output_dtypes(program)
        if dtypes is None:
            return outs
        return [o if o.dtype == dt else o.to(dt) for o, dt in zip(outs, dtypes)]

    def __call__(self, *inputs: torch.Tensor) -> list[torch.Tensor]:
        if len(self.public) != 1:
            listed = ", ".join(f"{i}: '{self.binary.program_name(i)}'" for i in self.public)
            raise TTRuntimeError(
                f"this .ttnn holds {len(self.public)} programs ({listed}), one per compiled graph (graph breaks or "
                "input shapes); run one with model.run(index, inputs)"
            )
        return self.run(self.public[0], inputs)

    def goldens(self, program: int | None = None) -> dict[str, torch.Tensor]:
        """Golden tensors recorded at export: {"input:0": ..., "output:0": ..., "op:<loc>": ...}."""
        with core.translated_errors():
            entries = self.binary.goldens()
        index = self.public[0] if program is None and len(self.public) == 1 else program
        return {key: t for key, p, t in entries if index is None or p == index}

    def close(self) -> None:
        if self._device is not None:
            self._device.close()


def load(path: str | os.PathLike, numerics: str | None = None) -> LoadedModel:
    """Loads an exported ``.ttnn`` (tt_torch.export); BinaryError if it is not a valid one.
    `numerics`: "emulated" or "fast" for the device it runs on (see runtime.open_device)."""
    return LoadedModel(core.load_binary(path), numerics=numerics)
