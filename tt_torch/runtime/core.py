"""The runtime's Python surface over the C++ extension: binaries, devices, ``submit``.

The extension's exceptions come back as tt-torch's own (:func:`translated_errors`);
option strings are validated here.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from tt_torch import env
from tt_torch.errors import BinaryError, ConfigError, TTRuntimeError

from .tensor import Tensor, to_host
from .versions import tensor_stamp

try:
    from tt_torch import _C
except ImportError as e:  # pragma: no cover - only without a build
    raise ImportError(
        "tt_torch._C is missing: build the runtime with `pip install -e . --no-build-isolation --no-deps` "
        "(or `source env/activate`)."
    ) from e

Binary = _C.Binary
Device = _C.Device
OpEvent = _C.OpEvent
Hook = Callable[[OpEvent], None]


# (arch, mesh shape) -> the built-in system of that shape.
_MESHES = {
    ("wormhole_b0", (1, 1)): "n150",
    ("wormhole_b0", (1, 2)): "n300",
    ("wormhole_b0", (2, 4)): "t3k",
    ("wormhole_b0", (4, 8)): "galaxy",
    ("blackhole", (1, 1)): "p150",
    ("blackhole", (2, 2)): "p150x4",
    ("blackhole", (2, 4)): "p150x8",
}

DEFAULT_TARGET = "n150"


@contextlib.contextmanager
def translated_errors() -> Iterator[None]:
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
    """Names of the built-in device descriptions ("n150", "n300", "t3k", "galaxy", "p150", "p150x4", "p150x8")."""
    return list(_C.system_names())


def system_info(name: str) -> dict[str, Any]:
    """The built-in device description `name`: arch, mesh, grid, L1, DRAM, data types."""
    if name not in _C.system_names():
        raise ConfigError(f"unknown device {name!r}: expected one of {', '.join(_C.system_names())}")
    return dict(_C.system_info(name))


def load_binary(data: bytes | bytearray | memoryview | str | os.PathLike, base_dir: str = "") -> Binary:
    """A verified binary from its bytes or from a .ttnn file.

    Raises BinaryError when the data is not a tt-torch binary, is corrupt or
    truncated, or was written for another schema. Side-file weights are read from the
    file's directory (or `base_dir` for bytes).
    """
    with translated_errors():
        if isinstance(data, (bytes, bytearray, memoryview)):
            return _C.Binary.from_bytes(bytes(data), base_dir)
        if isinstance(data, (str, os.PathLike)):
            path = os.fspath(data)
            check_regular_file(path, "tt-torch binary", MAX_BINARY_BYTES)
            return _C.Binary.from_file(path)
    raise TypeError(f"load_binary takes bytes or a path, got {type(data).__name__}")


# A flatbuffer cannot exceed 2 GiB (32-bit offsets), plus its 4-byte size prefix.
MAX_BINARY_BYTES = 2**31 + 4


def check_regular_file(path: str | os.PathLike, what: str, max_bytes: int) -> int:
    """The size of `path` when it is a regular file of at most `max_bytes` (links followed);
    otherwise BinaryError saying what it is. Reading a FIFO would block, a directory or
    /dev/zero has no end: none of them is read."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise BinaryError(f"cannot open {what} '{os.fspath(path)}': no such file") from None
    except OSError as e:
        raise BinaryError(f"cannot open {what} '{os.fspath(path)}': {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        kind = next((k for test, k in _KINDS if test(st.st_mode)), "not a regular file")
        raise BinaryError(f"{what} '{os.fspath(path)}' is {kind}, not a regular file: pass the file itself")
    if st.st_size > max_bytes:
        raise BinaryError(
            f"{what} '{os.fspath(path)}' has {st.st_size} bytes, more than the {max_bytes} it can have: "
            "it is not a tt-torch file, or it is corrupt"
        )
    return st.st_size


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)

NUMERICS = ("emulated", "fast")


def resolve_numerics(numerics: str | None) -> str:
    """`numerics`, or $TT_TORCH_NUMERICS when None; an unknown mode is a ConfigError."""
    mode = env.NUMERICS.get() if numerics is None else numerics
    if mode not in NUMERICS:
        source = "TT_TORCH_NUMERICS" if numerics is None else "numerics"
        raise ConfigError(f"{source}={mode!r} is not a numerics mode: expected 'emulated' (the default) or 'fast'")
    return mode


def open_device(target: str | Binary = DEFAULT_TARGET, numerics: str | None = None) -> Device:
    """Opens an emulated device: a built-in system by name, or the system a binary was
    compiled for (its embedded system description). Usable as a context manager,
    which closes the device on exit.

    `numerics`: "emulated" reproduces the chip's data formats (block-float rounding),
    SrcA/SrcB registers (fp32 operands of matmul, conv and multiply keep 10 mantissa
    bits) and math fidelity; "fast" skips all of that for speed. None: $TT_TORCH_NUMERICS,
    default "emulated"."""
    mode = resolve_numerics(numerics)
    if isinstance(target, _C.Binary):
        with translated_errors():
            return _C.Device.open_device_for(target, mode)
    if not isinstance(target, str) or target not in _C.system_names():
        allowed = ", ".join(repr(n) for n in _C.system_names())
        raise ConfigError(f"unknown device target {target!r}: expected one of {allowed} (default {DEFAULT_TARGET!r})")
    with translated_errors():
        return _C.Device.open_device(target, mode)


