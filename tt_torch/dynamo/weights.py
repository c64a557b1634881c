"""Seeing every write to the weights a compiled graph reads.

Values derived from weights are cached: the consteval results (``ConstevalCache``),
the runtime's per-weight conversions (``Device.derived`` in csrc/runtime) and
const-eval programs. They are keyed by each tensor's version counter, which every
in-place op moves, but a write through ``param.data`` (``m.weight.data.copy_(w)``), a
NumPy view or another alias of the storage goes behind it: ``.data`` is a tensor with a
version counter of its own. Such a write needs an alias with a counter of its own, so
each call looks for one, per weight, and moves the weight's version counter
(``torch.autograd.graph.increment_version``, which every cache then sees) when it may
have been written:

- a parameter whose ``.data`` was read since the last call (counted by a property on
  ``nn.Parameter``, installed when the first graph is compiled with the check on) gets a
  new version, written or not (one recomputation of what derives from it);
- a weight whose storage has another holder (a live ``.data`` tensor, a NumPy view, a view
  of either; also a view made by the model itself) is fingerprinted (:func:`fingerprint`),
  and a fingerprint that changed while the version did not means a hidden write;
- buffers are always fingerprinted (``.data`` of a plain tensor cannot be counted; they are
  small in the usual model).

A parameter of its own storage that no alias reads costs a few attribute reads per call;
the fingerprint reads every byte once, in proportion to the weights it covers
(``python benchmarks/weight_check.py`` measures both). What stays unseen: a write through
a NumPy view that is dropped before the next call (``p.detach().numpy()[:] = w`` in one
statement); ``WeightWatch(full=True)`` fingerprints every weight on every call.
``CompilerConfig(check_weight_contents=False)`` keeps the version-counter check only.
"""

from __future__ import annotations

import ctypes
import hashlib
import threading

import torch
from torch.autograd.graph import increment_version

from tt_torch.runtime.versions import tensor_stamp

_SMALL = 1 << 16  # bytes: hashed exactly
_RAW = 1 << 12  # bytes: kept as they are (a comparison, no hash)
_ROW = 512  # 8-byte words summed and xor-ed together in one row (4 KiB)
_MIX = 0x9E3779B97F4A7C15 - (1 << 64)  # odd 64-bit multipliers, as signed int64
_MIX2 = 0x2545F4914F6CDD1D


def fingerprint(t: torch.Tensor) -> tuple:
    """A summary of ``t``'s bytes that changes when they change.

    Up to 4 KiB: the bytes themselves; up to 64 KiB: a BLAKE2 digest of them (both exact). Above: the bytes as 8-byte words
    in rows of 4 KiB; each row's wrapping sum, the rows combined with weights that depend
    on their position (one pass over the bytes). Any write that changes the sum of a row
    is seen; what goes unseen is a write that keeps every row's sum, such as a permutation
    of the words inside one 4 KiB row.
    """
    if t.is_cpu and t.layout is torch.strided and t.is_contiguous():
        size = t.numel() * t.element_size()
        if size <= _SMALL:
            # the same bytes, read straight from memory (no view, no kernel): a small buffer
            # is fingerprinted on every call
            try:
                raw = ctypes.string_at(t.data_ptr(), size) if size else b""
            except RuntimeError:  # no storage to read (a fake or meta-like tensor)
                pass
            else:
                return (raw if size <= _RAW else hashlib.blake2b(raw, digest_size=16).digest(),)
    flat = t.detach()
    if not flat.is_contiguous():
        flat = flat.contiguous()
    data = flat.reshape(-1).view(torch.uint8)
    if data.numel() <= _SMALL or data.numel() % 8:
        return (hashlib.blake2b(data.cpu().numpy().tobytes(), digest_size=16).digest(),)
    words = data.view(torch.int64)
    rows = words.numel() // _ROW
    sums = words[: rows * _ROW].view(rows, _ROW).sum(dim=1)
    weights = torch.arange(rows, dtype=torch.int64).mul_(_MIX).add_(_MIX2)
    return (int(sums.mul_(weights).sum()), int(words[rows * _ROW :].sum()))


