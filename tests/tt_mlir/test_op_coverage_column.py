"""The op coverage tool's tt-mlir mode: OpInfo ops through the real tt-mlir's programs."""

from __future__ import annotations

import pytest

from tt_torch.tools import op_coverage as oc
from tt_torch.tt_mlir import unavailable_reason


def test_modes_are_named():
    assert [oc.mode_name(m) for m in (True, False, "tt-mlir")] == ["on", "off", "tt-mlir"]
    with pytest.raises(ValueError, match="one of on, off, tt-mlir"):
        oc.mode_name("tt-metal")


@pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason()))
def test_tt_mlir_mode_runs_the_real_compilers_program():
    (op,) = oc.find_ops(["cumsum"])
    record = oc.run_op(op, "tt-mlir", samples=1)
    assert record["mode"] == "tt-mlir" and record["status"] == "device", record
    page = oc.markdown({"cumsum": {"tt-mlir": record}}, "cmd", "machine", ["on", "off", "tt-mlir"])
    assert "| op | family | on | off | tt-mlir | reason |" in page
    assert "| `cumsum` | core | - | - | device |" in page
