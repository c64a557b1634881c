"""The runtime library works from C++ without Python: build/tt_run (csrc/tools/tt_run.cpp)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.runtime import ttnn_builder as tb
from tt_torch._generated import binary_generated as fb

TT_RUN = Path(__file__).resolve().parents[2] / "build" / "tt_run"
pytestmark = pytest.mark.skipif(not TT_RUN.exists(), reason="build/tt_run not built (pip install -e . builds it)")


def relu_binary() -> bytes:
    b = tb.ProgramBuilder("forward")
    x = b.device_input([4, 8], fb.DataType.BFloat16, "x")
    y = b.like(x)
    b.op(fb.EltwiseUnaryOpT(type=fb.EltwiseUnaryOpType.Relu, in_=x, out=y))
    b.output(y)
    return tb.binary_bytes([b.program()])


def test_runs_a_binary(tmp_path):
    path = tmp_path / "relu.ttnn"
    path.write_bytes(relu_binary())
    result = subprocess.run([TT_RUN, path], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "program 0 ('forward') on n150: 1 output(s)" in result.stdout
    assert "output 0: [4, 8] BFloat16" in result.stdout


def test_reports_a_bad_binary(tmp_path):
    path = tmp_path / "bad.ttnn"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(32))
    result = subprocess.run([TT_RUN, path, "--device", "p150"], capture_output=True, text=True, check=False)
    assert result.returncode == 2  # a bad file, as run_ttnn and tt-torch say it
    assert "not a tt-torch binary (file identifier is" in result.stderr
