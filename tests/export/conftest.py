"""Exported models shared by the export, CLI and C++ demo tests (exported once per module)."""

from __future__ import annotations

import pytest
import torch

import tt_torch
from tests.helpers import SmallCNN


@pytest.fixture(scope="module")
def exported_cnn(tmp_path_factory):
    """SmallCNN exported with a small embed limit, so that its larger weights go to the side file."""
    torch.manual_seed(0)
    model = SmallCNN().eval()
    x = torch.randn(2, 3, 16, 16)
    path = tmp_path_factory.mktemp("cnn") / "cnn.ttnn"
    result = tt_torch.export(model, (x,), path, embed_limit=1024)
    torch._dynamo.reset()
    return path, result, x
