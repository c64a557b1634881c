"""Thousands of mutations of a valid exported .ttnn: clear errors, never a crash or a hang."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import tt_torch
from tests.helpers import MLP
from tt_torch import runtime
from tt_torch._generated import binary_generated as fb
from tt_torch.errors import TTRuntimeError
from tt_torch.tools import cli

SCRIPT = Path(__file__).with_name("mutate_ttnn.py")


def test_mutated_files_fail_cleanly_or_load_verified(tmp_path):
    result = tt_torch.export(MLP().eval(), (torch.randn(4, 32),), tmp_path / "mlp.ttnn", include_mlir=False)
    done = subprocess.run(
        [sys.executable, SCRIPT, result.path, "3000", "0"], capture_output=True, text=True, timeout=120, check=False
    )
    # A negative status is a signal (a crash); a hang raises TimeoutExpired.
    assert done.returncode == 0, done.stderr[-3000:]
    outcomes = ast.literal_eval(done.stdout.strip().splitlines()[-1])
    assert sum(outcomes.values()) == 3000
    for kind in ("identifier", "version"):
        assert outcomes.get(f"{kind}: refused") == (2 if kind == "identifier" else 3), outcomes
    assert outcomes["truncate: refused"] > 100 and "truncate: ran" not in outcomes
    assert outcomes["flip: refused"] > 0 and outcomes["flip: ran"] > 0 and outcomes["flip: failed cleanly"] > 0


# A script, so that a hang (a FIFO read) or a crash (bad_alloc on /dev/zero) fails the test
# through the subprocess's timeout or status instead of taking pytest down.
NOT_FILES = r"""
import json, os, sys
from tt_torch import _C, runtime
from tt_torch.errors import BinaryError
from tt_torch.tools import cli

good, d = sys.argv[1], sys.argv[2]
cases = {}
os.mkfifo(f"{d}/fifo.ttnn")
os.mkdir(f"{d}/dir.ttnn")
os.symlink("/dev/zero", f"{d}/zero.ttnn")
with open(f"{d}/huge.ttnn", "wb") as f:
    f.truncate(3 << 30)  # sparse: 3 GiB, more than a flatbuffer can be
for name in ("fifo", "dir", "zero", "huge"):
    path = f"{d}/{name}.ttnn"
    out = {}
    for api, call in (("load", runtime.load), ("cpp", _C.Binary.from_file)):
        try:
            call(path)
            out[api] = "loaded"
        except (BinaryError, _C.BinaryError) as e:
            out[api] = str(e)
    out["check"] = cli.main(["check", path])
    cases[name] = out
# the side file of a good export replaced by a FIFO, then by a link to /dev/zero
side = good + ".weights"
os.rename(side, side + ".saved")
for name, make in (("side fifo", os.mkfifo), ("side zero", lambda p: os.symlink("/dev/zero", p))):
    make(side)
    try:
        runtime.load(good)(*[__import__("torch").randn(d["shape"]) for d in runtime.load(good).user_inputs(0)])
        cases[name] = {"load": "ran"}
    except BinaryError as e:
        cases[name] = {"load": str(e)}
    cases[name]["check"] = cli.main(["check", good])
    os.unlink(side)
os.rename(side + ".saved", side)
print(json.dumps(cases))
"""


def test_files_that_are_not_files_are_refused_by_name(exported_cnn, tmp_path):
    """Issue 18 item 7: a FIFO, a directory, /dev/zero or a 3 GiB file as the .ttnn or its side file."""
    path, _, _ = exported_cnn
    good = tmp_path / "cnn.ttnn"
    good.write_bytes(path.read_bytes())
    (tmp_path / "cnn.ttnn.weights").write_bytes(path.with_name("cnn.ttnn.weights").read_bytes())
    work = tmp_path / "odd"
    work.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", NOT_FILES, str(good), str(work)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    cases = json.loads(done.stdout.strip().splitlines()[-1])
    kinds = {"fifo": "a FIFO", "dir": "a directory", "zero": "a character device", "huge": "3221225472 bytes"}
    for name, kind in kinds.items():
        for api in ("load", "cpp"):  # the Python check and the C++ loader's own
            assert kind in cases[name][api] and f"{name}.ttnn" in cases[name][api], (name, api, cases[name])
        assert cases[name]["check"] == 2, name
    for name, kind in (("side fifo", "a FIFO"), ("side zero", "a character device")):
        assert kind in cases[name]["load"] and "cnn.ttnn.weights" in cases[name]["load"], cases[name]
        assert cases[name]["check"] == 2, name


def _program_edits(good: bytes):
    """(name, edited file) pairs whose programs fail at run time: each edit breaks the dataflow."""

    def edited(edit) -> bytes:
        binary = fb.BinaryT.InitFromPackedBuf(good, 4)
        edit(binary)
        builder = fb.flatbuffers.Builder(1 << 16)
        builder.FinishSizePrefixed(binary.Pack(builder), b"TTNB")
        return bytes(builder.Output())

    def use_after_deallocate(binary):
        ops = binary.programs[0].operations
        k = next(i for i, op in enumerate(ops) if op.typeType == fb.OpType.DeallocateOp)
        freed = ops[k].type.in_.globalId
        first_use = next(
            i for i, op in enumerate(ops) if getattr(op.type, "in_", None) and op.type.in_.globalId == freed
        )
        ops.insert(first_use, ops.pop(k))  # the deallocate moves before the tensor's first use

    def never_produced(binary):
        op = next(op for op in binary.programs[0].operations if op.typeType == fb.OpType.LinearOp)
        op.type.b.globalId = 9999

    def no_programs(binary):
        binary.programs = []

    return [(f.__name__, edited(f)) for f in (use_after_deallocate, never_produced, no_programs)]


def test_check_refuses_programs_whose_dataflow_fails_at_run_time(tmp_path, capsys):
    """Issue 18 item 7: `tt-torch check` agrees with an actual run on each broken program."""
    x = torch.randn(4, 32)
    result = tt_torch.export(MLP().eval(), (x,), tmp_path / "mlp.ttnn", include_mlir=False, golden=False)
    assert cli.main(["check", result.path]) == 0 and "can run it" in capsys.readouterr().out
    for name, data in _program_edits(open(result.path, "rb").read()):
        path = tmp_path / f"{name}.ttnn"
        path.write_bytes(data)
        model = runtime.load(path)
        with pytest.raises(TTRuntimeError):  # the reference: running it fails
            model(x) if model.public else model.run(0, [x])
        code = cli.main(["check", str(path)])
        out = capsys.readouterr().out
        assert code == 2 and "cannot run:" in out, (name, out)
        expected = {"use_after_deallocate": "deallocated it", "never_produced": "%9999, which nothing produces"}
        assert expected.get(name, "holds no programs") in out, (name, out)
