"""The emulated device as a user meets it through torch.compile: compile options that change
numerics (math fidelity, weight data type), memory limits per target, and weights that
change between calls."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from tests.helpers import compile_tt
from tt_torch.tools.verify import compute_pcc


def test_accuracy_ordering_on_a_matmul():
    """fp32 > HiFi4 bf16 > LoFi bf16 > bfp4 weights, against an fp64 reference."""
    torch.manual_seed(0)
    linear = torch.nn.Linear(512, 256, bias=False).eval()
    x = torch.randn(64, 512)
    golden = (x.double() @ linear.weight.double().T).float()
    bf16 = torch.nn.Linear(512, 256, bias=False).eval()
    bf16.load_state_dict(linear.state_dict())
    bf16 = bf16.bfloat16()
    cases = {
        "fp32 (TF32 operands), HiFi4": (linear, x, {}),
        "bf16, HiFi4": (bf16, x.bfloat16(), {}),
        "bf16, LoFi": (bf16, x.bfloat16(), {"math_fidelity": "lofi"}),
        "bf16, HiFi4, bfp_bf4 weights": (bf16, x.bfloat16(), {"experimental_weight_dtype": "bfp_bf4"}),
    }
    pcc = {}
    with torch.no_grad():
        for name, (model, inputs, options) in cases.items():
            compiled, _ = compile_tt(model, numerics="emulated", **options)
            pcc[name] = compute_pcc(golden, compiled(inputs).float())
            torch._dynamo.reset()
    for name, value in pcc.items():
        print(f"PCC {value:.8f}  {name}")
    values = list(pcc.values())
    assert values == sorted(values, reverse=True) and len(set(values)) == len(values), pcc
    assert values[-1] > 0.97  # still a usable matmul


_BIG_EMBEDDING = textwrap.dedent(
    """
    import resource, sys, torch
    from tt_torch.dynamo.backend import BackendOptions
    from tt_torch.tools.utils import CompilerConfig
    # 7,000,000 x 1024 bf16 = 14.3 GB of weights: more than n150's 12 GiB of DRAM, less than
    # p150's 32 GiB. torch.empty leaves the pages untouched; only the rows looked up are written.
    weight = torch.empty(7_000_000, 1024, dtype=torch.bfloat16)
    ids = torch.tensor([[3, 5_000_000, 6_999_999]])
    with torch.no_grad():
        weight[ids[0]] = torch.randn(3, 1024, dtype=torch.bfloat16)
    model = torch.nn.Embedding.from_pretrained(weight)
    config = CompilerConfig(target=sys.argv[1])
    compiled = torch.compile(model, backend="tt", options=BackendOptions(compiler_config=config))
    try:
        print("equal" if torch.equal(compiled(ids), model(ids)) else "different")
    except Exception as e:
        print(type(e).__name__, e)
    print("maxrss_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
    """
)


def _run_big_embedding(target: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _BIG_EMBEDDING, target],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "TT_TORCH_CACHE_DIR": "off"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rss = int(done.stdout.rsplit("maxrss_mb", 1)[1])
    assert rss < 3000, "the weights must never be materialized on the host"
    return done.stdout


def test_weights_larger_than_n150_dram_fail_with_sizes_and_fit_p150():
    out = _run_big_embedding("n150")
    assert "TTRuntimeError" in out and "out of DRAM on device 'n150'" in out, out
    assert "placing input 0 ('weight')" in out  # the parameter, placed on the device as the call binds it
    assert "[7000000, 1024] BFloat16" in out and "needs 14336000000 bytes" in out and "of 12884901888" in out
    assert _run_big_embedding("p150").startswith("equal")


def test_weights_changed_in_place_are_seen_by_the_next_call():
    """The device caches work derived from weights (TF32 registers, block-float copies) per
    weight version: an in-place update must invalidate it."""
    torch.manual_seed(0)
    model = torch.nn.Linear(64, 32).eval()
    x = torch.randn(4, 64)
    for options in ({}, {"experimental_weight_dtype": "bfp_bf8"}):
        compiled, _ = compile_tt(model, numerics="emulated", **options)
        with torch.no_grad():
            before, golden_before = compiled(x), model(x)
            model.weight.mul_(-2.0)
            after, golden_after = compiled(x), model(x)
            model.weight.div_(-2.0)
        assert compute_pcc(golden_before, before) > 0.9999 and compute_pcc(golden_after, after) > 0.9999
        assert compute_pcc(golden_before, after) < 0.5  # a stale cached weight would give ~1
        torch._dynamo.reset()


def test_a_target_saved_as_a_file_is_compiled_for_embedded_and_enforced(tmp_path):
    """n150 saved as JSON with one DRAM channel of 1 MiB: the binary embeds that description,
    the device opened from it has that budget, and a model that needs more fails there."""
    import json

    from tt_torch import runtime
    from tt_torch.compiler.target import system_desc

    path = system_desc.save("n150", tmp_path / "tiny.json")
    data = json.loads(path.read_text())
    data["name"], data["chip"]["num_dram_channels"], data["chip"]["dram_channel_size"] = "tiny", 1, 1 << 20
    path.write_text(json.dumps(data))
    assert system_desc.load(path).chip.dram_channel_size == 1 << 20

    small = torch.nn.Linear(64, 64).eval()  # 16 KiB of weights: fits
    compiled, artifacts = compile_tt(small, target=str(path))
    x = torch.randn(8, 64)
    with torch.no_grad():
        assert compute_pcc(small(x), compiled(x)) > 0.999
    binary = runtime.load_binary(artifacts.last.flatbuffer)
    assert binary.system_desc_name == "tiny"
    with runtime.open_device(binary) as device:
        assert device.dram_bytes == 1 << 20

    big = torch.nn.Linear(1024, 1024).eval()  # 4 MiB of weights: does not
    compiled, _ = compile_tt(big, target=str(path))
    with torch.no_grad(), pytest.raises(Exception, match=r"out of DRAM on device 'tiny'.* of 1048576 bytes"):
        compiled(torch.randn(8, 1024))

    path.write_text("{}")
    with pytest.raises(Exception, match="tiny.json is malformed"):
        compile_tt(small, target=str(path))
