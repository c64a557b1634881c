"""ONNX Runtime as the CPU reference of an ONNX model: goldens, and the model's outputs at the
compile depths that stop before the device."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
import torch

from tt_torch.errors import TTTorchError


class ReferenceError(TTTorchError):
    """ONNX Runtime could not run the model."""


def session(model: onnx.ModelProto):
    """An ONNX Runtime CPU session of ``model``."""
    import onnxruntime  # lazy: an optional, heavy dependency, needed only for goldens and CPU runs

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    try:
        return onnxruntime.InferenceSession(
            model.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph classes
        raise ReferenceError(f"ONNX Runtime could not load the model: {str(e).strip()[:800]}") from e


def run(
    sess, inputs: Sequence[torch.Tensor | np.ndarray], constants: dict[str, np.ndarray] | None = None
) -> list[torch.Tensor]:
    """The model's outputs on ``inputs`` (in the order of its inputs, but those in ``constants``,
    which are given their values there), as torch tensors."""
    constants = constants or {}
    names = [i.name for i in sess.get_inputs() if i.name not in constants]
    if len(names) != len(inputs):
        raise ReferenceError(f"the model takes {len(names)} inputs ({', '.join(names)}), got {len(inputs)}")
    feed = {n: as_numpy(x) for n, x in zip(names, inputs)}
    feed.update({n: np.asarray(v) for n, v in constants.items()})
    try:
        outs = sess.run(None, feed)
    except Exception as e:
        raise ReferenceError(f"ONNX Runtime failed to run the model: {str(e).strip()[:800]}") from e
    return [torch.from_numpy(np.array(o)) for o in outs]


def as_numpy(x: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        return x.float().numpy().astype(np.float32) if x.dtype == torch.bfloat16 else x.numpy()
    return np.asarray(x)
