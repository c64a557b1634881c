"""The on-disk compile cache: StableHLO + options -> the compile result, across processes.

The key is the SHA-256 of the StableHLO text (with locations and argument
tags), the compile options, the flatbuffer schema hash and a fingerprint of
the compiler's own source, so a changed compiler never reads a stale entry.

An entry is ``<key>.json`` (its key, a content hash and the payload: TTIR, TTNN
and report texts) plus ``<key>.ttnn`` (the flatbuffer). The content hash covers
the key, the payload and the flatbuffer, so a truncated or bit-flipped file, a
file with the wrong types, or another graph's entry copied under this key is a
miss: it is logged once with its path and replaced by the recompiled result.
Entries are written atomically (temporary file + rename), so concurrent writers
of the same key leave one whole entry. A cache directory that cannot be created
or written is reported once and the cache is off for the rest of the process.

The cache holds at most ``$TT_TORCH_CACHE_SIZE`` bytes (default 2 GB): after each
write, the least recently used entries (by the time of their last hit or write)
are removed until it fits. ``tt-torch cache info`` and ``tt-torch cache clear``
show and empty it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import logging
import os
import re
import stat
import tempfile
import threading
import time
from pathlib import Path

from torch_mlir import ir

from tt_torch import env
from tt_torch.errors import ConfigError

from ._generated_import import schema_info
from .options import CompileResult

log = logging.getLogger("tt_torch.compiler.cache")

# The modules outside tt_torch/compiler whose code changes what the compiler makes
# (tests/test_layout.py checks that the compiler imports no other tt-torch module).
OUTSIDE_SOURCES = ("composite.py", "errors.py", "formats.py", "tables.py")

FORMAT = 2  # of the .json entry; another format is a miss
# A flatbuffer cannot exceed 2 GiB (32-bit offsets); a larger or non-regular file is not an entry.
MAX_ENTRY_BYTES = 2**31

DEFAULT_SIZE_LIMIT = 2 * 10**9  # bytes
_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}

_lock = threading.Lock()
_reported: set[str] = set()  # paths (or directories) already logged: one message each per process
_unusable: set[str] = set()  # cache directories found unwritable: off for the rest of the process


def _warn_once(path: Path | str, message: str) -> None:
    with _lock:
        if str(path) in _reported:
            return
        _reported.add(str(path))
    log.warning(message)


def size_limit() -> int:
    """$TT_TORCH_CACHE_SIZE in bytes (``2GB``, ``500MB``, ``1GiB``, a number of bytes)."""
    text = env.CACHE_SIZE.get().strip()
    if not text:
        return DEFAULT_SIZE_LIMIT
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)", text)
    unit = m.group(2).upper() if m else None
    if m is None or unit not in _UNITS:
        raise ConfigError(
            f"{env.CACHE_SIZE.name}={text!r} is not a size: write a number of bytes or e.g. 500MB, 2GB, 1GiB "
            f"(default {DEFAULT_SIZE_LIMIT // 10**9}GB)"
        )
    return int(float(m.group(1)) * _UNITS[unit])


@functools.cache
def compiler_fingerprint() -> str:
    h = hashlib.sha256()
    root = Path(__file__).resolve().parent
    paths = sorted(root.rglob("*.py")) + [root.parent / name for name in OUTSIDE_SOURCES]
    for path in paths:
        h.update(str(path.relative_to(root.parent)).encode() + b"\0" + path.read_bytes())
    h.update(schema_info.SCHEMA_HASH.encode())
    return h.hexdigest()


def content_hash(key: str, payload: str, flatbuffer: bytes | None) -> str:
    """SHA-256 over what an entry holds: its key, its payload text and its flatbuffer."""
    h = hashlib.sha256()
    for part in (key.encode(), payload.encode(), b"-" if flatbuffer is None else b"+" + flatbuffer):
        h.update(len(part).to_bytes(8, "little") + part)
    return h.hexdigest()


class BadEntry(Exception):
    """An entry that cannot be used; the message says why."""


def _read_regular(path: Path) -> bytes:
    """The bytes of `path`, a regular file of at most MAX_ENTRY_BYTES (never blocks on a FIFO)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BadEntry(f"{path.name} is not a regular file")
        if st.st_size > MAX_ENTRY_BYTES:
            raise BadEntry(f"{path.name} has {st.st_size} bytes, more than a flatbuffer can have")
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(MAX_ENTRY_BYTES + 1)
    finally:
        os.close(fd)


