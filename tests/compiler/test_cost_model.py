"""The roofline cost model (an estimate): hand formulas on small TTNN modules."""

from __future__ import annotations

import pytest
from torch_mlir import ir

from tt_torch.compiler import context
from tt_torch.compiler.pipelines import CompileOptions, compile_stablehlo
from tt_torch.compiler.target import cost_model as cm
from tt_torch.compiler.target.cost_model import TensorSpec


def layout(buffer: str = "dram", kind: str = "tile") -> str:
    return f'#ttnn.layout<"{kind}", "{buffer}", "interleaved", "">'


def linear_module(dtype: str = "bf16", buffer: str = "l1", fidelity: str | None = None) -> str:
    a = f"tensor<128x768x{dtype}, {layout(buffer)}>"
    b = f"tensor<768x3072x{dtype}, {layout(buffer)}>"
    o = f"tensor<128x3072x{dtype}, {layout(buffer)}>"
    cfg = f', compute_config = {{math_fidelity = "{fidelity}", fp32_dest_acc_en = true}}' if fidelity else ""
    return f"""
func.func @main(%a: {a}, %b: {b}) -> {o} {{
  %0 = "ttnn.linear"(%a, %b) {{operandSegmentSizes = array<i32: 1, 1, 0>, transpose_a = false, transpose_b = false{cfg}}} : ({a}, {b}) -> {o} loc("model.py":3:1)
  "ttnn.deallocate"(%b) {{force = false}} : ({b}) -> ()
  return %0 : {o}
}}
"""


def only(est: cm.Estimate, name: str) -> cm.OpEstimate:
    (rec,) = [o for o in est.ops if o.op == name]
    return rec


# 128x768 @ 768x3072: flops = 2 * 128 * 768 * 3072 = 603,979,776
LINEAR_FLOPS = 603_979_776
# bf16 tiles of 2048 B: a 4 * 24 = 96 tiles, b 24 * 96 = 2304, out 4 * 96 = 384 -> 2784 tiles = 5,701,632 B
LINEAR_BF16_BYTES = 5_701_632


def test_linear_compute_bound_hand_formula():
    est = cm.estimate(linear_module(), "n150")
    rec = only(est, "ttnn.linear")
    assert rec.flops == LINEAR_FLOPS and rec.bytes == LINEAR_BF16_BYTES
    # default HiFi4: 4 phases at the LoFi peak of 262 TFLOPS = 262,000 flop/ns
    assert rec.fidelity == "hifi4"
    assert rec.compute_ns == pytest.approx(LINEAR_FLOPS * 4 / 262_000)  # 9221.1 ns
    # in L1: 64 B/cycle/core * 72 cores * 1 GHz = 4608 B/ns -> 1237.3 ns
    assert rec.memory_ns == pytest.approx(LINEAR_BF16_BYTES / 4608)
    assert rec.bound == "compute"
    assert rec.estimated_ns == pytest.approx(LINEAR_FLOPS * 4 / 262_000 + 1000)
    assert rec.loc == '"model.py":3:1'
    # deallocate is free; the total is the linear alone
    assert only(est, "ttnn.deallocate").estimated_ns == 0
    assert est.total_ns == pytest.approx(rec.estimated_ns)


def test_linear_from_dram_is_memory_bound_on_n150():
    # the same linear reading DRAM: 5,701,632 B / 288 B/ns = 19,797 ns > 9221 ns of compute
    # (intensity 106 flop/B, below n150's HiFi4 balance of 65.5e12 / 288e9 = 227 flop/B)
    rec = only(cm.estimate(linear_module(buffer="dram"), "n150"), "ttnn.linear")
    assert rec.memory_ns == pytest.approx(LINEAR_BF16_BYTES / 288)
    assert rec.bound == "memory"


def test_fidelity_phases():
    hifi4 = only(cm.estimate(linear_module(fidelity="hifi4")), "ttnn.linear")
    hifi2 = only(cm.estimate(linear_module(fidelity="hifi2")), "ttnn.linear")
    lofi = only(cm.estimate(linear_module(fidelity="lofi")), "ttnn.linear")
    assert lofi.fidelity == "lofi" and lofi.compute_ns * 4 == pytest.approx(hifi4.compute_ns)
    assert hifi2.compute_ns * 2 == pytest.approx(hifi4.compute_ns)
    # fp32 operands cost the same phases as bf16 (TF32 in SrcA/SrcB), only memory grows
    f32 = only(cm.estimate(linear_module("f32")), "ttnn.linear")
    assert f32.compute_ns == pytest.approx(hifi4.compute_ns) and f32.bytes == 2 * LINEAR_BF16_BYTES
    with pytest.raises(ValueError, match="unknown math fidelity"):
        cm.estimate(linear_module(fidelity="hifi5"))


