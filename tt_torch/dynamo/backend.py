"""The ``torch.compile`` backend: ``torch.compile(model, backend="tt", options=BackendOptions())``."""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field, fields

import torch
import torch.fx as fx
from torch._dynamo import register_backend

from tt_torch.config import CompilerConfig
from tt_torch.errors import ConfigError
from tt_torch.frontend import (
    locking,  # noqa: F401 - installs the thread-aware FX trace check before torch.compile wraps a model
    passes,
)
from tt_torch.frontend.decompositions import TORCH_FUNCTIONS
from tt_torch.runtime.mesh import runtime_device

from .artifacts import CompileArtifacts
from .asynchronous import AsyncExecutor
from .data_parallel import DataParallelExecutor
from .executor import Executor
from .pipeline import PipelineExecutor


@dataclass
class BackendOptions:
    """Options of the ``tt`` backend (tt-torch's fields, plus ``artifacts``).

    ``compiler_config`` says how to compile. ``devices``: devices to run on
    (from ``DeviceManager``); with ``compiler_config.device_map`` each mapped module
    runs on the device of its index (pipeline parallel, :mod:`.pipeline`), otherwise
    the first one runs the program; by default each compiled graph opens its own
    device of ``compiler_config.target``.
    ``async_mode``: as in tt-torch, a call returns before the device has run the
    program; the outputs are :class:`~tt_torch.runtime.PendingTensor` objects, read
    with ``tt_torch.runtime.to_host(outputs)`` (tt-torch's ``tt_mlir.to_host``), which
    waits for them (:mod:`.asynchronous`).
    ``artifacts``, when given, receives each compiled graph's IR, flatbuffer
    and report. ``data_parallel`` (not in tt-torch): one call splits dim 0 of the
    inputs across ``devices``, each device runs its shard at once, the outputs are
    concatenated (:mod:`.data_parallel`).
    """

    compiler_config: CompilerConfig = field(default_factory=CompilerConfig)
    devices: list | None = None
    async_mode: bool = False
    artifacts: CompileArtifacts | None = None
    data_parallel: bool = False


def backend(
    gm: fx.GraphModule, example_inputs: list, options: BackendOptions | dict | None = None
) -> Executor | PipelineExecutor | AsyncExecutor:
    """Compiles one dynamo graph. The returned callable compiles again for each new input signature.

    Threads that call a fresh model at once each get a dynamo graph of the same frame:
    they share one ``Executor`` (same options, same graph code), so the graph compiles once.
    """
    key = _graph_key(gm, options)
    with _SHARED_LOCK:
        shared = _SHARED.get(key)
        executor = shared[1]() if shared is not None and shared[0] is options else None
        if executor is None:
            executor = _new_executor(gm, options)
            # the options are kept while the executor lives, so that their id is not reused
            _SHARED[key] = (options, weakref.ref(executor, lambda _, key=key: _SHARED.pop(key, None)))
    return executor


# (id of the options, graph code, constants) -> (the options, the executor's weak reference)
_SHARED: dict[tuple, tuple] = {}
_SHARED_LOCK = threading.Lock()


def _graph_key(gm: fx.GraphModule, options) -> tuple:
    """Equal for two dynamo graphs of one frame compiled with one options object: same code,
    same constant tensors (by identity). Parameters and buffers are graph inputs."""
    consts = tuple((n.target, id(getattr(gm, n.target, None))) for n in gm.graph.nodes if n.op == "get_attr")
    return (id(options), gm.code, consts)


def _new_executor(gm: fx.GraphModule, options) -> Executor | PipelineExecutor | AsyncExecutor:
    options = _coerce_options(options)
    model_name = options.compiler_config.model_name
    name = f"{model_name}_graph" if model_name else "graph"  # resnet50_graph0_0: the graph index apart
    index = len(options.artifacts.graphs) if options.artifacts is not None else 0
    gm = passes.rewrite_torch_functions(gm, TORCH_FUNCTIONS)
    gm = passes.fold_batch_norm_into_conv(gm)
    devices = list(options.devices or [])
    if options.compiler_config.device_map and options.data_parallel:
        raise ConfigError(
            "BackendOptions(data_parallel=True) and CompilerConfig.device_map both spread the model over the "
            "devices: choose one (the batch split, or the pipeline stages)"
        )
    if options.compiler_config.device_map:
        executor = PipelineExecutor(gm, options.compiler_config, devices, options.artifacts, f"{name}{index}")
    elif options.data_parallel and len(devices) > 1:
        executor = DataParallelExecutor(gm, options.compiler_config, devices, options.artifacts, f"{name}{index}")
    else:
        device = runtime_device(options.devices[0]) if options.devices else None
        executor = Executor(gm, options.compiler_config, options.artifacts, name=f"{name}{index}", device=device)
    return AsyncExecutor(executor) if options.async_mode else executor


def _coerce_options(options) -> BackendOptions:
    if options is None:
        return BackendOptions()
    if isinstance(options, BackendOptions):
        return options
    if isinstance(options, dict):
        allowed = {f.name for f in fields(BackendOptions)}
        unknown = set(options) - allowed
        if unknown:
            raise ConfigError(f"unknown backend option(s) {sorted(unknown)}; allowed: {', '.join(sorted(allowed))}")
        return BackendOptions(**options)
    raise ConfigError(f"options must be a BackendOptions or a dict, got {type(options).__name__}")


NAMES = ("tt", "tt-legacy")  # "tt-legacy": the name tt-torch's users may have used


def register() -> None:
    """Makes ``backend="tt"`` work without the package's entry point being installed.

    With the entry point installed, dynamo already knows the names (and is importing this
    module to load them): registering them again would be a duplicate.
    """
    known = set(torch.compiler.list_backends(exclude_tags=()))
    for name in NAMES:
        if name not in known:
            register_backend(backend, name=name)


register()
