"""tt-torch's logging: silent below WARNING by default, one INFO summary line per compiled
graph, the application's logging left as it was, progress lines only for long work."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import time

import pytest

from tt_torch import logs

SCRIPT = textwrap.dedent(
    """
    import logging, torch
    import tt_torch
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    compiled = torch.compile(model, backend="tt")
    compiled(torch.randn(4, 8))
    compiled(torch.randn(4, 8))  # no second compile, no second line
    print("root handlers", len(logging.getLogger().handlers))
    """
)


def _run(env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("TT_TORCH_LOG")}
    env.update(TT_TORCH_NUMERICS="fast", TT_TORCH_PROGRESS="0", **env_extra)
    return subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, check=False)


def test_default_is_silent_and_info_gives_one_summary_line():
    quiet = _run({})
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    assert quiet.stdout.splitlines() == ["root handlers 0"]  # nor did a dependency configure the root logger
    info = _run({"TT_TORCH_LOG_LEVEL": "INFO"})
    assert info.returncode == 0, info.stderr
    lines = [line for line in info.stderr.splitlines() if line.startswith("tt-torch INFO: graph ")]
    assert len(lines) == 1, info.stderr
    assert "aten ops -> " in lines[0] and "TTNN ops" in lines[0] and "compile cache" in lines[0]


def test_torch_logs_names_tt_torch():
    assert logs._from_torch_logs("dynamo,+tt_torch") == "DEBUG"
    assert logs._from_torch_logs(" tt_torch ") == "INFO" and logs._from_torch_logs("-tt_torch") == "ERROR"
    assert logs._from_torch_logs("+dynamo,tt_torch_x") == ""


def test_records_go_to_the_applications_handlers(caplog):
    with caplog.at_level(logging.INFO, logger="tt_torch"):
        logging.getLogger("tt_torch.some_module").info("hello %d", 1)
    assert [r.getMessage() for r in caplog.records] == ["hello 1"]


def test_set_level_and_bad_names():
    before = logs.LOGGER.level
    try:
        logs.set_level("debug")
        assert logs.LOGGER.level == logging.DEBUG
    finally:
        logs.LOGGER.setLevel(before)
    with pytest.raises(ValueError, match="allowed: DEBUG, INFO"):
        logs.set_level("chatty")


def test_progress_appears_only_after_the_delay(monkeypatch, capsys):
    monkeypatch.setenv("TT_TORCH_PROGRESS", "1")
    monkeypatch.setattr(logs, "PROGRESS_DELAY", 0.3)
    with logs.progress("short work"):
        pass
    assert "short work" not in capsys.readouterr().err
    with logs.progress("long work") as bar:
        with logs.progress("inner step"):  # nested: names the outer bar's stage, no second bar
            time.sleep(0.9)
        bar.stage("last")
    err = capsys.readouterr().err
    assert "long work" in err and "inner step" in err
    assert err.count("long work") >= 1 and "inner step:" not in err.split("long work")[0]


def test_progress_is_off_when_disabled(monkeypatch, capsys):
    monkeypatch.setenv("TT_TORCH_PROGRESS", "0")
    monkeypatch.setattr(logs, "PROGRESS_DELAY", 0.0)
    with logs.progress("no bar"):
        time.sleep(0.2)
    assert "no bar" not in capsys.readouterr().err
