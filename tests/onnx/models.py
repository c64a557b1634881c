"""ONNX models shared by the ONNX tests: hand-built graphs, and small transformers models
exported with ``torch.onnx.export`` (TorchScript exporter: no onnxscript here)."""

from __future__ import annotations

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper


def linear_relu(batch: int | str = 3, opset: int = 17, seed: int = 0) -> onnx.ModelProto:
    """y = relu(x @ W + B), W and B initializers (W a weight, 8x32)."""
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.standard_normal((8, 32)).astype(np.float32), "W")
    b = numpy_helper.from_array(rng.standard_normal(32).astype(np.float32), "B")
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["m"], name="proj"),
        helper.make_node("Add", ["m", "B"], ["a"]),
        helper.make_node("Relu", ["a"], ["y"], name="act"),
    ]
    graph = helper.make_graph(
        nodes,
        "linear_relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[w, b],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def resnet_style(path: str) -> torch.Tensor:
    """A two-stage ResNet (transformers' ResNetModel, basic blocks) exported to ``path``; returns its input."""
    from transformers import ResNetConfig, ResNetModel

    torch.manual_seed(0)
    config = ResNetConfig(num_channels=3, embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1], layer_type="basic")
    model = _Outputs(ResNetModel(config).eval(), "last_hidden_state", "pooler_output")
    x = torch.randn(1, 3, 32, 32)
    torch.onnx.export(
        model,
        (x,),
        path,
        dynamo=False,
        opset_version=17,
        input_names=["pixel_values"],
        output_names=["last_hidden_state", "pooler_output"],
    )
    return x


def bert_style(path: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A two-layer BERT encoder (transformers' BertModel, hidden 32) exported to ``path``; returns its inputs."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    model = _Outputs(BertModel(config).eval(), "last_hidden_state", "pooler_output")
    ids = torch.randint(0, 100, (1, 16))
    mask = torch.ones(1, 16, dtype=torch.int64)
    mask[0, 12:] = 0
    torch.onnx.export(
        model,
        (ids, mask),
        path,
        dynamo=False,
        opset_version=17,
        input_names=["input_ids", "attention_mask"],
        output_names=["last_hidden_state", "pooler_output"],
    )
    return ids, mask


class _Outputs(torch.nn.Module):
    """A transformers model called with keywords, returning the named outputs as a tuple."""

    def __init__(self, model: torch.nn.Module, *names: str):
        super().__init__()
        self.model = model
        self.names = names

    def forward(self, *inputs):
        keys = ("input_ids", "attention_mask") if len(inputs) == 2 else ("pixel_values",)
        out = self.model(**dict(zip(keys, inputs)))
        return tuple(getattr(out, n) for n in self.names)


def node_cases(sample: dict[str, str]) -> dict:
    """onnx's node test cases named in ``sample`` (case name -> the module of
    onnx.backend.test.case.node that makes it): only those modules are imported (all of them
    take ~20 s)."""
    import importlib
    import warnings

    from onnx.backend.test.case import node

    node._TargetOpType = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for module in sorted(set(sample.values())):
            importlib.import_module(f"onnx.backend.test.case.node.{module}")
    return {c.name: c for c in node._NodeTestCases if c.name in sample}