def open_device_for_target(target: str, binary: Binary, numerics: str | None = None) -> Device:
    """The device a program compiled for `target` runs on: the built-in system of that name,
    or, for a target saved as a file, the description the binary embeds."""
    return open_device(target if target in _C.system_names() else binary, numerics)


def open_mesh_device(mesh_shape: Sequence[int] = (1, 1), arch: str = "wormhole_b0") -> Device:
    """Opens the emulated system of `arch` with `mesh_shape` chips (tt::runtime's openMeshDevice)."""
    name = _MESHES.get((arch, tuple(mesh_shape)))
    if name is None:
        known = ", ".join(f"{a} {list(m)} ({n})" for (a, m), n in _MESHES.items())
        raise ConfigError(f"no emulated {arch} system with mesh shape {list(mesh_shape)}; known: {known}")
    return open_device(name)


# One lock per open device (weakly keyed: it goes with the device).
_QUEUES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_QUEUES_LOCK = threading.Lock()


def device_queue(device: Device) -> threading.RLock:
    """What makes a device run one program at a time, in the order the calls come: a chip's
    command queue. Programs on different devices run concurrently (data parallel); two threads
    submitting to one device take turns, so its memory accounting, peaks and integer-wrap
    count belong to one program at a time. Reentrant, for a hook that submits again."""
    with _QUEUES_LOCK:
        lock = _QUEUES.get(device)
        if lock is None:
            lock = _QUEUES[device] = threading.RLock()
        return lock


def close_device(device: Device) -> None:
    device.close()


def submit(
    device: Device,
    binary: Binary,
    program_index: int,
    inputs: Sequence[torch.Tensor | Tensor],
    *,
    pre_op: Hook | None = None,
    post_op: Hook | None = None,
    const_eval_cache: ConstEvalCache | None = None,
) -> list[torch.Tensor]:
    """Runs one program of `binary` on `device`.

    `inputs` are host tensors whose shapes and dtypes match the program's inputs
    exactly (see ``binary.program_inputs(i)`` and :func:`torch_dtype`); the outputs are
    fresh contiguous host tensors. Raises TTRuntimeError naming the input or the op
    (with its source location) that failed.

    `pre_op` / `post_op` are called with an :class:`OpEvent` (index, type, loc, debug;
    post-op also the op's output tensor and kernel time) around every op. A private
    (const-eval) program run with a `const_eval_cache` runs once and its outputs are
    reused until one of its inputs changes.
    """
    host = [to_host(t) if isinstance(t, Tensor) else t for t in inputs]
    queue = _QUEUES.get(device) or device_queue(device)

    def run() -> list[torch.Tensor]:
        # translated_errors() inline: a generator context manager costs microseconds per call
        with queue:
            try:
                return _C.submit(device, binary, program_index, host, pre_op, post_op)
            except _C.BinaryError as e:
                raise BinaryError(str(e)) from None
            except _C.RuntimeError as e:
                raise TTRuntimeError(str(e)) from None

    if const_eval_cache is not None and binary.program_is_private(program_index):
        return const_eval_cache.get_or_run(binary, program_index, host, run)
    return run()


def submitter(device: Device, binary: Binary, program_index: int) -> Callable[[list[torch.Tensor]], list[torch.Tensor]]:
    """:func:`submit` for one program, with what does not change between calls looked up once
    (the device's queue lock, the extension's function): the call path of a compiled graph.

    The callable takes host torch tensors only (no runtime :class:`Tensor`), runs no hooks and
    caches nothing; its errors are tt-torch's, as submit's."""
    queue = device_queue(device)
    run = _C.submit

    def call(host: list[torch.Tensor]) -> list[torch.Tensor]:
        with queue:
            try:
                return run(device, binary, program_index, host, None, None)
            except _C.BinaryError as e:
                raise BinaryError(str(e)) from None
            except _C.RuntimeError as e:
                raise TTRuntimeError(str(e)) from None

    return call


class ConstEvalCache:
    """Outputs of private (const-eval) programs, kept until one of their inputs changes.

    An input "changes" when it is another tensor object, its storage moved, or it was
    modified in place (its version counter moved), as for tt-mlir's load_cached. An
    inference tensor has no version counter and is keyed by identity and storage
    (:mod:`tt_torch.runtime.versions`). Safe to share between threads: a program that is not
    cached yet runs once, the other callers wait for its outputs.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[int, int], tuple[tuple, list[torch.Tensor], list[torch.Tensor]]] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _stamp(inputs: Sequence[torch.Tensor]) -> tuple:
        return tuple(tensor_stamp(t) for t in inputs)

    def get_or_run(
        self, binary: Binary, index: int, inputs: Sequence[torch.Tensor], run: Callable[[], list[torch.Tensor]]
    ) -> list[torch.Tensor]:
        key, stamp = (id(binary), index), self._stamp(inputs)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == stamp:
                self.hits += 1
                return entry[2]
            outputs = run()
            # The inputs are kept alive with the entry, so their ids cannot be reused.
            self._entries[key] = (stamp, list(inputs), outputs)
            self.misses += 1
            return outputs

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
