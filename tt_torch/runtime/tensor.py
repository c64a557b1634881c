"""Runtime tensors: tt::runtime's createTensor / toLayout / toHost over the emulated device.

On the emulated device a tensor is an ATen tensor in the container type of its data
type (fp32 math, bf16 values stay bf16) plus its layout; tile layout pads only in
the device's memory accounting, never physically. Programs take and return host
tensors; ``submit`` accepts these objects and moves them to the host first.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import torch

from tt_torch.errors import ConfigError, TTRuntimeError

# Host tensor type of each schema data type.
_TORCH_DTYPES = {
    "Float32": torch.float32,
    "BFloat16": torch.bfloat16,
    "Float16": torch.float16,
    "Int32": torch.int32,
    "UInt32": torch.uint32,
    "UInt16": torch.uint16,
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
    torch.uint32: "UInt32",
    torch.uint16: "UInt16",
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


class PendingTensor:
    """An output of a program that may still be running: what a model compiled with
    ``BackendOptions(async_mode=True)`` returns, as tt-torch returns runtime tensors.

    Reading it waits for the program: :func:`to_host` (tt-torch's ``tt_mlir.to_host``),
    :meth:`wait`, any torch function or tensor attribute (``torch.add(t, 1)``,
    ``t.shape``). An error of the run is raised where it is read."""

    __slots__ = ("_future", "_index")

    def __init__(self, future: Future, index: int) -> None:
        self._future = future
        self._index = index

    def done(self) -> bool:
        """Whether the program that makes it has finished."""
        return self._future.done()

    def wait(self, timeout: float | None = None) -> torch.Tensor:
        """The host tensor, once the program has finished (``timeout`` seconds at most)."""
        return self._future.result(timeout)[self._index]

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        resolve = lambda v: v.wait() if isinstance(v, PendingTensor) else v  # noqa: E731
        args, kwargs = torch.utils._pytree.tree_map(resolve, (args, kwargs or {}))
        return func(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wait(), name)

    def __repr__(self) -> str:
        state = "done" if self.done() else "running"
        return f"<PendingTensor output {self._index} ({state}): tt_torch.runtime.to_host(t) reads it>"


def to_host(tensor: Tensor | PendingTensor | torch.Tensor | list | tuple) -> torch.Tensor | list:
    """A host, row-major torch tensor with the values of `tensor`; a list or tuple of them gives a
    list (tt-torch's ``to_host`` of a model's runtime outputs). A :class:`PendingTensor` is waited for."""
    if isinstance(tensor, (list, tuple)):
        return [to_host(t) for t in tensor]
    if isinstance(tensor, torch.Tensor):
        return tensor
    if isinstance(tensor, PendingTensor):
        return tensor.wait()
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
