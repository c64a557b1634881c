"""tt-torch's environment variables (upstream's TT_TORCH_COMPILE_DEPTH, TT_TORCH_CONSTEVAL, ...):
each one read gives a CompilerConfig default, or is refused by name; unknown ones are named once."""

from __future__ import annotations

import logging

import pytest

from tt_torch import env
from tt_torch.config import CompileDepth, CompilerConfig
from tt_torch.errors import ConfigError


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    for var in env.ALL:
        if var not in (env.NUMERICS, env.CACHE_DIR):
            monkeypatch.delenv(var.name, raising=False)
    env._REPORTED.clear()


def test_defaults_without_variables():
    cfg = CompilerConfig()
    assert cfg.compile_depth == CompileDepth.EXECUTE and cfg.enable_consteval and cfg.consteval_parameters
    assert not cfg.enable_intermediate_verification and not cfg.dump_debug


def test_variables_set_the_defaults(monkeypatch):
    monkeypatch.setenv("TT_TORCH_COMPILE_DEPTH", "stablehlo")
    monkeypatch.setenv("TT_TORCH_CONSTEVAL", "0")
    monkeypatch.setenv("TT_TORCH_CONSTEVAL_PARAMETERS", "false")
    monkeypatch.setenv("TT_TORCH_VERIFY_INTERMEDIATES", "1")
    monkeypatch.setenv("TT_TORCH_IR_LOG_LEVEL", "INFO")
    monkeypatch.setenv("TT_TORCH_VERIFY_OP_BY_OP", "1")
    cfg = CompilerConfig()
    assert cfg.compile_depth == CompileDepth.STABLEHLO and not cfg.enable_consteval
    assert not cfg.consteval_parameters and cfg.enable_intermediate_verification and cfg.dump_debug
    assert CompilerConfig(compile_depth=CompileDepth.EXECUTE).compile_depth == CompileDepth.EXECUTE  # explicit wins


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TT_TORCH_COMPILE_DEPTH", "EXECUTE_CPP", r"TT_TORCH_COMPILE_DEPTH='EXECUTE_CPP' is not valid; allowed"),
        ("TT_TORCH_CONSTEVAL", "maybe", r"TT_TORCH_CONSTEVAL='maybe' is not a flag"),
        ("TT_TORCH_IR_LOG_LEVEL", "DEBUG", r"DEBUG \(IR around every pass\) is not supported"),
        ("TT_TORCH_INLINE_PARAMETERS", "1", r"TT_TORCH_INLINE_PARAMETERS=1 is not supported"),
        ("TT_TORCH_VERIFY_OP_BY_OP", "0", r"TT_TORCH_VERIFY_OP_BY_OP=0 is not supported"),
    ],
)
def test_values_that_cannot_be_honoured_are_refused(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        CompilerConfig()


def test_unknown_variables_are_named_once(monkeypatch, caplog):
    monkeypatch.setenv("TT_TORCH_EMBEDDEDD_CONSTANTS", "1")
    with caplog.at_level(logging.WARNING, logger="tt_torch"):
        CompilerConfig()
        CompilerConfig()
    lines = [r.getMessage() for r in caplog.records if "TT_TORCH_EMBEDDEDD_CONSTANTS" in r.getMessage()]
    assert len(lines) == 1 and "are ignored; tt-torch reads: " in lines[0] and "TT_TORCH_COMPILE_DEPTH" in lines[0]


def test_every_variable_is_in_the_help():
    text = env.describe()
    assert all(v.name in text for v in env.ALL)