def test_big_add_memory_bound():
    t = f"tensor<1024x1024xf32, {layout()}>"
    text = f"""
func.func @main(%x: {t}, %y: {t}) -> {t} {{
  %0 = "ttnn.add"(%x, %y) : ({t}, {t}) -> {t}
  return %0 : {t}
}}
"""
    rec = only(cm.estimate(text, "n150"), "ttnn.add")
    # 3 tensors * 1024 tiles * 4096 B = 12,582,912 B over 288 B/ns = 43,690.7 ns
    assert rec.bytes == 12_582_912 and rec.bound == "memory"
    assert rec.estimated_ns == pytest.approx(12_582_912 / 288 + 1000)
    # compute: 1,048,576 elements / (32 * 72 per ns) = 455 ns
    assert rec.compute_ns == pytest.approx(1_048_576 / (32 * 72))


def test_bfp8_moves_fewer_bytes_than_bf16():
    # 768x3072: 2304 tiles: bfp_bf8 2304 * 1088 = 2,506,752 B; bf16 2304 * 2048 = 4,718,592 B
    assert TensorSpec((768, 3072), "bfp_bf8").nbytes == 2_506_752
    assert TensorSpec((768, 3072), "bfloat8_b").nbytes == 2_506_752
    assert TensorSpec((768, 3072), "bf16").nbytes == 4_718_592
    a, o = TensorSpec((128, 768), "bf16"), TensorSpec((128, 3072), "bf16")
    bf16 = cm.estimate_op("ttnn.matmul", [a, TensorSpec((768, 3072), "bf16")], [o])
    bfp8 = cm.estimate_op("ttnn.matmul", [a, TensorSpec((768, 3072), "bfp_bf8")], [o])
    assert bf16.bytes - bfp8.bytes == 4_718_592 - 2_506_752
    assert bfp8.memory_ns < bf16.memory_ns and bfp8.compute_ns == bf16.compute_ns

    # in a module: a tensor produced by a typecast to bfp_bf8 counts at 1088 B per tile
    ta, tb, to = (f"tensor<{s}xbf16, {layout()}>" for s in ("128x768", "768x3072", "128x3072"))
    text = f"""
func.func @main(%a: {ta}, %b: {tb}) -> {to} {{
  %w = "ttnn.typecast"(%b) {{dtype = "bfp_bf8"}} : ({tb}) -> {tb}
  %0 = "ttnn.matmul"(%a, %w) {{transpose_a = false, transpose_b = false}} : ({ta}, {tb}) -> {to}
  return %0 : {to}
}}
"""
    est = cm.estimate(text)
    assert only(est, "ttnn.typecast").bytes == 4_718_592 + 2_506_752
    # a 96 tiles * 2048 + w 2,506,752 + out 384 * 2048
    assert only(est, "ttnn.matmul").bytes == 196_608 + 2_506_752 + 786_432


def test_p150_faster_than_n150():
    for text in (linear_module(), linear_module(buffer="dram")):
        n150 = only(cm.estimate(text, "n150"), "ttnn.linear")
        p150 = only(cm.estimate(text, "p150"), "ttnn.linear")
        assert p150.estimated_ns < n150.estimated_ns
    # n300: one chip of two, half the board's 466 TFLOPS
    n300 = only(cm.estimate(linear_module(), "n300"), "ttnn.linear")
    assert n300.compute_ns == pytest.approx(LINEAR_FLOPS * 4 / 233_000)
    with pytest.raises(ValueError, match="unknown target 'tpu'"):
        cm.estimate(linear_module(), "tpu")


STABLEHLO = """
func.func @main(%x: tensor<2x8xf32>, %w: tensor<16x8xf32>) -> tensor<2x16xf32> {
  %0 = stablehlo.transpose %w, dims = [1, 0] : (tensor<16x8xf32>) -> tensor<8x16xf32>
  %1 = stablehlo.dot_general %x, %0, contracting_dims = [1] x [0] : (tensor<2x8xf32>, tensor<8x16xf32>) -> tensor<2x16xf32>
  %2 = stablehlo.exponential %1 : tensor<2x16xf32>
  return %2 : tensor<2x16xf32>
}
"""


def test_compiled_module_in_program_order():
    module = ir.Module.parse(STABLEHLO, context.new_context())
    result = compile_stablehlo(module, CompileOptions(emit_flatbuffer=False, cache_dir="off"))
    est = cm.estimate(result.ttnn, "n150")
    names = [line.split('"')[1] for line in result.ttnn.splitlines() if '= "ttnn.' in line or ' "ttnn.' in line]
    assert [o.op for o in est.ops] == names
    assert all(o.func == "main" for o in est.ops)
    # host transfers: PCIe at 16 B/ns, host-side bytes only (x: 2 * 8 * 4 = 64 B)
    first = est.ops[0]
    assert first.op == "ttnn.to_device" and first.bytes == 64 and first.memory_ns == pytest.approx(64 / 16)
    assert est.device_ns < est.total_ns
    assert "roofline estimate" in est.table() and est.as_dict()["estimate"] is True
    assert only(est, "ttnn.exp").flops == 32 * cm.SFPU_OP_COST
