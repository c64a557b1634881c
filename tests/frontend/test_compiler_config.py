"""CompilerConfig as tt-torch's code uses it: options set as attributes are checked, tt-torch's
options this compiler lacks are refused by name, and dump_info / dump_debug report the compile."""

from __future__ import annotations

import logging

import pytest
import torch

from tests.helpers import MLP, assert_matches, compile_tt
from tt_torch.errors import ConfigError
from tt_torch.tools.utils import CompileDepth, CompilerConfig


def test_options_set_as_attributes_are_checked_as_in_the_constructor():
    cc = CompilerConfig()
    cc.compile_depth = "stablehlo"  # tt-torch's code sets enums; names are taken too
    assert cc.compile_depth is CompileDepth.STABLEHLO
    with pytest.raises(ConfigError, match="allowed values: TORCH_FX, STABLEHLO"):
        cc.compile_depth = "FAST"
    with pytest.raises(ConfigError, match="math_fidelity='hifi5' is not valid; allowed: lofi, hifi2, hifi3, hifi4"):
        cc.math_fidelity = "hifi5"
    with pytest.raises(ConfigError, match="single_op_timeout must be a positive number"):
        cc.single_op_timeout = 0
    assert cc.compile_depth is CompileDepth.STABLEHLO and cc.math_fidelity == "hifi4"  # unchanged by refusals


def test_an_unknown_option_set_as_an_attribute_is_an_error_naming_it():
    cc = CompilerConfig()
    with pytest.raises(ConfigError, match="CompilerConfig has no option 'compile_dept'; its options: .*compile_depth"):
        cc.compile_dept = CompileDepth.EXECUTE


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("dump_binary", "save_flatbuffer"),
        ("enable_optimizer", "optimization_level=1"),
        ("mesh_shape", "CompilerConfig.device_map \\(pipeline parallel\\)"),
        ("unique_ops", "CompileArtifacts"),
    ],
)
def test_tt_torch_options_this_compiler_lacks_are_refused_with_what_to_use(name, hint):
    cc = CompilerConfig()
    with pytest.raises(ConfigError, match=f"CompilerConfig.{name} \\(a tt-torch option\\) is not supported: .*{hint}"):
        setattr(cc, name, True)


def test_a_device_map_maps_module_paths_to_device_indices():
    cc = CompilerConfig()
    cc.device_map = {}  # empty: accepted, as tt-torch's default
    cc.device_map = {"fc1": 0, "fc2": 1}  # pipeline parallel: tests/multichip/test_pipeline_parallel.py
    assert CompilerConfig(device_map={"fc1": 0}).device_map == {"fc1": 0}
    with pytest.raises(ConfigError, match="device_map=.*'fc1' maps to -1, not an index into BackendOptions.devices"):
        cc.device_map = {"fc1": -1}


def test_dump_info_logs_each_compile_and_dump_debug_its_ir(caplog):
    model, x = MLP().eval(), torch.randn(4, 32)
    with caplog.at_level(logging.INFO, logger="tt_torch.dump"):
        compiled, _ = compile_tt(model)
        with torch.no_grad():
            compiled(x)
    assert not caplog.records  # off by default

    for debug in (False, True):
        torch._dynamo.reset()
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="tt_torch.dump"):
            compiled, artifacts = compile_tt(model, dump_info=not debug, dump_debug=debug)
            with torch.no_grad():
                assert_matches(model(x), compiled(x))
        text = "\n".join(r.getMessage() for r in caplog.records)
        name = artifacts.last.name
        assert f"graph {name}: fx " in text and "ttnn: " in text and "linear 3" in text
        assert (f"graph {name}, ttnn:" in text) == debug and (artifacts.last.ttnn in text) == debug
