"""Seeing every write to the weights a compiled graph reads.

Values derived from weights are cached: the consteval results (``ConstevalCache``),
the runtime's per-weight conversions (``Device.derived`` in csrc/runtime) and
const-eval programs. They are keyed by each tensor's version counter, which every
in-place op moves, but a write through ``param.data`` (``m.weight.data.copy_(w)``), a
NumPy view or another alias of the storage goes behind it: ``.data`` is a tensor with a
version counter of its own. So every call also fingerprints the content of each
parameter and buffer (:func:`fingerprint`); a fingerprint that changed while the
version did not means a hidden write, and the tensor's version counter is moved
(``torch.autograd.graph.increment_version``), which every cache then sees.

The fingerprint reads every byte once: its cost is proportional to the size of
the weights (``python benchmarks/weight_check.py`` measures it).
``CompilerConfig(check_weight_contents=False)`` keeps the version-counter check only.
"""

from __future__ import annotations

import hashlib
import threading

import torch
from torch.autograd.graph import increment_version

from tt_torch.runtime.versions import tensor_stamp

_SMALL = 1 << 16  # bytes: hashed exactly
_ROW = 512  # 8-byte words summed and xor-ed together in one row (4 KiB)
_MIX = 0x9E3779B97F4A7C15 - (1 << 64)  # odd 64-bit multipliers, as signed int64
_MIX2 = 0x2545F4914F6CDD1D


def fingerprint(t: torch.Tensor) -> tuple:
    """A summary of ``t``'s bytes that changes when they change.

    Up to 64 KiB: a BLAKE2 digest of the bytes (exact). Above: the bytes as 8-byte words
    in rows of 4 KiB; each row's wrapping sum, the rows combined with weights that depend
    on their position (one pass over the bytes). Any write that changes the sum of a row
    is seen; what goes unseen is a write that keeps every row's sum, such as a permutation
    of the words inside one 4 KiB row.
    """
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


class WeightWatch:
    """Moves the version counter of a weight written behind it, before a call reads the caches."""

    def __init__(self, positions: list[int]):
        self.positions = positions  # the call's arguments that are parameters or buffers
        self._seen: dict[int, tuple[tuple, tuple]] = {}  # position -> (stamp, fingerprint)
        self._lock = threading.Lock()
        self.hidden_writes = 0  # writes found by content only

    def check(self, args: tuple) -> None:
        with self._lock, torch.no_grad():
            for k in self.positions:
                t = args[k]
                if not isinstance(t, torch.Tensor):
                    continue
                stamp, content = tensor_stamp(t), fingerprint(t)
                seen = self._seen.get(k)
                if seen is not None and seen[0] == stamp and seen[1] != content:
                    increment_version(t)  # every cache keyed by the version sees it now
                    self.hidden_writes += 1
                    stamp = tensor_stamp(t)
                self._seen[k] = (stamp, content)
