"""Thousands of mutations of a valid exported .ttnn: clear errors, never a crash or a hang."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import torch

import tt_torch
from tests.helpers import MLP

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
