"""The model zoo: small configurations, random weights (transformers models and two hand-written ones).

``ZOO[name] = (make_model, make_inputs)``; inputs are a tuple of positional
arguments or a dict of keyword arguments.
"""

from __future__ import annotations

import torch
import transformers as T

from tests.helpers import MLPMixer, UNet, small_bert

_TEXT = dict(
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=128,
    vocab_size=100,
    max_position_embeddings=64,
)
_VISION = dict(
    hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128, image_size=64, patch_size=16
)


def _ids():
    return (torch.randint(0, 100, (1, 16)),)


def _image():
    return (torch.randn(1, 3, 64, 64),)


_TOKENS = dict(pad_token_id=1, bos_token_id=2, eos_token_id=3, decoder_start_token_id=2)

ZOO = {
    "bert": (small_bert, lambda: (torch.randint(0, 128, (1, 16)),)),
    "gpt2": (lambda: T.GPT2Model(T.GPT2Config(n_embd=64, n_layer=2, n_head=2, vocab_size=100, n_positions=64)), _ids),
    "gpt_neo": (
        lambda: T.GPTNeoModel(
            T.GPTNeoConfig(
                hidden_size=64,
                num_layers=2,
                num_heads=2,
                attention_types=[[["global", "local"], 1]],
                vocab_size=100,
                max_position_embeddings=64,
                window_size=8,
            )
        ),
        _ids,
    ),
    "llama": (
        lambda: T.LlamaModel(T.LlamaConfig(num_key_value_heads=1, **{**_TEXT, "num_attention_heads": 4})),
        _ids,
    ),
    "mistral": (lambda: T.MistralModel(T.MistralConfig(num_key_value_heads=1, **_TEXT)), _ids),
    "qwen2": (lambda: T.Qwen2Model(T.Qwen2Config(num_key_value_heads=1, **_TEXT)), _ids),
    "phi": (lambda: T.PhiModel(T.PhiConfig(**_TEXT)), _ids),
    "opt": (
        lambda: T.OPTModel(
            T.OPTConfig(
                hidden_size=64,
                num_hidden_layers=2,
                num_attention_heads=2,
                ffn_dim=128,
                vocab_size=100,
                max_position_embeddings=64,
                word_embed_proj_dim=64,
            )
        ),
        _ids,
    ),
    "bloom": (lambda: T.BloomModel(T.BloomConfig(hidden_size=64, n_layer=2, n_head=2, vocab_size=100)), _ids),
    "distilbert": (
        lambda: T.DistilBertModel(T.DistilBertConfig(dim=64, n_layers=2, n_heads=2, hidden_dim=128, vocab_size=100)),
        _ids,
    ),
    "albert": (lambda: T.AlbertModel(T.AlbertConfig(embedding_size=32, **_TEXT)), _ids),
    "roberta": (lambda: T.RobertaModel(T.RobertaConfig(**_TEXT)), _ids),
    "vit": (lambda: T.ViTModel(T.ViTConfig(**_VISION)), _image),
    "deit": (lambda: T.DeiTModel(T.DeiTConfig(**_VISION)), _image),
    "resnet": (
        lambda: T.ResNetModel(
            T.ResNetConfig(embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1], layer_type="basic")
        ),
        _image,
    ),
    "mobilenetv2": (lambda: T.MobileNetV2Model(T.MobileNetV2Config(image_size=64)), _image),
    "swin": (
        lambda: T.SwinModel(
            T.SwinConfig(image_size=64, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[1, 2], window_size=4)
        ),
        _image,
    ),
    "mlp_mixer": (MLPMixer, lambda: (torch.randn(2, 3, 32, 32),)),
    "unet": (UNet, lambda: (torch.randn(1, 3, 32, 32),)),
    "efficientnet": (lambda: T.EfficientNetModel(T.EfficientNetConfig(image_size=64)), _image),
    "t5": (
        lambda: T.T5Model(T.T5Config(d_model=64, d_kv=32, d_ff=128, num_layers=2, num_heads=2, vocab_size=100)),
        lambda: {"input_ids": _ids()[0], "decoder_input_ids": _ids()[0][:, :8]},
    ),
    "whisper": (
        lambda: T.WhisperModel(
            T.WhisperConfig(
                d_model=64,
                encoder_layers=1,
                decoder_layers=1,
                encoder_attention_heads=2,
                decoder_attention_heads=2,
                encoder_ffn_dim=128,
                decoder_ffn_dim=128,
                num_mel_bins=16,
                max_source_positions=16,
                max_target_positions=32,
                vocab_size=100,
                **_TOKENS,
            )
        ),
        lambda: {"input_features": torch.randn(1, 16, 32), "decoder_input_ids": _ids()[0][:, :4]},
    ),
}
