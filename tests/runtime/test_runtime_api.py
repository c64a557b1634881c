"""The runtime API beside submit: hooks, const-eval cache, mesh devices, tensors, JSON views."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from tests.runtime import ttnn_builder as tb
from tt_torch import runtime
from tt_torch._generated import binary_generated as fb
from tt_torch.errors import ConfigError, TTRuntimeError


def relu_add_binary(private_second: bool = False) -> bytes:
    """Program 0: relu(x) + y; program 1 (optionally private): relu(x) alone."""
    programs = []
    for name in ("forward", "consteval"):
        b = tb.ProgramBuilder(name)
        x = b.device_input([4, 8], fb.DataType.Float32, "x")
        y = b.like(x)
        b.op(fb.EltwiseUnaryOpT(type=fb.EltwiseUnaryOpType.Relu, in_=x, out=y), loc='"relu"("m.py":3:0)', debug="relu")
        if name == "forward":
            w = b.device_input([4, 8], fb.DataType.Float32, "y")
            z = b.like(y)
            b.op(fb.EltwiseBinaryOpT(type=fb.EltwiseBinaryOpType.Add, lhs=y, rhs=w, out=z), loc='"add"("m.py":4:0)')
            y = z
        b.output(y)
        program = b.program()
        program.private = private_second and name == "consteval"
        programs.append(program)
    return tb.binary_bytes(programs)


def test_hooks_see_location_debug_string_and_output():
    binary = runtime.load_binary(relu_add_binary())
    x, y = torch.randn(4, 8), torch.randn(4, 8)
    pre, post = [], []
    with runtime.open_device() as device:
        (out,) = runtime.submit(device, binary, 0, [x, y], pre_op=pre.append, post_op=post.append)
    assert [e.type for e in pre] == [e.type for e in post]
    relu = next(e for e in post if e.type == "EltwiseUnaryOp")
    assert relu.loc == '"relu"("m.py":3:0)' and relu.debug == "relu"
    assert torch.equal(relu.output, torch.relu(x)) and relu.seconds >= 0
    add = next(e for e in post if e.type == "EltwiseBinaryOp")
    assert torch.equal(add.output, torch.relu(x) + y) and torch.equal(out, torch.relu(x) + y)
    assert next(e for e in pre if e.type == "EltwiseUnaryOp").output is None  # pre-op: nothing produced yet


def test_a_post_op_hook_can_change_what_later_ops_read():
    binary = runtime.load_binary(relu_add_binary())
    x, y = torch.randn(4, 8), torch.randn(4, 8)

    def corrupt(event):
        if event.type == "EltwiseUnaryOp":
            event.output.fill_(1.0)

    with runtime.open_device() as device:
        (out,) = runtime.submit(device, binary, 0, [x, y], post_op=corrupt)
    assert torch.equal(out, y + 1)


def test_hook_exceptions_propagate():
    binary = runtime.load_binary(relu_add_binary())

    def boom(event):
        raise KeyError("from the hook")

    with runtime.open_device() as device, pytest.raises(KeyError, match="from the hook"):
        runtime.submit(device, binary, 0, [torch.randn(4, 8)] * 2, pre_op=boom)


def test_const_eval_cache_runs_private_programs_once_until_an_input_changes():
    binary = runtime.load_binary(relu_add_binary(private_second=True))
    assert binary.program_is_private(1) and not binary.program_is_private(0)
    cache = runtime.ConstEvalCache()
    w = torch.randn(4, 8)
    calls = []
    with runtime.open_device() as device:
        first = runtime.submit(device, binary, 1, [w], const_eval_cache=cache, pre_op=calls.append)
        again = runtime.submit(device, binary, 1, [w], const_eval_cache=cache, pre_op=calls.append)
        assert again is first and (cache.hits, cache.misses) == (1, 1)
        ops = len(calls)
        w.mul_(-1)  # in place: the version counter moves
        changed = runtime.submit(device, binary, 1, [w], const_eval_cache=cache, pre_op=calls.append)
        assert cache.misses == 2 and len(calls) == 2 * ops
        assert torch.equal(changed[0], torch.relu(w))
        # public programs are never cached
        runtime.submit(device, binary, 0, [w, w], const_eval_cache=cache)
        runtime.submit(device, binary, 0, [w, w], const_eval_cache=cache)
        assert (cache.hits, cache.misses) == (1, 2)


def test_open_mesh_device():
    with runtime.open_mesh_device((1, 2), arch="wormhole_b0") as device:
        assert device.name == "n300" and device.num_chips == 2
    with runtime.open_mesh_device((1, 1), arch="blackhole") as device:
        assert device.arch == "Blackhole"
    with runtime.open_mesh_device((2, 4), arch="wormhole_b0") as device:
        assert device.name == "t3k" and device.num_chips == 8
    with pytest.raises(ConfigError, match=r"no emulated wormhole_b0 system with mesh shape \[3, 3\]; known:"):
        runtime.open_mesh_device((3, 3))


def test_tensors():
    data = torch.randn(4, 8)
    host = runtime.create_tensor(data)
    assert host.dtype == "Float32" and not host.on_device and host.shape == (4, 8)
    with runtime.open_device() as device:
        tiled = runtime.to_layout(host, device, "tile", dtype="BFloat16")
        assert tiled.on_device and tiled.layout == "tile"
        back = runtime.to_host(tiled)
        assert back.dtype == torch.bfloat16 and torch.equal(back, data.to(torch.bfloat16))
        binary = runtime.load_binary(relu_add_binary())
        (out,) = runtime.submit(device, binary, 0, [host, runtime.create_tensor(data)])
        assert torch.equal(out, torch.relu(data) + data)
        with pytest.raises(ConfigError, match="layout='nchw' is not valid; allowed: row_major, tile"):
            runtime.to_layout(host, device, "nchw")
    with pytest.raises(ConfigError, match="needs an open device"):
        runtime.to_layout(host, device)


def test_binary_json_sections():
    binary = runtime.load_binary(relu_add_binary())
    everything = runtime.binary_json(binary)
    assert set(everything) == {"version", "system_desc", "mlir", "inputs", "outputs", "ops"}
    assert everything["version"]["programs"] == ["forward", "consteval"]
    assert everything["system_desc"]["name"] == "n150"
    assert everything["system_desc"]["chip_descs"][0]["arch"] == "WormholeB0"
    inputs = everything["inputs"][0]["inputs"]
    assert [(d["name"], d["shape"], d["dtype"]) for d in inputs] == [("x", [4, 8], "Float32"), ("y", [4, 8], "Float32")]
    ops = runtime.binary_json(binary, "ops")["ops"][0]["ops"]
    assert {"index", "type", "loc", "debug", "has_kernel"} <= set(ops[0])
    assert any(op["loc"] == '"add"("m.py":4:0)' for op in ops)


def test_system_info():
    info = runtime.system_info("p150")
    assert info["arch"] == "Blackhole" and info["dram_bytes"] > 0 and "BFloat16" in info["supported_data_types"]
    with pytest.raises(ConfigError, match="unknown device 'x'"):
        runtime.system_info("x")


def _add_binary(dtype) -> bytes:
    b = tb.ProgramBuilder("forward")
    x = b.device_input([2, 3], dtype, "x")
    y = b.device_input([2, 3], dtype, "y")
    z = b.like(x)
    b.op(fb.EltwiseBinaryOpT(type=fb.EltwiseBinaryOpType.Add, lhs=x, rhs=y, out=z), loc='"add"("m.py":4:0)')
    b.output(z)
    return tb.binary_bytes([b.program()])


def test_a_loaded_model_refuses_inputs_of_another_dtype_instead_of_casting_them():
    """Issue 18 item 8: runtime.load converts integer inputs only (range-checked); a float of
    another width or an int/float mix is refused, naming the input and both dtypes."""
    model = runtime.LoadedModel(runtime.load_binary(_add_binary(fb.DataType.Float32)))
    x, y = torch.randn(2, 3), torch.randn(2, 3)
    assert torch.equal(model(x, y)[0], x + y)
    for wrong in (torch.float64, torch.bfloat16, torch.int64):
        with pytest.raises(TTRuntimeError, match=rf"input 'x' .* is {wrong}, but the program takes torch.float32"):
            model(x.to(wrong), y)
    ints = runtime.LoadedModel(runtime.load_binary(_add_binary(fb.DataType.Int32)))
    a, b = torch.tensor([[1, -2, 3], [2**31 - 2, 0, 5]]), torch.ones(2, 3, dtype=torch.int32)
    assert torch.equal(ints(a, b)[0], (a + b).to(torch.int32))  # int64 -> int32: exact values
    with pytest.raises(TTRuntimeError, match=r"input 'y' .* is torch.float32, but the program takes torch.int32"):
        ints(a, b.float())
    with pytest.raises(TTRuntimeError, match=r"input 'x' has values in \[-2, 4294967296\]"):
        ints(a.clone().fill_(2**32).index_fill_(1, torch.tensor([1]), -2), b)


def test_tt_torch_runtime_is_reachable_from_a_bare_import_tt_torch():
    code = "import sys, tt_torch; assert 'tt_torch.runtime' not in sys.modules; print(tt_torch.runtime.load.__name__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "load", done.stderr[-2000:]
