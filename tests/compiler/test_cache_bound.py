"""The compile cache's size bound (least recently used entries go first) and `tt-torch cache info|clear`."""

from __future__ import annotations

import os
import time

import pytest

from tt_torch.compiler.cache import CompileCache, size_limit
from tt_torch.compiler.options import CompileResult
from tt_torch.errors import ConfigError
from tt_torch.tools import cli


def _result(n: int) -> CompileResult:
    return CompileResult("ttir", "ttnn", bytes(n), {"k": 1})


def _age(cache: CompileCache, key: str, seconds_ago: float) -> None:
    t = time.time() - seconds_ago
    os.utime(cache.directory / f"{key}.json", (t, t))


def test_least_recently_used_entries_go_first(tmp_path, monkeypatch):
    cache = CompileCache(tmp_path)
    for k, key in enumerate("abc"):
        cache.save(key, _result(1000))
        _age(cache, key, 100 - k)  # a oldest, c newest
    entry = cache.entries()[0][1]  # bytes of one entry (its .json and .ttnn)
    limit = int(3.5 * entry)
    monkeypatch.setenv("TT_TORCH_CACHE_SIZE", str(limit))
    assert cache.load("a") is not None  # a hit makes a the most recently used
    cache.save("d", _result(1000))  # four entries do not fit: the least recently used, b, goes
    assert sorted(k for k, _, _ in cache.entries()) == ["a", "c", "d"]
    assert cache.info()["bytes"] <= limit and cache.info()["limit_bytes"] == limit


@pytest.mark.parametrize(("text", "expected"), [("", 2 * 10**9), ("500MB", 5 * 10**8), ("1GiB", 2**30), ("123", 123)])
def test_sizes(monkeypatch, text, expected):
    monkeypatch.setenv("TT_TORCH_CACHE_SIZE", text)
    assert size_limit() == expected


def test_a_bad_size_is_refused_with_the_allowed_forms(monkeypatch):
    monkeypatch.setenv("TT_TORCH_CACHE_SIZE", "lots")
    with pytest.raises(ConfigError, match=r"TT_TORCH_CACHE_SIZE='lots' is not a size.*500MB"):
        size_limit()


def test_cli_cache_info_and_clear(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TT_TORCH_CACHE_DIR", str(tmp_path))
    cache = CompileCache(tmp_path)
    cache.save("a", _result(100))
    cache.save("b", _result(100))
    assert cli.main(["cache", "info"]) == 0
    assert f"{tmp_path}: 2 entries" in capsys.readouterr().out
    assert cli.main(["cache", "clear"]) == 0
    assert "removed 2 entries" in capsys.readouterr().out
    assert cache.entries() == [] and not any(tmp_path.iterdir())
    monkeypatch.setenv("TT_TORCH_CACHE_DIR", "off")
    assert cli.main(["cache", "info"]) == 0 and "is off" in capsys.readouterr().out
