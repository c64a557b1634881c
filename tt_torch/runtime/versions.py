"""Cache keys of tensors that work for every kind of tensor, inference tensors included.

Caches of values computed from weights (the consteval results, the runtime's
const-eval programs) must see an in-place update of a weight: a normal tensor's
version counter moves on every in-place write. A tensor made under
``torch.inference_mode()`` has no version counter (reading ``t._version`` raises
"Inference tensors do not track version counter"), so it is keyed by identity and
storage alone. That is sound outside inference_mode, where PyTorch refuses any
in-place write to an inference tensor; inside inference_mode such a write is
allowed and is not seen. A weight that changes there should be replaced (a new
tensor, ``load_state_dict(..., assign=True)``) rather than written in place.
"""

from __future__ import annotations

import torch


def version_key(t: torch.Tensor) -> int | None:
    """``t._version``, or None for an inference tensor, which has no version counter."""
    return None if t.is_inference() else t._version


def tensor_stamp(t: torch.Tensor) -> tuple:
    """What a cached value computed from ``t`` depends on: identity, storage, version
    (see :func:`version_key`), shape and dtype."""
    return (id(t), t.data_ptr(), version_key(t), tuple(t.shape), t.dtype)
