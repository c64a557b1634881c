"""Generation with a static KV cache: the decode step compiles once and writes the cache in place.

Hugging Face ``generate()`` with a ``StaticCache`` and ``CompileConfig(backend="tt")`` runs the
prefill eagerly and the decode step through tt-torch. The tokens must equal eager's greedy
tokens, and the number of compiled programs must not grow with the number of new tokens.
The full-size models and their tokens/s are in benchmarks/generate.py.
"""

from __future__ import annotations

import pytest
import torch
import transformers
from torch._dynamo.utils import counters

from tt_torch.config import CompilerConfig
from tt_torch.dynamo.backend import backend

PROMPT = 6


def tiny_model(name: str):
    if name == "gpt2":
        cfg = transformers.GPT2Config(n_layer=2, n_embd=64, n_head=2, vocab_size=256, n_positions=64, bos_token_id=0)
        model = transformers.GPT2LMHeadModel(cfg)
    else:
        cfg = transformers.LlamaConfig(
            num_hidden_layers=2,
            hidden_size=64,
            intermediate_size=128,
            num_attention_heads=4,
            num_key_value_heads=2,
            vocab_size=256,
            max_position_embeddings=64,
            bos_token_id=0,
            eos_token_id=None,
            pad_token_id=None,
        )
        model = transformers.LlamaForCausalLM(cfg)
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    return model.eval()


class Counting:
    """The tt backend, remembering each executor it makes (to count their programs)."""

    def __init__(self):
        self.executors = []

    def __deepcopy__(self, memo):
        return self  # transformers deep-copies the CompileConfig it hands to torch.compile

    def __call__(self, gm, example_inputs, **kwargs):
        executor = backend(gm, example_inputs, **kwargs)
        self.executors.append(executor)
        return executor

    @property
    def programs(self) -> int:
        return sum(e.num_compiles for e in self.executors)


def generate(model, prompt, new_tokens, cache, compile_config=None) -> list[int]:
    with torch.no_grad():
        out = model.generate(
            prompt,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            do_sample=False,
            past_key_values=cache,
            compile_config=compile_config,
        )
    return out[0, PROMPT:].tolist()


@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_static_cache_decode_compiles_once(name):
    model = tiny_model(name)
    prompt = torch.randint(1, 256, (1, PROMPT))
    longest = 10
    reference = generate(model, prompt, longest, transformers.StaticCache(model.config, max_cache_len=PROMPT + longest))

    counting = Counting()
    config = transformers.CompileConfig(
        backend=counting,
        fullgraph=True,
        dynamic=False,
        mode=None,
        options={"compiler_config": CompilerConfig(numerics="fast")},
    )
    config._compile_all_devices = True  # transformers compiles the decode step on CPU only when asked
    cache = transformers.StaticCache(model.config, max_cache_len=PROMPT + longest)
    before = counters["stats"]["unique_graphs"]
    assert generate(model, prompt, 3, cache, config) == reference[:3]
    programs, graphs = counting.programs, counters["stats"]["unique_graphs"] - before
    assert (programs, graphs) == (1, 1)

    cache.reset()  # the same buffers: dynamo's guards on them hold
    assert generate(model, prompt, longest, cache, config) == reference
    assert (counting.programs, counters["stats"]["unique_graphs"] - before) == (programs, graphs)


class CacheWrite(torch.nn.Module):
    """A cache's update as transformers writes it: ``index_copy_`` at a tensor position, then a read."""

    def forward(self, cache, length, x):
        position = torch.arange(x.shape[0]) + length
        length.add_(x.shape[0])
        cache.index_copy_(0, position, x)
        return cache.sum(dim=0) * 2.0


def test_input_writes_reach_the_callers_buffers():
    cache, length = torch.zeros(8, 4), torch.tensor(0)
    ref_cache, ref_length = cache.clone(), length.clone()
    counting = Counting()
    options = {"compiler_config": CompilerConfig(numerics="fast")}
    compiled = torch.compile(CacheWrite(), backend=counting, dynamic=False, options=options)
    storage, version = cache.data_ptr(), cache._version
    for step in range(5):
        x = torch.randn(1, 4)
        expected = CacheWrite()(ref_cache, ref_length, x)
        out = compiled(cache, length, x)
        torch.testing.assert_close(out, expected)
        torch.testing.assert_close(cache, ref_cache)
        assert int(length) == step + 1
        assert cache._version > version  # as after copy_: caches keyed on the version see the write
        version = cache._version
    assert cache.data_ptr() == storage  # written in place, never replaced
    assert counting.programs == 1
