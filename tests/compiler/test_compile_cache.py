"""The on-disk compile cache: a second compile of the same graph, even in another process, is a load."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import torch

from tests.helpers import MLP, assert_matches, compile_tt
from tt_torch.compiler.cache import CompileCache


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


class _TanhMLP(MLP):
    """MLP's parameters and signature with another graph: its cache entry must never serve MLP."""

    def forward(self, x):
        return self.fc3(torch.tanh(self.fc2(torch.tanh(self.fc1(x)))))


def _entry(directory):
    (meta,) = directory.glob("*.json")
    return meta.with_suffix(""), meta, meta.with_suffix(".ttnn")


def _flip(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


def _copy_other_models_entry(other):
    def corrupt(stem, meta, fb):
        _, other_meta, other_fb = _entry(other)
        meta.write_bytes(other_meta.read_bytes())
        fb.write_bytes(other_fb.read_bytes())

    return corrupt


def test_a_bad_entry_is_a_miss_logged_once_with_its_path_and_replaced(tmp_path, monkeypatch, caplog):
    """Issue 18 item 5: truncated, bit-flipped, mistyped or another graph's entry -> miss, never used."""
    good, other = tmp_path / "good", tmp_path / "other"
    torch.manual_seed(0)
    model, x = MLP().eval(), torch.randn(4, 32)
    monkeypatch.setenv("TT_TORCH_CACHE_DIR", str(other))
    compile_tt(_TanhMLP().eval())[0](x)  # a different graph with the same inputs: its own entry
    monkeypatch.setenv("TT_TORCH_CACHE_DIR", str(good))
    torch._dynamo.reset()
    with torch.no_grad():
        compile_tt(model)[0](x)
    stem, meta, fb = _entry(good)
    pristine = meta.read_bytes(), fb.read_bytes()
    corruptions = {
        "truncated .ttnn": lambda s, m, f: f.write_bytes(f.read_bytes()[:100]),
        "bit-flipped .ttnn": lambda s, m, f: _flip(f),
        ".json with wrong types": lambda s, m, f: m.write_text('{"format": 2, "key": 7, "payload": []}'),
        ".json of the old format": lambda s, m, f: m.write_text('{"ttir": 1, "ttnn": 2, "report": 3}'),
        "another graph's entry": _copy_other_models_entry(other),
        ".ttnn is a directory": lambda s, m, f: (f.unlink(), f.mkdir()),
    }
    for name, corrupt in corruptions.items():
        meta.write_bytes(pristine[0]), fb.write_bytes(pristine[1])
        corrupt(stem, meta, fb)
        caplog.clear()
        for _ in range(2):  # the second compile reads the replaced entry: a hit, nothing logged
            torch._dynamo.reset()
            compiled, art = compile_tt(model)
            with caplog.at_level("WARNING", logger="tt_torch"), torch.no_grad():
                assert_matches(model(x), compiled(x))
        warnings = [r.getMessage() for r in caplog.records if r.name.startswith("tt_torch.compiler.cache")]
        assert art.last.report["compile_cache"] == "hit", name
        assert (meta.read_bytes(), fb.read_bytes()) == pristine, f"{name}: the entry was not replaced"
        assert len(warnings) == 1 and str(meta) in warnings[0], (name, warnings)


def test_a_cache_path_that_is_a_file_warns_once_and_turns_the_cache_off(tmp_path, monkeypatch, caplog):
    path = tmp_path / "a-file"
    path.write_text("not a directory")
    monkeypatch.setenv("TT_TORCH_CACHE_DIR", str(path / "cache"))
    model, x = MLP().eval(), torch.randn(2, 32)
    with caplog.at_level("WARNING", logger="tt_torch"), torch.no_grad():
        for _ in range(2):
            torch._dynamo.reset()
            compiled, art = compile_tt(model)
            assert_matches(model(x), compiled(x))
            assert art.last.report["compile_cache"] == "off"
    warnings = [r.getMessage() for r in caplog.records if r.name.startswith("tt_torch.compiler.cache")]
    assert len(warnings) == 1 and str(path / "cache") in warnings[0] and "off" in warnings[0], warnings


WRITER = """
import sys
from pathlib import Path
from tt_torch.compiler.cache import CompileCache
from tt_torch.compiler.options import CompileResult
store, tag = CompileCache(Path(sys.argv[1])), sys.argv[2]
result = CompileResult(f"ttir {tag}", f"ttnn {tag}", tag.encode() * 5000, {"tag": tag})
for _ in range(300):
    store.save("k" * 64, result)
"""


def test_concurrent_writers_of_one_key_never_give_a_mixed_entry(tmp_path):
    """Two writers with different results for one key (.ttnn of one, .json of the other in
    between): a reader sees one whole result or a miss, never a mix."""
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), tag]) for tag in ("A", "B")]
    store, seen = CompileCache(tmp_path), set()
    while any(w.poll() is None for w in writers):
        hit = store.load("k" * 64)
        if hit is not None:
            tag = hit.report["tag"]
            assert (hit.ttir, hit.ttnn, hit.flatbuffer) == (f"ttir {tag}", f"ttnn {tag}", tag.encode() * 5000)
            seen.add(tag)
    assert [w.wait() for w in writers] == [0, 0]
    assert store.load("k" * 64) is not None and seen
