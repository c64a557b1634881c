"""Models and checks shared by the tests (small configurations: the suite must fit CI)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tt_torch.dynamo import BackendOptions, CompileArtifacts
from tt_torch.tools.utils import CompileDepth, CompilerConfig
from tt_torch.tools.verify import verify_against_golden


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(32, 64)
        self.fc2 = torch.nn.Linear(64, 64)
        self.fc3 = torch.nn.Linear(64, 10)

    def forward(self, x):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class SmallCNN(torch.nn.Module):
    """conv2d, batch-norm (eval), relu, max and avg pooling, linear."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = torch.nn.BatchNorm2d(8)
        self.conv2 = torch.nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(16)
        self.fc = torch.nn.Linear(16, 10)
        for bn in (self.bn1, self.bn2):  # non-trivial running statistics
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 1.5)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.relu(self.bn2(self.conv2(x)))
        x = F.avg_pool2d(x, 2)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


def small_bert():
    import transformers

    cfg = transformers.BertConfig(
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        vocab_size=128,
        max_position_embeddings=64,
    )
    return transformers.BertModel(cfg).eval()


def compile_tt(model, depth: CompileDepth = CompileDepth.EXECUTE, dynamic: bool | None = False, **config):
    artifacts = CompileArtifacts()
    options = BackendOptions(compiler_config=CompilerConfig(compile_depth=depth, **config), artifacts=artifacts)
    return torch.compile(model, backend="tt", options=options, dynamic=dynamic), artifacts


def outputs_of(result):
    """Tensors of a model output (tensor, tuple, or transformers ModelOutput)."""
    if isinstance(result, torch.Tensor):
        return [result]
    if hasattr(result, "to_tuple"):
        result = result.to_tuple()
    return [t for t in result if isinstance(t, torch.Tensor)]


def assert_matches(golden, result, pcc: float = 0.99, atol: float = 1e-2):
    golden, result = tuple(outputs_of(golden)), tuple(outputs_of(result))
    dtypes, golden_dtypes = [t.dtype for t in result], [t.dtype for t in golden]
    assert dtypes == golden_dtypes, f"output dtypes {dtypes}, expected {golden_dtypes} (eager)"
    return verify_against_golden(golden, result, True, True, pcc, required_atol=atol, disable_print=True)


class MixerBlock(torch.nn.Module):
    def __init__(self, tokens: int, channels: int, hidden: int):
        super().__init__()
        self.norm1 = torch.nn.LayerNorm(channels)
        self.token_mlp = torch.nn.Sequential(
            torch.nn.Linear(tokens, hidden), torch.nn.GELU(), torch.nn.Linear(hidden, tokens)
        )
        self.norm2 = torch.nn.LayerNorm(channels)
        self.channel_mlp = torch.nn.Sequential(
            torch.nn.Linear(channels, hidden), torch.nn.GELU(), torch.nn.Linear(hidden, channels)
        )

    def forward(self, x):
        x = x + self.token_mlp(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.channel_mlp(self.norm2(x))


class MLPMixer(torch.nn.Module):
    """MLP-Mixer (Tolstikhin et al. 2021), small: 32x32 images, 8x8 patches."""

    def __init__(self, image: int = 32, patch: int = 8, channels: int = 32, depth: int = 2, classes: int = 10):
        super().__init__()
        tokens = (image // patch) ** 2
        self.stem = torch.nn.Conv2d(3, channels, patch, stride=patch)
        self.blocks = torch.nn.Sequential(*[MixerBlock(tokens, channels, 64) for _ in range(depth)])
        self.norm = torch.nn.LayerNorm(channels)
        self.head = torch.nn.Linear(channels, classes)

    def forward(self, x):
        x = self.stem(x).flatten(2).transpose(1, 2)  # [B, tokens, channels]
        x = self.norm(self.blocks(x))
        return self.head(x.mean(dim=1))


class UNet(torch.nn.Module):
    """A two-level UNet: conv blocks, max-pool down, nearest upsample and skip concatenation up."""

    def __init__(self, channels: int = 3, base: int = 8, classes: int = 2):
        super().__init__()

        def block(cin, cout):
            return torch.nn.Sequential(
                torch.nn.Conv2d(cin, cout, 3, padding=1),
                torch.nn.BatchNorm2d(cout),
                torch.nn.ReLU(),
                torch.nn.Conv2d(cout, cout, 3, padding=1),
                torch.nn.ReLU(),
            )

        self.down1 = block(channels, base)
        self.down2 = block(base, base * 2)
        self.bottom = block(base * 2, base * 4)
        self.up2 = block(base * 4 + base * 2, base * 2)
        self.up1 = block(base * 2 + base, base)
        self.out = torch.nn.Conv2d(base, classes, 1)

    def forward(self, x):
        d1 = self.down1(x)
        d2 = self.down2(F.max_pool2d(d1, 2))
        b = self.bottom(F.max_pool2d(d2, 2))
        u2 = self.up2(torch.cat([F.interpolate(b, scale_factor=2, mode="nearest"), d2], dim=1))
        u1 = self.up1(torch.cat([F.interpolate(u2, scale_factor=2, mode="nearest"), d1], dim=1))
        return self.out(u1)


def check_on_device(fn, *inputs, atol: float = 1e-5, fallback: bool = False, device_op: str | None = None):
    """``fn`` compiled (strictly unless ``fallback``) against eager on ``inputs``: same dtypes and
    shapes, values within ``atol`` (NaN equal to NaN); strict means every op ran on the device,
    and ``device_op`` must then appear in the TTNN program."""
    torch._dynamo.reset()
    compiled, artifacts = compile_tt(fn, enable_cpu_fallback=fallback)
    with torch.no_grad():
        got, want = compiled(*inputs), fn(*inputs)
    for g, w in zip(*(x if isinstance(x, tuple) else (x,) for x in (got, want))):
        assert g.dtype == w.dtype and g.shape == w.shape, (
            f"{g.dtype}{tuple(g.shape)} vs eager {w.dtype}{tuple(w.shape)}"
        )
        torch.testing.assert_close(g, w, rtol=atol, atol=atol, equal_nan=True)
    if not fallback:
        assert "cpu_fallback" not in artifacts.last.report
    if device_op is not None:
        assert device_op in artifacts.last.ttnn
    return artifacts
