"""``tt_torch.export``: compile a model with the ``tt`` backend and write its programs to one ``.ttnn``.

The file format and the writer are :mod:`tt_torch.exporter`'s; this is the
``torch.compile`` side of it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch

from tt_torch.config import CompileDepth, CompilerConfig
from tt_torch.errors import ConfigError
from tt_torch.exporter import DEFAULT_EMBED_LIMIT, ExportResult, export_artifacts

from .artifacts import CompileArtifacts
from .backend import BackendOptions

__all__ = ["export"]


def export(
    model: torch.nn.Module,
    example_inputs: Sequence[Any] | torch.Tensor,
    path: str | os.PathLike,
    compiler_config=None,
    *,
    embed_limit: int = DEFAULT_EMBED_LIMIT,
    include_mlir: bool = True,
    golden: bool = True,
    consteval_programs: bool = False,
) -> ExportResult:
    """Compiles `model` for `example_inputs` and writes its programs to `path`."""
    config = compiler_config if compiler_config is not None else CompilerConfig()
    if config.compile_depth != CompileDepth.EXECUTE:
        raise ConfigError(
            f"export needs compile_depth=EXECUTE (a flatbuffer for every graph), got {config.compile_depth.name}"
        )
    inputs = (example_inputs,) if isinstance(example_inputs, torch.Tensor) else tuple(example_inputs)
    artifacts = CompileArtifacts()
    options = BackendOptions(compiler_config=config, artifacts=artifacts)
    compiled = torch.compile(model, backend="tt", options=options, dynamic=False)
    with torch.no_grad():
        outputs = compiled(*inputs)
    result = export_artifacts(
        artifacts,
        path,
        embed_limit=embed_limit,
        include_mlir=include_mlir,
        golden=golden,
        consteval_programs=consteval_programs,
        config=config,
    )
    result.outputs = outputs
    return result
