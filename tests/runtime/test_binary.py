"""Loading .ttnn binaries: metadata, and every kind of bad input is a clear BinaryError.

A bad file must never crash the process: truncated, bit-flipped, empty, random and
foreign inputs are all tried here, in-process.
"""

from __future__ import annotations

import random

import pytest
import torch

from tests.runtime import ttnn_builder as tb
from tt_torch import runtime
from tt_torch._generated import binary_generated as fb
from tt_torch._generated import schema_info
from tt_torch.errors import BinaryError, TTRuntimeError


def add_program(name: str = "main") -> fb.ProgramT:
    b = tb.ProgramBuilder(name)
    x = b.device_input([3, 4], fb.DataType.Float32, "x")
    y = b.device_input([4], fb.DataType.Float32, "y")
    out = b.like(x)
    b.op(fb.EltwiseBinaryOpT(type=fb.EltwiseBinaryOpType.Add, lhs=x, rhs=y, out=out), loc="model.py:3 (add)")
    b.output(out)
    return b.program()


def rich_program() -> fb.ProgramT:
    """Ops whose attributes decide output sizes: the ones a corrupt file could make explode."""
    f32, tile, dram = fb.DataType.Float32, fb.TensorLayout.Tile, fb.BufferType.DRAM
    b = tb.ProgramBuilder("rich")
    x = b.device_input([1, 1, 2 * 6 * 6, 4], f32, "x")
    w = b.device_input([4, 2, 3, 3], f32, "w")
    c = b.like(x)
    window = {"kernelSize": [3, 3], "stride": [1, 1], "padding": [1, 1, 1, 1], "dilation": [1, 1]}
    b.op(fb.Conv2dOpT(input=x, weight=w, out=c, inChannels=4, outChannels=4, batchSize=2, inputHeight=6, inputWidth=6,
                      groups=2, **window))  # fmt: skip
    p = b.like(c, shape=[1, 1, 2 * 6 * 6, 4])
    b.op(fb.Pool2dOpT(type=fb.Pool2dType.Max, in_=c, out=p, batchSize=2, inputHeight=6, inputWidth=6, channels=4,
                      **window))  # fmt: skip
    s = b.like(p, shape=[1, 1, 36, 2])
    b.op(fb.SliceOpT(in_=p, out=s, begins=[0, 0, 0, 0], ends=[1, 1, 72, 4], step=[1, 1, 2, 2]))
    r = b.like(s, shape=[1, 1, 2])
    b.op(fb.ReductionOpT(type=fb.ReductionOpType.Sum, in_=s, out=r, dimArg=[2], keepDim=False))
    k = b.ref([2], f32, tile, dram)
    b.op(fb.ConstantOpT(out=k, data=tb.constant_data(torch.tensor([1.0, 2.0]))))
    m = b.like(r)
    b.op(fb.EltwiseBinaryOpT(type=fb.EltwiseBinaryOpType.Multiply, lhs=r, rhs=k, out=m))
    rp = b.like(m, shape=[1, 2, 6])
    b.op(fb.RepeatOpT(in_=m, out=rp, repeatDims=[1, 2, 3]))
    pd = b.like(rp, shape=[1, 3, 7])
    b.op(fb.PadOpT(in_=rp, out=pd, padding=[0, 0, 1, 0, 0, 1], value=0.5))
    a = b.ref([1, 3, 7], f32, tile, dram)
    b.op(fb.ArangeOpT(out=a, start=0, step=1, dim=2))
    o = b.like(pd)
    b.op(fb.EltwiseTernaryOpT(type=fb.EltwiseTernaryOpType.Clamp, first=pd, second=a, third=pd, out=o))
    b.output(o)
    return b.program()


@pytest.fixture(scope="module")
def good() -> bytes:
    return tb.binary_bytes([add_program("forward"), add_program("const_eval_0")])


def test_schema_identity_matches_the_generated_python():
    assert runtime.schema_hash() == schema_info.SCHEMA_HASH
    assert runtime.schema_version() == schema_info.SCHEMA_VERSION


def test_metadata(good):
    binary = runtime.load_binary(good)
    assert binary.num_programs == 2
    assert [binary.program_name(i) for i in range(2)] == ["forward", "const_eval_0"]
    assert binary.program_inputs(0) == [
        {"name": "x", "shape": [3, 4], "dtype": "Float32", "arg_type": "Input", "global_id": 1, "on_device": False},
        {"name": "y", "shape": [4], "dtype": "Float32", "arg_type": "Input", "global_id": 4, "on_device": False},
    ]
    (out,) = binary.program_outputs(0)
    assert out["shape"] == [3, 4] and out["dtype"] == "Float32"
    assert binary.system_desc_name == "n150"
    assert binary.arch == "WormholeB0"
    assert binary.schema_hash == schema_info.SCHEMA_HASH
    assert binary.version == schema_info.SCHEMA_VERSION
    assert "ttnn" in binary.mlir_sources
    assert runtime.torch_dtype(binary.program_inputs(0)[0]["dtype"]) is torch.float32


def test_program_index_out_of_range_names_the_programs(good):
    binary = runtime.load_binary(good)
    with (
        runtime.open_device() as device,
        pytest.raises(TTRuntimeError, match=r"program index 5 is out of range.*'forward'"),
    ):
        runtime.submit(device, binary, 5, [])


def test_load_from_file(good, tmp_path):
    path = tmp_path / "model.ttnn"
    path.write_bytes(good)
    assert runtime.load_binary(path).num_programs == 2
    assert runtime.load_binary(str(path)).num_programs == 2
    with pytest.raises(BinaryError, match="cannot open tt-torch binary"):
        runtime.load_binary(tmp_path / "missing.ttnn")


