"""Runtime tensors: tt::runtime's createTensor / toLayout / toHost over the emulated device.

On the emulated device a tensor is an ATen tensor in the container type of its data
type (fp32 math, bf16 values stay bf16) plus its layout; tile layout pads only in
the device's memory accounting, never physically. Programs take and return host
tensors; ``submit`` accepts these objects and moves them to the host first.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tt_torch.errors import ConfigError, TTRuntimeError

# Host tensor type of each schema data type (UInt16/UInt32 travel as int32, the
# device's container for them).
_TORCH_DTYPES = {
    "Float32": torch.float32,
    "BFloat16": torch.bfloat16,
    "Float16": torch.float16,
    "Int32": torch.int32,
    "UInt32": torch.int32,
    "UInt16": torch.int32,
    "UInt8": torch.uint8,
}


_LAYOUTS = ("row_major", "tile")
# Schema data type name -> torch dtype of a value rounded to it: the host types of the schema's.
_ROUNDING = _TORCH_DTYPES
_FROM_TORCH = {
    torch.float32: "Float32",
    torch.bfloat16: "BFloat16",
    torch.float16: "Float16",
    torch.int32: "Int32",
    torch.uint8: "UInt8",
}


@dataclass(frozen=True)
class Tensor:
    """A runtime tensor: its values, schema data type, layout and where it lives."""

    data: torch.Tensor
    dtype: str
    layout: str = "row_major"
    device: object | None = None  # the Device it was moved to, None on the host

    @property
    def on_device(self) -> bool:
        return self.device is not None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)


def _dtype_name(dtype: str | torch.dtype | None, data: torch.Tensor) -> str:
    if dtype is None:
        dtype = data.dtype
    if isinstance(dtype, torch.dtype):
        if dtype not in _FROM_TORCH:
            raise ConfigError(f"{dtype} has no device data type; use one of {', '.join(map(str, _FROM_TORCH))}")
        return _FROM_TORCH[dtype]
    if dtype not in _ROUNDING:
        raise ConfigError(f"unknown data type {dtype!r}; expected one of {', '.join(_ROUNDING)}")
    return dtype


def create_tensor(data: torch.Tensor, dtype: str | torch.dtype | None = None) -> Tensor:
    """A host, row-major runtime tensor holding `data` rounded to `dtype` (default: data's own)."""
    name = _dtype_name(dtype, data)
    return Tensor(data.detach().to(_ROUNDING[name]).contiguous(), name)


def to_layout(tensor: Tensor, device: object, layout: str = "tile", dtype: str | torch.dtype | None = None) -> Tensor:
    """The tensor on `device` in `layout` ("tile" or "row_major"), rounded to `dtype` if given."""
    if layout not in _LAYOUTS:
        raise ConfigError(f"layout={layout!r} is not valid; allowed: {', '.join(_LAYOUTS)}")
    if not getattr(device, "is_open", False):
        raise ConfigError("to_layout needs an open device (runtime.open_device(...))")
    name = _dtype_name(dtype, tensor.data) if dtype is not None else tensor.dtype
    return Tensor(tensor.data.to(_ROUNDING[name]), name, layout, device)


def to_host(tensor: Tensor | torch.Tensor) -> torch.Tensor:
    """A host, row-major torch tensor with the values of `tensor`."""
    if isinstance(tensor, torch.Tensor):
        return tensor
    return tensor.data.clone()


def torch_dtype(dtype: str) -> torch.dtype:
    """The host tensor dtype for a schema data type name as ``program_inputs`` reports it."""
    try:
        return _TORCH_DTYPES[dtype]
    except KeyError:
        raise TTRuntimeError(
            f"data type {dtype} has no host tensor type: block-float formats are not supported yet "
            f"on the host side; supported: {', '.join(_TORCH_DTYPES)}"
        ) from None


def check_input_dtype(t: torch.Tensor, dtype: torch.dtype, name: str, program: str) -> None:
    """A loaded model takes each input in the dtype the program was exported with. The one
    conversion made is integer -> the program's integer type (PyTorch's int64 indices and
    bool masks to the device's int32/uint8), range-checked; a float input of another width
    or an int/float mix is refused, since casting it would change the values silently."""
    if t.dtype == dtype:
        return
    if not dtype.is_floating_point and not t.dtype.is_floating_point and not t.dtype.is_complex:
        return
    raise TTRuntimeError(
        f"input '{name}' of program '{program}' is {t.dtype}, but the program takes {dtype} (the dtype the "
        f"model was exported with); pass it as `.to({dtype})` (runtime.load converts integer inputs only)"
    )
