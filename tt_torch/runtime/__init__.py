"""Load .ttnn binaries and run them on the emulated Tenstorrent device.

A thin layer over the C++ runtime (``tt_torch._C``, built from csrc/): it accepts
paths as well as bytes, turns the extension's exceptions into tt-torch's own
(:class:`~tt_torch.errors.BinaryError`, :class:`~tt_torch.errors.TTRuntimeError`)
and validates option strings. The same runtime is usable from C++ without Python.

    from tt_torch import runtime
    binary = runtime.load_binary("model.ttnn")
    with runtime.open_device("n150") as device:
        outputs = runtime.submit(device, binary, 0, inputs)

    model = runtime.load("model.ttnn")   # an exported model: weights from the file
    outputs = model(x)
"""

from __future__ import annotations

from .binary_info import binary_json
from .core import (
    DEFAULT_TARGET,
    NUMERICS,
    Binary,
    ConstEvalCache,
    Device,
    Hook,
    OpEvent,
    close_device,
    load_binary,
    open_device,
    open_device_for_target,
    open_mesh_device,
    resolve_numerics,
    schema_hash,
    schema_version,
    submit,
    submitter,
    system_info,
    system_names,
    translated_errors,
)
from .loaded import LoadedModel, load, narrow
from .tensor import PendingTensor, Tensor, create_tensor, to_host, to_layout, torch_dtype

__all__ = [
    "translated_errors",
    "resolve_numerics",
    "Hook",
    "NUMERICS",
    "DEFAULT_TARGET",
    "Binary",
    "ConstEvalCache",
    "Device",
    "LoadedModel",
    "OpEvent",
    "PendingTensor",
    "Tensor",
    "binary_json",
    "close_device",
    "create_tensor",
    "load",
    "load_binary",
    "narrow",
    "open_device",
    "open_device_for_target",
    "open_mesh_device",
    "schema_hash",
    "schema_version",
    "submit",
    "submitter",
    "system_info",
    "system_names",
    "to_host",
    "to_layout",
    "torch_dtype",
]
