"""Composite ops folded back from their decompositions (softmax, GELU in both forms, SiLU,
layer and RMS norm, scaled-dot-product attention) become one TTNN op each, activations fuse into the linear or conv2d before
them, and every program computes what eager does."""

from __future__ import annotations

import math

import pytest
import torch

from tests.helpers import compile_tt, outputs_of

pytestmark = pytest.mark.usefixtures("fast_numerics")


def compiled_matches_eager(model, *inputs):
    """Compiles `model`, checks its outputs on `inputs` against eager's; returns the graph's artifacts."""
    compiled, artifacts = compile_tt(model)
    with torch.no_grad():
        got, want = outputs_of(compiled(*inputs)), outputs_of(model(*inputs))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-5)
    return artifacts.last


class Block(torch.nn.Module):
    def __init__(self, approximate: str = "none"):
        super().__init__()
        self.fc = torch.nn.Linear(64, 64)
        self.approximate = approximate

    def forward(self, x):
        attn = torch.softmax(x @ x.transpose(-1, -2) / 8.0, dim=-1)
        h = torch.nn.functional.gelu(self.fc(attn @ x), approximate=self.approximate)
        # a second GELU: torch-mlir shares the constant subexpressions of the two decompositions
        g = torch.nn.functional.gelu(h * 0.5, approximate=self.approximate)
        return torch.softmax(h, dim=1), g


def test_softmax_and_gelu_become_single_ttnn_ops():
    torch.manual_seed(0)
    model, x = Block().eval(), torch.randn(2, 16, 64)
    graph = compiled_matches_eager(model, x)
    report = graph.report
    counts = report["op_counts"]["ttnn"]
    # the first GELU is the linear's fused activation, the second one op of its own
    assert counts.get("ttnn.softmax") == 2 and counts.get("ttnn.gelu") == 1
    assert 'activation = "gelu"' in graph.ttnn
    assert "ttnn.exp" not in counts and "ttnn.clamp_tensor" not in counts  # no decomposition left
    assert report["fused"]["softmax"] == 2 and report["fused"]["gelu"] == 2
    assert report["fused"]["fused-activation"] == 1
    assert "dimension = 1" in graph.ttnn and "dimension = 2" in graph.ttnn


def test_tanh_gelu_becomes_one_op():
    torch.manual_seed(0)
    model, x = Block("tanh").eval(), torch.randn(2, 16, 64)
    graph = compiled_matches_eager(model, x)
    counts = graph.report["op_counts"]["ttnn"]
    assert "ttnn.tanh" not in counts and "ttnn.gelu" not in counts
    assert counts.get("ttnn.gelu_tanh") == 1 and 'activation = "gelu_tanh"' in graph.ttnn
    assert graph.report["fused"]["gelu_tanh"] == 2


