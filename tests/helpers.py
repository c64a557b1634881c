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
    return verify_against_golden(outputs_of(golden), outputs_of(result), required_pcc=pcc, required_atol=atol)
