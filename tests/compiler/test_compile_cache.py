"""The on-disk compile cache: a second compile of the same graph, even in another process, is a load."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import torch

from tests.helpers import MLP, assert_matches, compile_tt


def test_second_compile_of_the_same_graph_loads_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TT_TORCH_CACHE_DIR", str(tmp_path))
    model = MLP().eval()
    x = torch.randn(4, 32)
    first, art1 = compile_tt(model)
    with torch.no_grad():
        assert_matches(model(x), first(x))
    torch._dynamo.reset()
    second, art2 = compile_tt(model)
    with torch.no_grad():
        assert_matches(model(x), second(x))
    assert art1.last.report["compile_cache"] == "miss"
    assert art2.last.report["compile_cache"] == "hit"
    assert art2.last.flatbuffer == art1.last.flatbuffer and art2.last.ttnn == art1.last.ttnn
    assert any(p.suffix == ".ttnn" for p in tmp_path.iterdir())


def test_another_input_shape_or_option_misses(tmp_path, monkeypatch):
    monkeypatch.setenv("TT_TORCH_CACHE_DIR", str(tmp_path))
    model = MLP().eval()
    compiled, artifacts = compile_tt(model)
    with torch.no_grad():
        compiled(torch.randn(4, 32))
        compiled(torch.randn(5, 32))
    assert [g.report["compile_cache"] for g in artifacts.graphs] == ["miss", "miss"]
    torch._dynamo.reset()
    other_target, art = compile_tt(model, target="p150")
    with torch.no_grad():
        other_target(torch.randn(4, 32))
    assert art.last.report["compile_cache"] == "miss"


def test_cache_off_and_a_corrupt_entry_are_not_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("TT_TORCH_CACHE_DIR", "off")
    model = MLP().eval()
    x = torch.randn(2, 32)
    compiled, art = compile_tt(model)
    with torch.no_grad():
        assert_matches(model(x), compiled(x))
    assert art.last.report["compile_cache"] == "off"

    monkeypatch.setenv("TT_TORCH_CACHE_DIR", str(tmp_path))
    torch._dynamo.reset()
    compiled, _ = compile_tt(model)
    with torch.no_grad():
        compiled(x)
    for entry in tmp_path.glob("*.json"):
        entry.write_text("{not json")
    torch._dynamo.reset()
    compiled, art = compile_tt(model)
    with torch.no_grad():
        assert_matches(model(x), compiled(x))
    assert art.last.report["compile_cache"] == "miss"


def test_a_new_process_hits_the_cache(tmp_path):
    root = str(__import__("pathlib").Path(__file__).resolve().parents[2])  # where `tests` is a package
    code = textwrap.dedent(
        """
        import torch
        from tests.helpers import MLP, compile_tt
        torch.manual_seed(0)
        model = MLP().eval()
        compiled, art = compile_tt(model)
        with torch.no_grad():
            compiled(torch.randn(3, 32))
        print(art.last.report["compile_cache"])
        """
    )
    env = {**__import__("os").environ, "TT_TORCH_CACHE_DIR": str(tmp_path)}
    runs = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300, cwd=root)
        for _ in range(2)
    ]
    for r in runs:
        assert r.returncode == 0, r.stderr[-2000:]
    assert [r.stdout.strip().splitlines()[-1] for r in runs] == ["miss", "hit"]