class CompileCache:
    def __init__(self, directory: Path):
        self.directory = directory

    @classmethod
    def open(cls, directory: str | None) -> CompileCache | None:
        """The cache at ``directory`` (or $TT_TORCH_CACHE_DIR, or ~/.cache/tt_torch); None when it
        is off, or when the directory cannot be created or written (logged once)."""
        where = directory if directory is not None else env.CACHE_DIR.get()
        if where.strip().lower() in ("off", "0", "false", "none"):
            return None
        path = Path(where).expanduser() if where else Path.home() / ".cache" / "tt_torch"
        if str(path) in _unusable:
            return None
        try:
            path.mkdir(parents=True, exist_ok=True)
            if not os.access(path, os.W_OK | os.X_OK):
                raise PermissionError(f"no write permission on {path}")
        except OSError as e:
            cls._turn_off(path, e)
            return None
        return cls(path)

    @staticmethod
    def _turn_off(path: Path, error: OSError) -> None:
        """An unusable cache directory must not stop a compile: say so once, then stay off."""
        with _lock:
            _unusable.add(str(path))
        _warn_once(
            path,
            f"compile cache {path} is not a writable directory ({error}); the compile cache is off for this "
            f"process. Set {env.CACHE_DIR.name} to a writable directory, or to 'off' to silence this.",
        )

    def key(self, module: ir.Module, options) -> str:
        h = hashlib.sha256()
        h.update(module.operation.get_asm(enable_debug_info=True).encode())
        fields = {k: v for k, v in dataclasses.asdict(options).items() if k != "cache_dir"}
        h.update(json.dumps(fields, sort_keys=True, default=str).encode())
        h.update(compiler_fingerprint().encode())
        return h.hexdigest()

    def load(self, key: str) -> CompileResult | None:
        """The entry of `key`; None for a miss (absent, or bad: logged once with its path)."""
        meta_path = self.directory / f"{key}.json"
        if not meta_path.exists() and not meta_path.is_symlink():
            return None
        try:
            result = self._load(key, meta_path)
            with contextlib.suppress(OSError):
                os.utime(meta_path)  # its last use, for the size bound's LRU order
            return result
        except (BadEntry, OSError, ValueError) as e:
            _warn_once(
                meta_path,
                f"compile cache entry {meta_path} is unusable ({e}); it is ignored and replaced by this compile",
            )
            return None

    def _load(self, key: str, meta_path: Path) -> CompileResult:
        meta = json.loads(_read_regular(meta_path))
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise BadEntry(f"not a format-{FORMAT} entry")
        if meta.get("key") != key:
            raise BadEntry(f"it belongs to key {str(meta.get('key'))[:16]}..., not to {key[:16]}...")
        payload, has_fb, digest = meta.get("payload"), meta.get("has_flatbuffer"), meta.get("sha256")
        if not isinstance(payload, str) or not isinstance(has_fb, bool) or not isinstance(digest, str):
            raise BadEntry("its fields have the wrong types")
        flatbuffer = _read_regular(self.directory / f"{key}.ttnn") if has_fb else None
        if content_hash(key, payload, flatbuffer) != digest:
            raise BadEntry("its content hash does not match (truncated or modified)")
        fields = json.loads(payload)
        if not (
            isinstance(fields, dict)
            and isinstance(fields.get("ttir"), str)
            and isinstance(fields.get("ttnn"), str)
            and isinstance(fields.get("report"), dict)
        ):
            raise BadEntry("its payload has the wrong types")
        return CompileResult(fields["ttir"], fields["ttnn"], flatbuffer, fields["report"], {})

    def save(self, key: str, result: CompileResult) -> None:
        payload = json.dumps({"ttir": result.ttir, "ttnn": result.ttnn, "report": result.report}, default=str)
        meta = {
            "format": FORMAT,
            "key": key,
            "has_flatbuffer": result.flatbuffer is not None,
            "sha256": content_hash(key, payload, result.flatbuffer),
            "payload": payload,
        }
        try:
            if result.flatbuffer is not None:
                self._write(self.directory / f"{key}.ttnn", result.flatbuffer)
            self._write(self.directory / f"{key}.json", json.dumps(meta).encode())
        except OSError as e:
            self._turn_off(self.directory, e)
            return
        with _lock:  # replaced: a later defect of this entry is news again
            _reported.discard(str(self.directory / f"{key}.json"))
        self.prune(size_limit())

    def entries(self) -> list[tuple[str, int, float]]:
        """(key, bytes, time of last use) of each entry, least recently used first."""
        found: dict[str, list] = {}
        for path in self.directory.iterdir():
            if path.name.startswith(".tmp-") or path.suffix not in (".json", ".ttnn"):
                continue
            with contextlib.suppress(OSError):  # removed meanwhile by another process
                st = path.stat()
                entry = found.setdefault(path.stem, [path.stem, 0, 0.0])
                entry[1] += st.st_size
                if path.suffix == ".json":
                    entry[2] = st.st_mtime
        return sorted((tuple(e) for e in found.values()), key=lambda e: e[2])

    def _remove(self, key: str) -> None:
        for suffix in (".json", ".ttnn"):  # the .json first: a reader then finds no entry, not half of one
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.directory / f"{key}{suffix}")

    def prune(self, limit: int) -> int:
        """Removes the least recently used entries until the cache holds at most `limit` bytes."""
        entries = self.entries()
        total, removed = sum(e[1] for e in entries), 0
        for key, size, _ in entries:
            if total <= limit:
                break
            self._remove(key)
            total -= size
            removed += 1
        if removed:
            log.info(
                "compile cache %s: %d least recently used entries removed (limit %d bytes)",
                self.directory,
                removed,
                limit,
            )
        return removed

    def clear(self) -> int:
        """Removes every entry (and leftover temporary files); returns how many entries."""
        entries = self.entries()
        for key, _, _ in entries:
            self._remove(key)
        for path in self.directory.glob(".tmp-*"):
            with contextlib.suppress(OSError):
                if time.time() - path.stat().st_mtime > 60:  # not a write in flight
                    path.unlink()
        return len(entries)

    def info(self) -> dict:
        entries = self.entries()
        return {
            "directory": str(self.directory),
            "entries": len(entries),
            "bytes": sum(e[1] for e in entries),
            "limit_bytes": size_limit(),
            "oldest_use": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entries[0][2])) if entries else None,
            "newest_use": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entries[-1][2])) if entries else None,
        }

    def _write(self, path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            if path.is_dir() and not path.is_symlink():
                os.rmdir(path)  # a directory squatting on an entry's name (empty, or the rename fails)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
