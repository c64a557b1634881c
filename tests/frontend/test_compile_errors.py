"""Bad input gets a clear error, never a crash or a wrong answer."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import compile_tt
from tt_torch.errors import ConfigError, LoweringError
from tt_torch.tools.utils import CompileDepth, CompilerConfig


class BitCast(torch.nn.Module):
    def forward(self, x):
        y = x * 2
        return y.view(torch.int32)  # the unsupported op: stablehlo.bitcast_convert has no TTIR rule


def test_unsupported_op_names_op_stablehlo_and_source_line():
    # strict mode: the error itself (with the fallback on, the bit cast would run on the CPU)
    compiled, _ = compile_tt(BitCast(), CompileDepth.EXECUTE, enable_cpu_fallback=False)
    with pytest.raises(LoweringError) as info:
        compiled(torch.randn(4, 8))
    err = info.value
    assert err.op_name == "stablehlo.bitcast_convert"
    assert "stablehlo.bitcast_convert" in err.op_text
    assert "test_compile_errors.py" in err.location  # the model line that made the op
    message = str(err)
    assert "cannot lower 'stablehlo.bitcast_convert'" in message and "test_compile_errors.py" in message


def test_unknown_compile_depth_lists_allowed_values():
    with pytest.raises(ConfigError, match="allowed values: TORCH_FX, STABLEHLO"):
        CompilerConfig(compile_depth="FAST")


def test_unknown_config_field_is_an_error():
    with pytest.raises(TypeError):
        CompilerConfig(compile_dept=CompileDepth.EXECUTE)


def test_unknown_target_is_an_error():
    with pytest.raises(ConfigError, match="n150"):
        CompilerConfig(target="grayskull")


def test_int64_input_out_of_device_range_is_an_error():
    class Embed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(10, 4)

        def forward(self, ids):
            return self.emb(ids)

    model = Embed().eval()
    compiled, _ = compile_tt(model)
    ids = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        torch.testing.assert_close(compiled(ids), model(ids))
    big = torch.tensor([[1, 2, 2**40]])
    with pytest.raises(Exception, match="do not fit"):
        with torch.no_grad():
            compiled(big)
