"""Intermediate verification: each op's device output against its FX node's CPU golden."""

from __future__ import annotations

import torch

from tests.helpers import SmallCNN, compile_tt
from tt_torch import intermediate, runtime
from tt_torch.composite import node_of_location


def _compiled_cnn():
    compiled, artifacts = compile_tt(SmallCNN().eval(), enable_intermediate_verification=True)
    with torch.no_grad():
        compiled(torch.randn(2, 3, 16, 16))
    return artifacts.last


def test_every_op_matches_its_node_on_a_correct_program():
    graph = _compiled_cnn()
    table = graph.intermediate_verification
    assert table.passed and table.first_failure is None
    nodes = {node_of_location(r.loc) for r in table.rows}
    # each convolution computes its relu too (fused), so it carries the relu's location:
    # the convolution's own value never exists on the device
    assert {"relu", "relu_1", "avg_pool2d"} <= nodes and "convolution" not in nodes
    text = str(table)
    assert text.splitlines()[0].split() == ["op", "type", "PCC", "atol", "ok", "location"]
    assert f"all {len(table.rows)} compared ops meet PCC >= 0.99" in text


def test_a_planted_numerical_bug_is_found_by_location():
    """A wrong kernel, planted at one op: relu_1's conv2d (with the relu fused) returns
    -relu(conv(x)).

    The fault is a post-op hook that rewrites that one op's output in place, so every
    later op computes on the wrong value, as after a real kernel bug; the table must
    name relu_1's location as the first op under the threshold, not a later one.
    """
    graph = _compiled_cnn()
    binary = runtime.load_binary(graph.flatbuffer)
    values = intermediate.fx_node_values(graph.fx_module, graph.program_inputs)
    goldens = intermediate.goldens_by_loc(binary, 0, values)
    target = next(loc for loc in goldens if node_of_location(loc) == "relu_1")
    planted = []

    def wrong_kernel(event):
        if event.loc == target and event.type == "Conv2dOp":
            event.output.neg_()
            planted.append(event.index)

    inputs = [t.to(runtime.torch_dtype(d["dtype"])) for t, d in zip(graph.program_inputs, binary.program_inputs(0))]
    with runtime.open_device() as device:
        _, table = intermediate.verify_program(device, binary, 0, inputs, goldens, post_op=wrong_kernel)
    assert len(planted) == 1
    first = table.first_failure
    # compared: the conv itself, in its flattened NHWC form (the pool after it reads that
    # directly: the permutes to NCHW and back cancel)
    assert first is not None and first.loc == target and first.index == planted[0] and first.type == "Conv2dOp"
    assert first.pcc < 0
    before = [r for r in table.rows if r.index < first.index]
    assert before and all(r.passed for r in before)
    assert f"first op under threshold (PCC >= 0.99): op {first.index} Conv2dOp at {target}" in str(table)


def test_fused_attention_is_compared_with_its_named_node():
    """The fused scaled-dot-product attention carries its composite's name, which is also
    the FX node of the attention's result: that node's value is its golden."""

    class Attention(torch.nn.Module):
        def forward(self, q, k, v):
            return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True) * 2

    compiled, artifacts = compile_tt(Attention(), enable_intermediate_verification=True)
    q, k, v = (torch.randn(1, 2, 8, 16) for _ in range(3))
    compiled(q, k, v)
    table = artifacts.last.intermediate_verification
    rows = [r for r in table.rows if node_of_location(r.loc) == "scaled_dot_product_attention_causal"]
    assert [r.type for r in rows] == ["ScaledDotProductAttentionOp"] and table.passed
