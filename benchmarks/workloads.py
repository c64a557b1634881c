"""The benchmark workloads: full-size models with random weights, and the op-dispatch chain.

``WORKLOADS[name](quick) -> (model, inputs)``; ``quick`` gives small versions
for a smoke run of the harness.
"""

from __future__ import annotations

import torch


class MLP(torch.nn.Module):
    def __init__(self, sizes):
        super().__init__()
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
        self.net = torch.nn.Sequential(*layers[:-1])

    def forward(self, x):
        return self.net(x)


class ElementwiseChain(torch.nn.Module):
    """n tiny elementwise ops in a chain: the runtime's cost per op, not compute."""

    def __init__(self, n: int):
        super().__init__()
        self.n = n

    def forward(self, x):
        for i in range(self.n):
            x = x * 1.0001 if i % 2 else x + 0.0001
        return x


class LastHidden(torch.nn.Module):
    """A transformers model as tokens -> last hidden state: one tensor in, one out, for every system."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        return self.model(input_ids=input_ids, use_cache=False).last_hidden_state


def mlp(quick: bool):
    sizes = [64, 32, 10] if quick else [784, 512, 512, 10]
    return MLP(sizes), (torch.randn(8 if quick else 64, sizes[0]),)


def resnet50(quick: bool):
    import transformers

    cfg = (
        transformers.ResNetConfig(embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1], layer_type="basic")
        if quick
        else transformers.ResNetConfig()
    )
    size = 64 if quick else 224
    return transformers.ResNetForImageClassification(cfg), (torch.randn(1, 3, size, size),)


def bert_base(quick: bool):
    import transformers

    cfg = (
        transformers.BertConfig(hidden_size=64, num_hidden_layers=1, num_attention_heads=2, intermediate_size=128)
        if quick
        else transformers.BertConfig()
    )
    seq = 16 if quick else 128
    return LastHidden(transformers.BertModel(cfg)), (torch.randint(0, cfg.vocab_size, (1, seq)),)


def gpt2(quick: bool):
    import transformers

    cfg = transformers.GPT2Config(n_embd=64, n_layer=1, n_head=2) if quick else transformers.GPT2Config()
    seq = 16 if quick else 64
    return LastHidden(transformers.GPT2Model(cfg)), (torch.randint(0, cfg.vocab_size, (1, seq)),)


def dispatch(quick: bool):
    return ElementwiseChain(100 if quick else 1000), (torch.randn(1, 32),)


WORKLOADS = {"mlp": mlp, "resnet50": resnet50, "bert_base": bert_base, "gpt2": gpt2, "dispatch": dispatch}
OPS_PER_CALL = {"dispatch": lambda quick: 100 if quick else 1000}
