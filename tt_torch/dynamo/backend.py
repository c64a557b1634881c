"""The ``torch.compile`` backend: ``torch.compile(model, backend="tt", options=BackendOptions())``."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch.fx as fx

from tt_torch.errors import ConfigError
from tt_torch.tools.utils import CompilerConfig

from .artifacts import CompileArtifacts
from .executor import Executor


@dataclass
class BackendOptions:
    """Options of the ``tt`` backend.

    ``compiler_config`` says how to compile; ``artifacts``, when given,
    receives each compiled graph's IR, flatbuffer and report.
    """

    compiler_config: CompilerConfig = field(default_factory=CompilerConfig)
    artifacts: CompileArtifacts | None = None


def backend(gm: fx.GraphModule, example_inputs: list, options: BackendOptions | dict | None = None) -> Executor:
    """Compiles one dynamo graph. The returned callable compiles again for each new input signature."""
    options = _coerce_options(options)
    name = options.compiler_config.model_name or "graph"
    index = len(options.artifacts.graphs) if options.artifacts is not None else 0
    return Executor(gm, options.compiler_config, options.artifacts, name=f"{name}{index}")


def _coerce_options(options) -> BackendOptions:
    if options is None:
        return BackendOptions()
    if isinstance(options, BackendOptions):
        return options
    if isinstance(options, dict):
        unknown = set(options) - {"compiler_config", "artifacts"}
        if unknown:
            raise ConfigError(f"unknown backend option(s) {sorted(unknown)}; allowed: compiler_config, artifacts")
        return BackendOptions(**options)
    raise ConfigError(f"options must be a BackendOptions or a dict, got {type(options).__name__}")


def register() -> None:
    """Makes ``backend="tt"`` work without the package's entry point being installed."""
    from torch._dynamo.backends.registry import _BACKENDS, register_backend

    if "tt" not in _BACKENDS:
        register_backend(name="tt")(backend)


register()
