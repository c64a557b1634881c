"""Load .ttnn binaries and run them on the emulated Tenstorrent device.

A thin layer over the C++ runtime (``tt_torch._C``, built from csrc/): it accepts
paths as well as bytes, turns the extension's exceptions into tt-torch's own
(:class:`~tt_torch.errors.BinaryError`, :class:`~tt_torch.errors.TTRuntimeError`)
and validates option strings. The same runtime is usable from C++ without Python.

    from tt_torch import runtime
    binary = runtime.load_binary("model.ttnn")
    with runtime.open_device("n150") as device:
        outputs = runtime.submit(device, binary, 0, inputs)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence

import torch

from tt_torch.errors import BinaryError, ConfigError, TTRuntimeError

try:
    from tt_torch import _C
except ImportError as e:  # pragma: no cover - only without a build
    raise ImportError(
        "tt_torch._C is missing: build the runtime with `pip install -e . --no-build-isolation --no-deps` "
        "(or `source env/activate`)."
    ) from e

Binary = _C.Binary
Device = _C.Device

__all__ = [
    "DEFAULT_TARGET",
    "Binary",
    "Device",
    "load_binary",
    "open_device",
    "schema_hash",
    "schema_version",
    "submit",
    "system_names",
    "torch_dtype",
]

DEFAULT_TARGET = "n150"

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


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    """Re-raise the extension's exceptions as tt-torch's, with the same message."""
    try:
        yield
    except _C.BinaryError as e:
        raise BinaryError(str(e)) from None
    except _C.RuntimeError as e:
        raise TTRuntimeError(str(e)) from None


def schema_hash() -> str:
    """SHA-256 of the flatbuffer schema this runtime reads."""
    return _C.schema_hash()


def schema_version() -> tuple[int, int, int]:
    return tuple(_C.schema_version())


def system_names() -> list[str]:
    """Names of the built-in device descriptions ("n150", "n300", "p150")."""
    return list(_C.system_names())


def load_binary(data: bytes | bytearray | memoryview | str | os.PathLike) -> Binary:
    """A verified binary from its bytes or from a .ttnn file.

    Raises BinaryError when the data is not a tt-torch binary, is corrupt or
    truncated, or was written for another schema.
    """
    with _translated():
        if isinstance(data, (bytes, bytearray, memoryview)):
            return _C.Binary.from_bytes(bytes(data))
        if isinstance(data, (str, os.PathLike)):
            return _C.Binary.from_file(os.fspath(data))
    raise TypeError(f"load_binary takes bytes or a path, got {type(data).__name__}")


def open_device(target: str | Binary = DEFAULT_TARGET) -> Device:
    """Opens an emulated device: a built-in system by name, or the system a binary was
    compiled for (its embedded system description). Usable as a context manager,
    which closes the device on exit."""
    if isinstance(target, _C.Binary):
        with _translated():
            return _C.Device.open_device_for(target)
    if not isinstance(target, str) or target not in _C.system_names():
        allowed = ", ".join(repr(n) for n in _C.system_names())
        raise ConfigError(f"unknown device target {target!r}: expected one of {allowed} (default {DEFAULT_TARGET!r})")
    with _translated():
        return _C.Device.open_device(target)


def submit(device: Device, binary: Binary, program_index: int, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Runs one program of `binary` on `device`.

    `inputs` are host tensors whose shapes and dtypes match the program's inputs
    exactly (see ``binary.program_inputs(i)`` and :func:`torch_dtype`); the outputs are
    fresh contiguous host tensors. Raises TTRuntimeError naming the input or the op
    (with its source location) that failed.
    """
    with _translated():
        return _C.submit(device, binary, program_index, list(inputs))


def torch_dtype(dtype: str) -> torch.dtype:
    """The host tensor dtype for a schema data type name as ``program_inputs`` reports it."""
    try:
        return _TORCH_DTYPES[dtype]
    except KeyError:
        raise TTRuntimeError(
            f"data type {dtype} has no host tensor type: block-float formats are not supported yet "
            f"on the host side; supported: {', '.join(_TORCH_DTYPES)}"
        ) from None
