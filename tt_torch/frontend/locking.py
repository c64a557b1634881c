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

import threading

try:  # dynamo's lock around the compilation of a frame (a threading.RLock)
    from torch._dynamo.convert_frame import compile_lock as COMPILE_LOCK
except ImportError:  # pragma: no cover - another torch: a lock of our own
    COMPILE_LOCK = threading.RLock()
