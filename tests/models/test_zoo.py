"""Model zoo: every model on the device vs eager (fp32)."""

from __future__ import annotations

import pytest
import torch
from helpers import assert_matches, compile_tt
from zoo import ZOO


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_model_matches_eager(name):
    make_model, make_inputs = ZOO[name]
    model = make_model().eval()
    inputs = make_inputs()
    args, kwargs = ((), inputs) if isinstance(inputs, dict) else (inputs, {})
    compiled, artifacts = compile_tt(model)
    with torch.no_grad():
        assert_matches(model(*args, **kwargs), compiled(*args, **kwargs))
    assert len(artifacts.graphs) == 1, "the model compiles as one graph"