_DATA = torch._C.TensorBase.data  # the C getter and setter of Tensor.data
_READS = "_tt_data_reads"
_installed = False
_install_lock = threading.Lock()


def _get_data(self):
    d = self.__dict__
    d[_READS] = d.get(_READS, 0) + 1
    return _DATA.__get__(self)


def _set_data(self, value):
    _DATA.__set__(self, value)


def count_data_reads() -> None:
    """Counts every ``param.data`` read (a property on ``nn.Parameter`` over Tensor's own)."""
    global _installed
    with _install_lock:
        if not _installed:
            torch.nn.Parameter.data = property(_get_data, _set_data, doc=_DATA.__doc__)
            _installed = True


def data_reads(t: torch.Tensor) -> int:
    return t.__dict__.get(_READS, 0)


_USE_COUNT = torch._C._storage_Use_Count


class WeightWatch:
    """Moves the version counter of a weight written behind it, before a call reads the caches."""

    def __init__(self, positions: list[int], full: bool = False):
        self.positions = positions  # the call's arguments that are parameters or buffers
        self.full = full  # fingerprint every weight on every call
        # position -> (stamp or None, data reads, fingerprint or None)
        self._seen: dict[int, tuple] = {}
        self._lock = threading.Lock()
        self.hidden_writes = 0  # writes found by content only
        self.data_reads = 0  # parameters given a new version after a .data read
        self.fingerprinted = 0  # weights fingerprinted in the last call
        if positions:
            count_data_reads()

    def check(self, args: tuple) -> None:
        if not self.positions:
            return
        # Called before every compiled call, on every weight: names are looked up once. A
        # parameter that nothing else holds can only be written by an in-place op (which moves
        # its version) or through .data (counted): it costs a storage use count and its .data
        # reads, and is recorded with no stamp, which the next call reads as "the version may have
        # moved already" (moving it once more before the caches read it costs nothing).
        tensor, parameter, use_count, full = torch.Tensor, torch.nn.Parameter, _USE_COUNT, self.full
        with self._lock:
            fingerprinted = 0
            seen_all = self._seen
            for k in self.positions:
                t = args[k]
                if not isinstance(t, tensor):
                    continue
                reads = t.__dict__.get(_READS, 0)
                seen = seen_all.get(k)
                if not full and isinstance(t, parameter):
                    try:  # another holder of the storage than t and this query's handle
                        shared = use_count(t.untyped_storage()._cdata) > 2
                    except Exception:  # a tensor without a storage of its own (a subclass, a fake)
                        shared = True
                    if not shared:
                        if seen is None or seen[1] != reads or seen[0] is not None or seen[2] is not None:
                            if seen is not None and seen[1] != reads:
                                increment_version(t)  # .data was read: it may have been written
                                self.data_reads += 1
                            seen_all[k] = (None, reads, None)
                        continue
                stamp = _stamp(t)
                # the version has not moved since the last call, or that call did not note it
                same = seen is not None and (seen[0] is None or seen[0] == stamp)
                if same and seen[1] != reads:
                    increment_version(t)  # .data was read: it may have been written
                    self.data_reads += 1
                    stamp, same = _stamp(t), False
                content = fingerprint(t)  # reads through a detached view: no autograd history
                fingerprinted += 1
                if same and seen[2] != content:
                    # changed content, or an alias came since the last call, which had no
                    # fingerprint to compare with: every cache keyed by the version sees it now
                    increment_version(t)
                    self.hidden_writes += seen[2] is not None
                    stamp = _stamp(t)
                seen_all[k] = (stamp, reads, content)
            self.fingerprinted = fingerprinted


def _stamp(t: torch.Tensor) -> tuple:
    """What tells this check whether ``t``'s version already moved since the last call: its
    storage and version. Lighter than :func:`tensor_stamp` (which the caches key on): a change
    it misses (a new shape on the same storage and version) only makes the check move the
    version once more, never less."""
    try:
        return (t.data_ptr(), t._version)
    except RuntimeError:  # an inference tensor has no version counter
        return tensor_stamp(t)
