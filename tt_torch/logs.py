"""tt-torch's logging and progress bars, configured here and nowhere else.

Every module logs to a child of the ``tt_torch`` logger (``logging.getLogger(__name__)``).
Its level comes from ``$TT_TORCH_LOG_LEVEL`` (default WARNING), from ``TORCH_LOGS`` as
PyTorch's own components take it (``TORCH_LOGS=tt_torch``: INFO, ``+tt_torch``: DEBUG,
``-tt_torch``: ERROR), or from Python::

    tt_torch.logs.set_level("INFO")          # or logging.getLogger("tt_torch").setLevel(...)

At INFO each compiled graph logs one summary line (ops, fused patterns, ops on the CPU,
seconds, compile cache) and each export one line. Where the application configured
logging (the root logger has a handler), tt-torch's records go to its handlers only;
otherwise they are written to stderr as ``tt-torch LEVEL: message``.

Work that runs longer than ``PROGRESS_DELAY`` seconds (a first-call compile, an export)
shows a tqdm line with its elapsed time and stage on stderr when stderr is a terminal
(``$TT_TORCH_PROGRESS``: 1 always, 0 never).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator

from tt_torch import env

LOGGER = logging.getLogger("tt_torch")
PROGRESS_DELAY = 2.0  # seconds of work before a progress line appears
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class _StderrUnlessConfigured(logging.StreamHandler):
    """stderr, for a process whose root logger has no handler (the application set up no logging)."""

    def emit(self, record: logging.LogRecord) -> None:
        if logging.getLogger().handlers:
            return  # the record propagates to the application's handlers
        super().emit(record)


def _level_of(text: str, where: str) -> int:
    name = text.strip().upper()
    if name.isdigit():
        return int(name)
    if name not in _LEVELS:
        raise ValueError(f"{where}={text!r} is not a log level; allowed: {', '.join(_LEVELS)} (default WARNING)")
    return getattr(logging, name)


def set_level(level: int | str) -> None:
    """The level of every tt-torch logger (``"INFO"``, ``logging.DEBUG``, ...)."""
    LOGGER.setLevel(_level_of(level, "level") if isinstance(level, str) else level)


def _configure() -> None:
    if any(isinstance(h, _StderrUnlessConfigured) for h in LOGGER.handlers):
        return
    handler = _StderrUnlessConfigured(sys.stderr)
    handler.setFormatter(logging.Formatter("tt-torch %(levelname)s: %(message)s"))
    LOGGER.addHandler(handler)
    text = env.LOG_LEVEL.get() or _from_torch_logs(os.environ.get("TORCH_LOGS", ""))
    if text:
        try:
            LOGGER.setLevel(_level_of(text, env.LOG_LEVEL.name))
        except ValueError as e:
            LOGGER.warning("%s; using WARNING", e)
            LOGGER.setLevel(logging.WARNING)
    elif LOGGER.level == logging.NOTSET:
        LOGGER.setLevel(logging.WARNING)


def _from_torch_logs(setting: str) -> str:
    """The level ``TORCH_LOGS`` gives tt_torch, "" when it does not name it."""
    for token in setting.split(","):
        m = re.fullmatch(r"\s*([+-]?)tt_torch\s*", token)
        if m:
            return {"+": "DEBUG", "-": "ERROR", "": "INFO"}[m.group(1)]
    return ""


_configure()


# --- progress ---------------------------------------------------------------------------------


def _progress_enabled() -> bool:
    setting = env.PROGRESS.get().strip().lower()
    if setting in {"0", "false", "no", "off"}:
        return False
    if setting in {"1", "true", "yes", "on"}:
        return True
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


class Progress:
    """A tqdm line (elapsed time and stage) for work that outlasts ``PROGRESS_DELAY``; nothing for
    shorter work. A progress started inside another one on the same thread only names its stage."""

    def __init__(self, desc: str, parent: Progress | None = None):
        self.desc = desc
        self.parent = parent
        self._stage = ""
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def stage(self, text: str) -> None:
        if self.parent is not None:
            self.parent.stage(f"{self.desc}: {text}" if text else self.desc)
        else:
            self._stage = text

    def _run(self) -> None:
        if self._done.wait(PROGRESS_DELAY):
            return
        from tqdm import tqdm  # lazy: only long work draws a bar

        bar = tqdm(desc=self.desc, bar_format="{desc}: {elapsed} {postfix}", leave=False, file=sys.stderr)
        bar.start_t -= PROGRESS_DELAY  # the elapsed time counts from the start of the work
        try:
            while not self._done.wait(0.5):
                bar.set_postfix_str(self._stage, refresh=True)
        finally:
            bar.close()

    def __enter__(self) -> Progress:
        if self.parent is None and _progress_enabled():
            self._thread = threading.Thread(target=self._run, name="tt-torch-progress", daemon=True)
            self._thread.start()
        elif self.parent is not None:
            self.parent.stage(self.desc)
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()


_ACTIVE = threading.local()


@contextlib.contextmanager
def progress(desc: str) -> Iterator[Progress]:
    """``with progress("compiling graph0") as p: ...; p.stage("ttnn")``."""
    parent = getattr(_ACTIVE, "current", None)
    bar = Progress(desc, parent)
    _ACTIVE.current = bar
    try:
        with bar:
            yield bar
    finally:
        _ACTIVE.current = parent


__all__ = ["LOGGER", "PROGRESS_DELAY", "Progress", "progress", "set_level"]
