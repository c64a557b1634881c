"""``BackendOptions(async_mode=True)``: a call returns before its device has run the program.

As in tt-torch, the compiled model hands back the outputs at once, as
:class:`~tt_torch.runtime.PendingTensor` objects, and the program runs on the
device's queue (a host thread per compiled graph: one call after another, in the
order they were made, like a device's command queue). Reading an output waits for it
(``tt_torch.runtime.to_host(outputs)``, as tt-torch's ``tt_mlir.to_host``). A user
can so start N models on N devices from one thread and read the results afterwards:
the devices run concurrently.

The user inputs are copied when the call is made, so writing to them afterwards does
not change the run; weights are read when the program runs.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
from torch.utils import _pytree as pytree

from tt_torch.runtime import PendingTensor

from .executor import Executor


class AsyncExecutor:
    """Runs an :class:`Executor` on a queue of its own and returns pending outputs."""

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self._queue: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._users = [k for k, info in enumerate(executor.inputs) if info.kind == "input"]

    def _submit(self, fn, *args):
        with self._lock:
            if self._queue is None:
                self._queue = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"tt-{self.executor.name}")
            return self._queue.submit(fn, *args)

    def __call__(self, *args: Any) -> Any:
        args = tuple(
            a.detach().clone() if k in self._users and isinstance(a, torch.Tensor) else a for k, a in enumerate(args)
        )
        future = self._submit(self._run, args, torch.is_grad_enabled())
        spec = self.executor.out_spec
        return pytree.tree_unflatten([PendingTensor(future, k) for k in range(spec.num_leaves)], spec)

    def _run(self, args: tuple, grad: bool) -> list[torch.Tensor]:
        with torch.set_grad_enabled(grad):  # the caller's grad mode (it is per thread)
            return pytree.tree_flatten(self.executor(*args))[0]

    def __del__(self) -> None:
        if self._queue is not None:
            self._queue.shutdown(wait=False)
