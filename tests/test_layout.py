"""The package's layout: no import cycle, lazy imports explained, the documented picture current."""

from pathlib import Path

from tt_torch.compiler import cache
from tt_torch.tools import layout

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def test_no_cycle_and_every_lazy_import_says_why():
    assert layout.problems(layout.build()) == []


def test_docs_show_the_current_layout():
    """Regenerate with `python -m tt_torch.tools.layout --write docs/architecture.md`."""
    assert layout.in_doc(DOC) == layout.block(layout.build())


def test_the_compile_cache_key_covers_everything_the_compiler_imports():
    g = layout.build()
    outside = {
        target
        for module, targets in g.edges.items()
        if layout.room(module) == "compiler"
        for target in targets
        if layout.room(target) != "compiler"
    }
    covered = {"tt_torch." + name.removesuffix(".py") for name in cache.OUTSIDE_SOURCES}
    # the schema enters the key by its hash; env only says where the cache lives
    covered |= {m for m in g.modules if m.startswith("tt_torch._generated")} | {"tt_torch.env"}
    assert outside <= covered, f"add {sorted(outside - covered)} to compiler.cache.OUTSIDE_SOURCES"


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "tt_torch"
    root.mkdir()
    (root / "__init__.py").write_text("")
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def test_a_cycle_and_an_unexplained_lazy_import_are_found(tmp_path):
    root = _package(
        tmp_path,
        {
            "a.py": "from tt_torch import b\n",
            "b.py": "try:\n    from . import a\nexcept ImportError:\n    pass\n",
            "c.py": "def f():\n    from tt_torch import a\n\n\ndef g():\n    from tt_torch import b  # lazy: test\n",
        },
    )
    g = layout.build(root)
    found = layout.problems(g)
    assert "import cycle: tt_torch.a -> tt_torch.b" in found
    assert "room cycle: a -> b" in found
    lazy = [p for p in found if "lazy import" in p]
    assert len(lazy) == 1 and lazy[0].endswith("c.py:2: lazy import of tt_torch.a without a '# lazy: <why>' comment")


def test_layers_put_each_room_above_what_it_imports(tmp_path):
    root = _package(tmp_path, {"low.py": "", "mid.py": "from tt_torch import low\n", "top.py": "import tt_torch.mid\n"})
    assert layout.layers(layout.room_edges(layout.build(root))) == [["(tt_torch)", "low"], ["mid"], ["top"]]
