"""Each TTNN op the real tt-mlir emits on the model zoo imports into tt-torch's program format:
a small graph that makes tt-mlir emit the op runs (compiler="tt-mlir") and matches eager."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.helpers import assert_matches, compile_tt
from tt_torch.tools.utils import CompileDepth
from tt_torch.tt_mlir import unavailable_reason

pytestmark = pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))


class Fn(torch.nn.Module):
    def __init__(self, fn, *modules):
        super().__init__()
        self.fn, self.mods = fn, torch.nn.ModuleList(modules)

    def forward(self, *xs):
        return self.fn(self, *xs)


def run(model, *inputs, numerics="fast"):
    model = model.eval()
    with torch.no_grad():
        golden = model(*inputs)
        compiled, artifacts = compile_tt(model, CompileDepth.EXECUTE, compiler="tt-mlir", numerics=numerics)
        result = compiled(*inputs)
    return golden, result, artifacts.last.report


SMALL = [[float(i % 7) - 3.0 for i in range(16)], [float("inf")] + [0.5] * 15]
LARGE = torch.linspace(-2.0, 2.0, 40 * 40).reshape(40, 40).tolist()


class ManyOps(torch.nn.Module):
    """One graph whose parts make tt-mlir emit the ops below (one compile for all of them)."""

    def __init__(self):
        super().__init__()
        self.embedding = torch.nn.Embedding(40, 12)
        self.conv1d = torch.nn.Conv1d(4, 6, 3, stride=2, padding=1)
        self.conv_relu6 = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU6())

    def forward(self, x, ids, mask, seq, image, signal, heads):
        return (
            x.clamp(-0.5, 1.25),  # clamp_scalar
            self.conv_relu6(image),  # relu6 (after a convolution, as in MobileNetV2)
            x.cumsum(1),  # cumsum (float)
            torch.cumsum(mask, dim=1) * mask,  # cumsum (int): position ids from a mask (OPT, RoBERTa)
            self.embedding(ids),  # rows_gather
            seq + torch.arange(seq.shape[-1], dtype=torch.float32),  # arange
            F.pad(image, (1, 2, 0, 3), value=0.5),  # pad
            x.abs() ** seq[:, :16],  # pow_tensor
            self.conv1d(signal),  # conv1d
            torch.where((mask == 0).logical_not(), seq, -seq),  # eq with logical_not fused
            # a causal mask: a -inf fill, which MLIR prints as hex bits (0xFF800000)
            F.scaled_dot_product_attention(heads, heads * 0.5, heads.flip(2), is_causal=True),
            x * torch.tensor(SMALL),  # constant: a literal MLIR prints as a list
            seq.sum() * torch.tensor(LARGE),  # constant: ... and as a hex blob
            (x.abs() + 0.5).prod(1),  # prod: its dim_arg is one integer
        )


EMITTED = [
    "ttnn.clamp_scalar",
    "ttnn.relu6",
    "ttnn.cumsum",
    "ttnn.rows_gather",
    "ttnn.arange",
    "ttnn.pad",
    "ttnn.pow_tensor",
    "ttnn.conv1d",
    "ttnn.eq",
    "ttnn.constant",
    "ttnn.prod",
]


def test_imports_match_eager():
    inputs = (
        torch.randn(2, 16),
        torch.randint(0, 40, (2, 5)),
        torch.tensor([[1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1], [1] * 18]),
        torch.randn(2, 18),
        torch.randn(1, 3, 8, 8) * 4,
        torch.randn(2, 4, 11),
        torch.randn(1, 2, 8, 16),
    )
    golden, result, report = run(ManyOps(), *inputs)
    missing = [op for op in EMITTED if op not in report["imported_ops"]]
    assert not missing, f"tt-mlir no longer emits {missing}: {report['imported_ops']}"
    for g, r in zip(golden, result):
        assert_matches(g, r, pcc=0.999)


def test_sort_values_and_indices():
    x = torch.randn(3, 10)
    golden, result, report = run(Fn(lambda m, x: torch.sort(x, dim=1, descending=True)), x)
    assert "ttnn.sort" in report["imported_ops"], report["imported_ops"]
    torch.testing.assert_close(result[0], golden[0])
    torch.testing.assert_close(result[1], golden[1])


def test_topk_values_and_indices():
    x = torch.randn(3, 10)
    golden, result, report = run(Fn(lambda m, x: torch.topk(x, 4, dim=1, largest=False)), x)
    assert "ttnn.topk" in report["imported_ops"], report["imported_ops"]
    torch.testing.assert_close(result[0], golden[0])
    torch.testing.assert_close(result[1], golden[1])


def test_mlp_layer_norm_gelu():
    """A model none of the imports was written for: linear, layer norm, exact GELU, linear."""
    model = torch.nn.Sequential(
        torch.nn.Linear(32, 64), torch.nn.LayerNorm(64), torch.nn.GELU(), torch.nn.Linear(64, 10)
    )
    x = torch.randn(8, 32)
    for numerics in ("fast", "emulated"):
        golden, result, report = run(model, x, numerics=numerics)
        assert_matches(golden, result, pcc=0.99)


def test_const_eval_runs_once_per_weight_version():
    """tt-mlir's const-eval functions are private programs, run on the first call and again only
    when what they read changes."""
    model = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.LayerNorm(16), torch.nn.GELU()).eval()
    x = torch.randn(4, 16)
    with torch.no_grad():
        compiled, artifacts = compile_tt(model, CompileDepth.EXECUTE, compiler="tt-mlir", numerics="fast")
        for _ in range(3):
            assert_matches(model(x), compiled(x), pcc=0.999)
        stats = artifacts.last.report["tt_mlir_const_eval"]
        assert stats["programs"] > 0 and stats["runs"] == stats["programs"], stats
        model[0].weight.mul_(-1.5)  # a weight changes in place: the next call sees it
        assert_matches(model(x), compiled(x), pcc=0.999)


def test_const_eval_runner_keys_on_weight_versions():
    """A const-eval call that reads main's arguments reruns when one of them is another
    tensor or was modified in place, and only then."""
    from tt_torch.tt_mlir.importer import ConstEvalCall, ConstEvalRunner

    calls = []

    def submit(program, inputs):
        calls.append(program)
        return [inputs[0] * 2]

    runner = ConstEvalRunner([ConstEvalCall(program=1, args=[1], outputs=[2])])
    x, w = torch.randn(3), torch.randn(3)
    full = runner.inputs(submit, [x, w], [x, w])
    torch.testing.assert_close(full[2], w * 2)
    runner.inputs(submit, [torch.randn(3), w], [x, w])  # a new user input: no rerun
    assert calls == [1]
    w.add_(1.0)
    full = runner.inputs(submit, [x, w], [x, w])
    assert calls == [1, 1] and runner.stats == {"programs": 1, "runs": 2}
    torch.testing.assert_close(full[2], w * 2)
