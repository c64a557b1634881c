"""The on-disk compile cache: StableHLO + options -> the compile result, across processes.

The key is the SHA-256 of the StableHLO text (with locations and argument
tags), the compile options, the flatbuffer schema hash and a fingerprint of
the compiler's own source, so a changed compiler never reads a stale entry.
Entries are written atomically; an unreadable entry is a miss.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path

from torch_mlir import ir

from tt_torch import env

from ._generated_import import schema_info
from .options import CompileResult

# The modules outside tt_torch/compiler whose code changes what the compiler makes
# (tests/test_layout.py checks that the compiler imports no other tt-torch module).
OUTSIDE_SOURCES = ("composite.py", "errors.py", "formats.py")


@functools.cache
def compiler_fingerprint() -> str:
    h = hashlib.sha256()
    root = Path(__file__).resolve().parent
    paths = sorted(root.rglob("*.py")) + [root.parent / name for name in OUTSIDE_SOURCES]
    for path in paths:
        h.update(str(path.relative_to(root.parent)).encode() + b"\0" + path.read_bytes())
    h.update(schema_info.SCHEMA_HASH.encode())
    return h.hexdigest()


class CompileCache:
    def __init__(self, directory: Path):
        self.directory = directory

    @classmethod
    def open(cls, directory: str | None) -> CompileCache | None:
        """The cache at ``directory`` (or $TT_TORCH_CACHE_DIR, or ~/.cache/tt_torch); None when it is off."""
        where = directory if directory is not None else env.CACHE_DIR.get()
        if where.strip().lower() in ("off", "0", "false", "none"):
            return None
        path = Path(where).expanduser() if where else Path.home() / ".cache" / "tt_torch"
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None  # an unwritable cache must not stop a compile
        return cls(path)

    def key(self, module: ir.Module, options) -> str:
        h = hashlib.sha256()
        h.update(module.operation.get_asm(enable_debug_info=True).encode())
        fields = {k: v for k, v in dataclasses.asdict(options).items() if k != "cache_dir"}
        h.update(json.dumps(fields, sort_keys=True, default=str).encode())
        h.update(compiler_fingerprint().encode())
        return h.hexdigest()

    def load(self, key: str):
        meta_path = self.directory / f"{key}.json"
        fb_path = self.directory / f"{key}.ttnn"
        try:
            meta = json.loads(meta_path.read_text())
            flatbuffer = fb_path.read_bytes() if meta["has_flatbuffer"] else None
        except (OSError, ValueError, KeyError):
            return None
        return CompileResult(meta["ttir"], meta["ttnn"], flatbuffer, meta["report"], {})

    def save(self, key: str, result) -> None:
        meta = {
            "ttir": result.ttir,
            "ttnn": result.ttnn,
            "report": result.report,
            "has_flatbuffer": result.flatbuffer is not None,
        }
        try:
            if result.flatbuffer is not None:
                self._write(self.directory / f"{key}.ttnn", result.flatbuffer)
            self._write(self.directory / f"{key}.json", json.dumps(meta).encode())
        except OSError:
            pass  # a full or read-only disk costs the next process a compile, nothing more

    def _write(self, path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
