"""backend="tt" works without importing tt_torch first (the torch_dynamo_backends entry point)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# Outputs are compared with eager at fp32 tolerances, or across two paths bit for bit.
pytestmark = pytest.mark.usefixtures("fast_numerics")


def test_backend_name_resolves_in_a_fresh_process():
    code = textwrap.dedent(
        """
        import torch
        assert "tt" in torch._dynamo.list_backends(exclude_tags=())
        model = torch.nn.Linear(8, 4).eval()
        x = torch.randn(2, 8)
        with torch.no_grad():
            out = torch.compile(model, backend="tt")(x)
            torch.testing.assert_close(out, model(x), rtol=1e-4, atol=1e-4)
        import tt_torch.dynamo.backend as b
        assert torch._dynamo.lookup_backend("tt") is b.backend
        print("ok")
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("ok")