class Norms(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln = torch.nn.LayerNorm(64)
        self.fc = torch.nn.Linear(64, 64)
        self.ln2d = torch.nn.LayerNorm((16, 64))  # over two dims: not TTNN's layer_norm

    def forward(self, x):
        h = torch.nn.functional.silu(self.fc(self.ln(x)))
        bare = torch.nn.functional.layer_norm(x * 2, (64,), eps=1e-3)
        return h, bare, torch.nn.functional.silu(bare), self.ln2d(x)


def test_layer_norm_and_silu_become_single_ops():
    torch.manual_seed(0)
    model, x = Norms().eval(), torch.randn(2, 16, 64)
    with torch.no_grad():  # not the identity
        model.ln.weight.normal_()
        model.ln.bias.normal_()
    graph = compiled_matches_eager(model, x)
    report = graph.report
    counts = report["op_counts"]["ttnn"]
    assert counts.get("ttnn.layer_norm") == 2 and counts.get("ttnn.silu") == 1
    assert report["fused"]["layer_norm"] == 2 and report["fused"]["silu"] == 2
    ttnn = graph.ttnn
    assert 'activation = "silu"' in ttnn and "epsilon = 1.000000e-03" in ttnn
    assert "ttnn.rsqrt" in counts  # the two-dim layer norm stays decomposed
    assert "operandSegmentSizes = array<i32: 1, 1, 1>" in ttnn.split('"ttnn.layer_norm"', 1)[1].split("\n")[0]


class ConvRelu(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.conv2 = torch.nn.Conv2d(8, 8, 1)

    def forward(self, x):
        h = torch.relu(self.bn(self.conv(x)))
        return torch.relu(self.conv2(h) + h)  # the residual's sum and relu join conv2


def test_relu_joins_conv2d_and_bias():
    torch.manual_seed(0)
    model, x = ConvRelu().eval(), torch.randn(1, 3, 12, 12)
    graph = compiled_matches_eager(model, x)
    counts = graph.report["op_counts"]["ttnn"]
    assert counts.get("ttnn.conv2d") == 2 and "ttnn.relu" not in counts and "ttnn.maximum" not in counts
    assert "ttnn.add" not in counts and graph.report["fused"]["conv2d-residual"] == 1
    assert graph.ttnn.count('activation = "relu"') == 2
    assert graph.report["fused"]["relu"] == 2


def test_a_group_used_inside_and_outside_is_left_alone():
    """A softmax whose intermediate (the exp) is also used elsewhere cannot be folded: the
    group then has two outputs. torch.compile's own graph never does this; a hand-written
    TTIR module does."""
    from torch_mlir import ir

    from tt_torch.compiler import context
    from tt_torch.compiler.transforms import composites

    text = """
    func.func @main(%x: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
      %m = "ttir.max"(%x) {dim_arg = array<i64: 1>, keep_dim = true} : (tensor<4x8xf32>) -> tensor<4x1xf32> loc(#sm)
      %s = "ttir.subtract"(%x, %m) : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32> loc(#sm)
      %e = "ttir.exp"(%s) : (tensor<4x8xf32>) -> tensor<4x8xf32> loc(#sm)
      %t = "ttir.sum"(%e) {dim_arg = array<i64: 1>, keep_dim = true} : (tensor<4x8xf32>) -> tensor<4x1xf32> loc(#sm)
      %d = "ttir.div"(%e, %t) : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32> loc(#sm)
      return %d, %e : tensor<4x8xf32>, tensor<4x8xf32>
    }
    #sm = loc("_softmax"("m.py":1:0))
    """
    module = ir.Module.parse(text, context.new_context())
    assert composites.fuse_composites(module) == {}
    text_before = str(module)
    assert "ttir.softmax" not in text_before and "ttir.exp" in text_before
    # without the second use, the same group folds
    module = ir.Module.parse(text.replace("return %d, %e", "return %d, %d"), context.new_context())
    assert composites.fuse_composites(module) == {"softmax": 1}
    assert "ttir.softmax" in str(module) and "ttir.exp" not in str(module)


def test_a_part_of_a_decomposition_is_not_folded():
    """One op compiled alone (op-by-op mode) keeps its composite node's location; it is not
    the composite."""
    from torch_mlir import ir

    from tt_torch.compiler import context
    from tt_torch.compiler.transforms import composites

    text = """
    func.func @main(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
      %r = "ttir.rsqrt"(%x) : (tensor<4x8xf32>) -> tensor<4x8xf32> loc(#g)
      return %r : tensor<4x8xf32>
    }
    #g = loc("gelu_2"("m.py":1:0))
    """
    module = ir.Module.parse(text, context.new_context())
    assert composites.fuse_composites(module) == {} and "ttir.rsqrt" in str(module)


class NewGelu(torch.nn.Module):
    """A tanh GELU written out in Python ops, as transformers' ``gelu_new`` (GPT-2) is."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(64, 64)

    def forward(self, x):
        h = self.fc(x)
        act = 0.5 * h * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (h + 0.044715 * torch.pow(h, 3.0))))
        # almost the same, but not a GELU (another constant): stays as written
        other = 0.5 * x * (1.0 + torch.tanh(0.8 * (x + 0.044715 * torch.pow(x, 3.0))))
        return act, other


def test_python_tanh_gelu_becomes_one_op_fused_into_the_linear():
    torch.manual_seed(0)
    model, x = NewGelu().eval(), torch.randn(2, 16, 64)
    graph = compiled_matches_eager(model, x)
    counts = graph.report["op_counts"]["ttnn"]
    assert 'activation = "gelu_tanh"' in graph.ttnn
    assert counts.get("ttnn.tanh") == 1  # the other function's


class PythonRMSNorm(torch.nn.Module):
    """As transformers' LlamaRMSNorm writes it."""

    def __init__(self, size: int, eps: float):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(size))
        self.eps = eps

    def forward(self, x):
        variance = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(variance + self.eps))


class RMSNorms(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.python = PythonRMSNorm(64, 1e-6)
        self.torch = torch.nn.RMSNorm(64, eps=1e-5)

    def forward(self, x):
        # (each on its own input: two norms of one tensor share their mean once compiled)
        y = x - 1
        unweighted = y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + 1e-4)
        over_rows = x * torch.rsqrt(x.pow(2).mean(1, keepdim=True) + 1e-4)  # not the last dim: as written
        return self.python(x), self.torch(x * 3), unweighted, over_rows


def test_rms_norm_becomes_one_op():
    torch.manual_seed(0)
    model, x = RMSNorms().eval(), torch.randn(2, 16, 64)
    with torch.no_grad():
        model.torch.weight.normal_()
    graph = compiled_matches_eager(model, x)
    report = graph.report
    assert report["op_counts"]["ttnn"].get("ttnn.rms_norm") == 3 and report["fused"]["rms_norm"] == 3
    assert report["op_counts"]["ttnn"].get("ttnn.rsqrt") == 1  # over_rows
    ttnn = graph.ttnn
    for eps in ("9.99999997E-7", "9.99999974E-6", "9.99999974E-5"):
        assert f"epsilon = {eps}" in ttnn


