"""Model zoo: every model on the device vs eager (fp32)."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import assert_matches, compile_tt, outputs_of
from tests.models.zoo import ZOO


@pytest.mark.usefixtures("fast_numerics")  # the compiler's correctness, at fp32 tolerances
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


@pytest.mark.parametrize("name", ["resnet", "bert", "gpt2", "vit"])
def test_zoo_model_on_emulated_numerics(name):
    """The default device numerics: fp32 operands of matmul, conv and multiply enter the
    matrix unit as TF32 (10 mantissa bits), HiFi4, fp32 accumulation. The outputs keep
    PCC >= 0.999 and stay within 1% of the output's range of eager."""
    make_model, make_inputs = ZOO[name]
    model = make_model().eval()
    inputs = make_inputs()
    args, kwargs = ((), inputs) if isinstance(inputs, dict) else (inputs, {})
    compiled, _ = compile_tt(model, numerics="emulated")
    with torch.no_grad():
        golden = model(*args, **kwargs)
        result = compiled(*args, **kwargs)
    scale = max(float(g.abs().max()) for g in outputs_of(golden) if g.is_floating_point())
    assert_matches(golden, result, pcc=0.999, atol=1e-2 * max(1.0, scale))
