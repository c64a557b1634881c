"""demos/cpp_runner: an exported .ttnn run from C++ alone, on inputs read from files."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import outputs_of
from tt_torch import runtime

BUILD = Path(__file__).resolve().parents[2] / "build"
RUN_TTNN = BUILD / "demos" / "cpp_runner" / "run_ttnn"
# Skipped only without a CMake build tree (an installed wheel); with one, the demo must be there.
pytestmark = pytest.mark.skipif(not (BUILD / "CMakeCache.txt").exists(), reason="no CMake build tree (build/)")


def test_the_demo_is_built():
    assert RUN_TTNN.exists(), f"{RUN_TTNN} is missing: CMakeLists.txt adds demos/cpp_runner; run pip install -e ."


def test_runs_an_exported_model_bit_exact(exported_cnn, tmp_path):
    path, result, x = exported_cnn
    (tmp_path / "x.bin").write_bytes(x.numpy().tobytes())
    done = subprocess.run(
        [RUN_TTNN, path, "--out", tmp_path, tmp_path / "x.bin"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert f"output 0: [2, 10] Float -> {tmp_path}/output_0.bin" in done.stdout
    out = torch.from_numpy(np.fromfile(tmp_path / "output_0.bin", dtype=np.float32).reshape(2, 10))
    assert torch.equal(out, outputs_of(result.outputs)[0])  # weights from the .ttnn and its side file
    assert torch.equal(out, runtime.load(path)(x)[0])


def test_reports_bad_inputs_and_usage(exported_cnn, tmp_path):
    path, _, _ = exported_cnn
    (tmp_path / "short.bin").write_bytes(bytes(12))
    done = subprocess.run([RUN_TTNN, path, tmp_path / "short.bin"], capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "short.bin holds 12 bytes but input 0 ('" in done.stderr and "of shape [2, 3, 16, 16] needs" in done.stderr
    assert "corrupt" not in done.stderr  # the input file is short, not the model
    done = subprocess.run([RUN_TTNN, path], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "takes 1 input(s), got 0" in done.stderr
    done = subprocess.run([RUN_TTNN], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "MODEL.ttnn is missing" in done.stderr
    done = subprocess.run([RUN_TTNN, path, "--program", "x"], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "--program takes a program index" in done.stderr


@pytest.mark.parametrize("tool", [RUN_TTNN, BUILD / "tt_run"], ids=["run_ttnn", "tt_run"])
def test_help_and_unknown_options(tool):
    done = subprocess.run([tool, "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.startswith("usage: ") and "Exit codes" in done.stdout
    done = subprocess.run([tool, "x.ttnn", "--frobnicate"], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "unknown option '--frobnicate'" in done.stderr


def test_creates_the_output_folder(exported_cnn, tmp_path):
    path, _, x = exported_cnn
    (tmp_path / "x.bin").write_bytes(x.numpy().tobytes())
    out = tmp_path / "new" / "folder"
    done = subprocess.run([RUN_TTNN, path, "--out", out, tmp_path / "x.bin"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (out / "output_0.bin").stat().st_size == 2 * 10 * 4
