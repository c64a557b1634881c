"""The process-wide lock of compilation.

Tracing (``make_fx``, FX's symbolic tracer, which patches ``torch.nn.Module`` methods for
the whole process while it runs), torch-mlir's importer and MLIR dialect loading are not
thread-safe: two threads compiling at once failed with "CURRENT_PATCHER is None" and
crashed inside dialect registration, and dynamo, compiling a frame in another thread
meanwhile, built guards on the patched ``Module.__getattr__``. So every compile holds
:data:`COMPILE_LOCK`, which is dynamo's own frame-compilation lock: tracing a graph and
dynamo compiling a frame exclude each other. It is re-entrant: a compile that compiles a
part of its graph again (the CPU fallback's partitions) takes it again freely. Running
a compiled program does not take it.
"""

from __future__ import annotations

import contextlib
import threading

try:  # dynamo's lock around the compilation of a frame (a threading.RLock)
    from torch._dynamo.convert_frame import compile_lock as COMPILE_LOCK
except ImportError:  # pragma: no cover - another torch: a lock of our own
    COMPILE_LOCK = threading.RLock()


# FX's tracer marks "tracing" in one flag for the whole process (torch.fx._symbolic_trace's
# _is_fx_tracing_flag), and dynamo refuses to run any compiled function while it is set ("Detected
# that you are using FX to symbolically trace a dynamo-optimized function"). While one thread
# traces a graph for the device, another thread's call of an already compiled model (data
# parallel: one model per chip, first calls at once) failed so. The check dynamo makes is
# replaced by one that ignores the flag in the threads that are not the one tracing for
# tt-torch; a trace that is not ours (a user's symbolic_trace) keeps the flag's meaning for
# every thread. Compiled functions take the check when they are created, so this is installed
# when tt-torch's backend is imported (before torch.compile wraps the model).
_TRACING_THREAD: int | None = None


@contextlib.contextmanager
def tracing():
    """Marks the current thread as the one tracing a graph for tt-torch (under COMPILE_LOCK)."""
    global _TRACING_THREAD
    with COMPILE_LOCK:
        outer, _TRACING_THREAD = _TRACING_THREAD, threading.get_ident()
        try:
            yield
        finally:
            _TRACING_THREAD = outer


def _install_thread_aware_trace_check() -> None:
    from torch.fx import _symbolic_trace

    original = _symbolic_trace.is_fx_symbolic_tracing
    if getattr(original, "_tt_torch", False):
        return

    def is_fx_symbolic_tracing() -> bool:
        if not original():
            return False
        owner = _TRACING_THREAD
        return owner is None or owner == threading.get_ident()

    is_fx_symbolic_tracing._tt_torch = True
    _symbolic_trace.is_fx_symbolic_tracing = is_fx_symbolic_tracing


_install_thread_aware_trace_check()