class GatedMLP(torch.nn.Module):
    """Llama's MLP: bias-free projections, so the activation's input is a matmul."""

    def __init__(self):
        super().__init__()
        self.gate = torch.nn.Linear(64, 128, bias=False)
        self.up = torch.nn.Linear(64, 128, bias=False)
        self.down = torch.nn.Linear(128, 64, bias=False)

    def forward(self, x):
        return self.down(torch.nn.functional.silu(self.gate(x)) * self.up(x))


def test_an_activation_after_a_matmul_makes_it_a_linear():
    torch.manual_seed(0)
    model, x = GatedMLP().eval(), torch.randn(2, 16, 64)
    graph = compiled_matches_eager(model, x)
    counts = graph.report["op_counts"]["ttnn"]
    assert counts.get("ttnn.linear") == 1 and counts.get("ttnn.matmul") == 2 and "ttnn.silu" not in counts
    assert 'activation = "silu"' in graph.ttnn


class Attention(torch.nn.Module):
    """Multi-head self-attention through F.scaled_dot_product_attention."""

    def __init__(self, heads: int = 4, kv_heads: int = 4, causal: bool = False, scale: float | None = None):
        super().__init__()
        self.heads, self.kv_heads, self.causal, self.scale = heads, kv_heads, causal, scale
        self.q = torch.nn.Linear(64, 64)
        self.kv = torch.nn.Linear(64, 2 * 64 * kv_heads // heads)
        self.o = torch.nn.Linear(64, 64)

    def forward(self, x, mask=None):
        b, n, _ = x.shape
        q = self.q(x).view(b, n, self.heads, -1).transpose(1, 2)
        k, v = (t.view(b, n, self.kv_heads, -1).transpose(1, 2) for t in self.kv(x).chunk(2, dim=-1))
        out = torch.nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=self.causal, scale=self.scale, enable_gqa=self.heads != self.kv_heads
        )
        return self.o(out.transpose(1, 2).reshape(b, n, 64))


def _float_mask():
    mask = torch.randn(2, 1, 16, 16)
    mask[..., 5, :] = float("-inf")  # a query row that attends to nothing: zeros, not NaN
    return mask


def _bool_mask():
    mask = torch.rand(2, 1, 16, 16) > 0.3
    mask[..., 5, :] = False
    return mask


# name: (Attention arguments, mask, what the fused op's attributes say)
ATTENTION = {
    "plain": ({}, None, "scale = 2.500000e-01 : f32"),
    "float-mask": ({}, _float_mask, "is_causal = false"),
    "bool-mask": ({}, _bool_mask, "is_causal = false"),
    "causal": ({"causal": True}, None, "is_causal = true"),
    "grouped-query": ({"kv_heads": 2, "causal": True}, None, "is_causal = true"),
    "scale": ({"scale": 0.05}, None, "scale = 5.000000e-02 : f32"),
}


@pytest.mark.parametrize("name", list(ATTENTION))
def test_scaled_dot_product_attention_becomes_one_op(name):
    torch.manual_seed(0)
    kwargs, make_mask, attributes = ATTENTION[name]
    model, x = Attention(**kwargs).eval(), torch.randn(2, 16, 64)
    inputs = (x,) if make_mask is None else (x, make_mask())
    graph = compiled_matches_eager(model, *inputs)
    counts = graph.report["op_counts"]["ttnn"]
    assert (
        counts.get("ttnn.scaled_dot_product_attention") == 1
        and graph.report["fused"]["scaled_dot_product_attention"] == 1
    )
    # no part of the decomposition is left: its two products, softmax, masking, head repeat
    # (a boolean mask becomes TTNN's additive one before the op: a where of broadcast constants)
    for part in ("matmul", "softmax", "exp", "where", "repeat", "eq"):
        if not (part in ("where", "repeat") and name == "bool-mask"):
            assert f"ttnn.{part}" not in counts, part
    assert attributes in graph.ttnn
    has_mask = make_mask is not None
    assert f"operandSegmentSizes = array<i32: 1, 1, 1, {int(has_mask)}>" in graph.ttnn
    # the FX node the fused op stands for: intermediate verification compares the two
    assert "scaled_dot_product_attention" in graph.fx_graph


def test_attention_with_dropout_in_training_is_refused():
    class Dropped(torch.nn.Module):
        def forward(self, q):
            return torch.nn.functional.scaled_dot_product_attention(q, q, q, dropout_p=0.1)

    compiled, _ = compile_tt(Dropped())
    with pytest.raises(Exception, match=r"dropout_p=0.1 \(training\) is not supported.*model.eval\(\)"):
        compiled(torch.randn(1, 2, 8, 16))
