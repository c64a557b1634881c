"""A sample of PyTorch's OpInfo database through the tt backend (tt_torch/tools/op_coverage.py).

Each op's first two sample inputs, compiled with the CPU fallback on and fast
numerics, must match eager (rtol = atol = 1e-2): on the device, or with some ops
on the CPU. ``python benchmarks/op_coverage.py`` runs the whole database.
"""

from __future__ import annotations

import pytest

from tt_torch.tools import op_coverage as oc

ELEMENTWISE = ["abs", "add", "mul", "div.no_rounding_mode", "exp", "log", "rsqrt", "sigmoid", "tanh"]
ELEMENTWISE += ["maximum", "where", "clamp", "pow", "sin", "erf"]
REDUCTIONS = ["sum", "mean", "amax", "argmax", "argmin", "any", "all", "prod", "var", "max.reduction_with_dim"]
REDUCTIONS += ["cumsum", "softmax", "logsumexp"]
INDEXING = ["gather", "scatter", "scatter_add", "index_select", "take_along_dim", "masked_fill", "narrow"]
SHAPE = ["reshape", "permute", "transpose", "cat", "stack", "squeeze", "unsqueeze", "flatten", "expand"]
SHAPE += ["repeat", "split", "flip", "roll", "tril"]
MATMUL = ["matmul", "mm", "bmm", "addmm", "einsum", "baddbmm"]
NN = ["conv2d", "conv1d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "layer_norm", "batch_norm"]
NN += ["group_norm", "relu", "gelu", "silu", "leaky_relu", "hardtanh", "embedding", "linear", "pad.constant"]
NN = [f"nn.functional.{n}" for n in NN]
OTHER = ["linalg.vector_norm", "linalg.inv", "special.ndtr", "special.i0e", "fft.fft", "fft.rfft"]
OTHER += ["take", "addr", "tensor_split", "cdouble", "nn.functional.hinge_embedding_loss"]

# ops of the sample that fail for a known reason: op id -> (why, whether the failure is certain)
KNOWN_FAILURES: dict[str, tuple[str, bool]] = {}

SAMPLED = ELEMENTWISE + REDUCTIONS + INDEXING + SHAPE + MATMUL + NN + OTHER


def _param(name: str):
    if name in KNOWN_FAILURES:
        reason, certain = KNOWN_FAILURES[name]
        return pytest.param(name, marks=pytest.mark.xfail(strict=certain, reason=reason))
    return name


def test_the_sample_spans_the_families():
    assert len(set(SAMPLED)) == len(SAMPLED) >= 60
    assert {oc.family(n) for n in SAMPLED} == {"core", *oc.FAMILIES}


@pytest.mark.parametrize("name", [_param(n) for n in SAMPLED])
def test_op_matches_eager_with_the_fallback_on(name):
    (op,) = oc.find_ops([name])
    record = oc.run_op(op, fallback=True)
    failures = [f"sample {k}: {s['status']}: {s['reason']}" for k, s in enumerate(record["samples"])]
    assert record["status"] in ("device", "fallback"), f"{name}: {record['status']}: {record['reason']}\n" + "\n".join(
        failures
    )