def test_file_errors_name_the_file(good, tmp_path):
    path = tmp_path / "half.ttnn"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(BinaryError, match=r"half\.ttnn: corrupt or truncated"):
        runtime.load_binary(path)


def test_empty():
    with pytest.raises(BinaryError, match="not a tt-torch binary: it is empty"):
        runtime.load_binary(b"")


@pytest.mark.parametrize("keep", [1, 11, 12, 100, -1])
def test_truncated(good, keep):
    with pytest.raises(BinaryError, match="corrupt or truncated"):
        runtime.load_binary(good[:keep])


def test_trailing_bytes(good):
    with pytest.raises(BinaryError, match="8 unexpected bytes after"):
        runtime.load_binary(good + bytes(8))


def test_png_is_not_a_binary():
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00" + bytes(64)
    with pytest.raises(BinaryError, match=r"not a tt-torch binary \(file identifier is '.*', expected 'TTNB'\)"):
        runtime.load_binary(png)


def test_tt_mlir_binary_is_named():
    foreign = bytes(8) + b"TTNN" + bytes(64)
    with pytest.raises(BinaryError, match="file identifier is 'TTNN', expected 'TTNB'.*tt-mlir"):
        runtime.load_binary(foreign)


def test_not_size_prefixed():
    binary = fb.BinaryT(version=fb.VersionT(major=0, minor=1), schemaHash=schema_info.SCHEMA_HASH, programs=[])
    builder = fb.flatbuffers.Builder(256)
    builder.Finish(binary.Pack(builder), b"TTNB")
    with pytest.raises(BinaryError, match="without the size prefix"):
        runtime.load_binary(bytes(builder.Output()))


def test_other_schema_hash():
    data = tb.binary_bytes([add_program()], schema_hash="0" * 64)
    with pytest.raises(
        BinaryError, match=f"built for schema {'0' * 64}, this runtime reads {schema_info.SCHEMA_HASH}: recompile"
    ):
        runtime.load_binary(data)


def test_other_schema_major_version():
    ours = ".".join(map(str, schema_info.SCHEMA_VERSION))
    data = tb.binary_bytes([add_program()], version=(7, 0, 1))
    with pytest.raises(
        BinaryError, match=rf"built for schema version 7\.0\.1, newer than the {ours} .*upgrade tt-torch"
    ):
        runtime.load_binary(data)


def test_older_schema_version_says_so_and_what_to_do():
    major, minor, _ = schema_info.SCHEMA_VERSION
    assert minor > 0, "bump the test when the schema's major version changes"
    data = tb.binary_bytes([add_program()], schema_hash="0" * 64, version=(major, minor - 1, 0))
    with pytest.raises(BinaryError, match=rf"version {major}\.{minor - 1}\.0, older than .*re-export the model"):
        runtime.load_binary(data)


def test_random_bytes():
    rng = random.Random(0)
    for size in (5, 16, 64, 1000):
        for _ in range(20):
            data = bytes(rng.getrandbits(8) for _ in range(size))
            with pytest.raises(BinaryError):
                runtime.load_binary(data)
    # Random data behind a valid header: the flatbuffer verifier has to catch it.
    for _ in range(200):
        body = bytes(rng.getrandbits(8) for _ in range(rng.randrange(4, 300)))
        data = (len(body) + 8).to_bytes(4, "little") + rng.getrandbits(32).to_bytes(4, "little") + b"TTNB" + body
        with pytest.raises(BinaryError, match="corrupt or truncated"):
            runtime.load_binary(data)


def test_bit_flips_never_crash(good):
    """Flip each byte of a valid binary: loading and running either work or raise our errors."""
    x, y = torch.randn(3, 4), torch.randn(4)
    outcomes = {"loaded": 0, "refused": 0, "ran": 0, "failed": 0}
    with runtime.open_device() as device:
        for i in range(len(good)):
            data = bytearray(good)
            data[i] ^= 1 << (i % 8)
            try:
                binary = runtime.load_binary(bytes(data))
            except BinaryError:
                outcomes["refused"] += 1
                continue
            outcomes["loaded"] += 1
            try:
                runtime.submit(device, binary, 0, [x, y])
                outcomes["ran"] += 1
            except TTRuntimeError:
                outcomes["failed"] += 1
            assert device.dram_bytes_in_use == 0
    assert outcomes["refused"] > 0 and outcomes["loaded"] > 0, outcomes


def test_random_corruption_of_a_larger_program_never_crashes():
    good = tb.binary_bytes([rich_program()])
    inputs = [torch.randn(1, 1, 72, 4), torch.randn(4, 2, 3, 3)]
    rng = random.Random(1)
    outcomes = {"refused": 0, "ran": 0, "failed": 0}
    with runtime.open_device() as device:
        (out,) = runtime.submit(device, runtime.load_binary(good), 0, inputs)
        assert out.shape == (1, 3, 7)
        for _ in range(3000):
            data = bytearray(good)
            for _ in range(rng.choice([1, 1, 2, 4])):
                i = rng.randrange(len(data))
                data[i] ^= 1 << rng.randrange(8)
            try:
                binary = runtime.load_binary(bytes(data))
            except BinaryError:
                outcomes["refused"] += 1
                continue
            try:
                runtime.submit(device, binary, 0, inputs)
                outcomes["ran"] += 1
            except TTRuntimeError:
                outcomes["failed"] += 1
            assert device.dram_bytes_in_use == 0
    assert min(outcomes.values()) > 0, outcomes
