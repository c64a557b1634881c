"""``tt_torch.export``: compile a model with the ``tt`` backend and write its programs to one ``.ttnn``.

The file format and the writer are :mod:`tt_torch.exporter`'s; this is the
``torch.compile`` side of it.

An export is a function of the model and its example inputs alone. dynamo keeps
state on a model's code objects between ``torch.compile`` calls: the compiled
frames of an earlier call (with their backend's artifacts), and frames it chose to
run eagerly after a failed call (a later compile of the same model then splits it
into one graph per submodule). Before and after compiling, :func:`export` drops
that state for the code of the model's classes; another compiled instance of the
same classes compiles again on its next call.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from tt_torch import logs
from tt_torch.config import CompileDepth, CompilerConfig
from tt_torch.errors import ConfigError
from tt_torch.exporter import DEFAULT_EMBED_LIMIT, ExportError, ExportResult, export_artifacts

from .artifacts import CompileArtifacts
from .backend import BackendOptions

__all__ = ["export"]

_LOG = logging.getLogger(__name__)


def export(
    model: torch.nn.Module,
    example_inputs: Sequence[Any] | Mapping[str, Any] | torch.Tensor,
    path: str | os.PathLike,
    compiler_config=None,
    *,
    kwargs: Mapping[str, Any] | None = None,
    embed_limit: int = DEFAULT_EMBED_LIMIT,
    include_mlir: bool = True,
    golden: bool = True,
    consteval_programs: bool = False,
) -> ExportResult:
    """Compiles `model` for its example inputs and writes its programs to `path`.

    `example_inputs` is a tensor, a tuple of positional arguments, or a dict of
    keyword arguments (``{"input_ids": ids, "attention_mask": mask}``); `kwargs`
    adds keyword arguments to positional ones, as in ``torch.export.export``. The
    exported programs take the user inputs in the order of ``forward``'s signature.
    """
    config = compiler_config if compiler_config is not None else CompilerConfig()
    if config.compile_depth != CompileDepth.EXECUTE:
        raise ConfigError(
            f"export needs compile_depth=EXECUTE (a flatbuffer for every graph), got {config.compile_depth.name}"
        )
    args, keywords = _split_inputs(example_inputs, kwargs)
    artifacts = CompileArtifacts()
    options = BackendOptions(compiler_config=config, artifacts=artifacts)
    name = config.model_name or type(model).__name__
    t0 = time.perf_counter()
    with logs.progress(f"exporting {name}") as bar:
        _forget_compiled_code(model)
        try:
            compiled = torch.compile(model, backend="tt", options=options, dynamic=False)
            with torch.no_grad():
                outputs = compiled(*args, **keywords)
            bar.stage("writing")
            result = export_artifacts(
                artifacts,
                path,
                embed_limit=embed_limit,
                include_mlir=include_mlir,
                golden=golden,
                consteval_programs=consteval_programs,
                config=config,
            )
        finally:
            _forget_compiled_code(model)  # nor leave this call's graphs (and weights) behind
    _LOG.info(
        "exported %s to %s: %d program(s) (%s), %d bytes, %.2f s",
        name,
        result.path,
        len(result.programs),
        ", ".join(result.programs),
        result.size_bytes,
        time.perf_counter() - t0,
    )
    result.outputs = outputs
    return result


def _split_inputs(example_inputs: Any, kwargs: Mapping[str, Any] | None) -> tuple[tuple, dict[str, Any]]:
    """(positional, keyword) arguments of the model's example call."""
    if isinstance(example_inputs, torch.Tensor):
        args: tuple = (example_inputs,)
    elif isinstance(example_inputs, Mapping):
        args, kwargs = (), {**example_inputs, **(kwargs or {})}
    elif isinstance(example_inputs, Sequence) and not isinstance(example_inputs, (str, bytes)):
        args = tuple(example_inputs)
    else:
        raise ExportError(
            f"example_inputs must be a tensor, a tuple of positional inputs or a dict of keyword inputs, "
            f"got {type(example_inputs).__name__}"
        )
    keywords = dict(kwargs or {})
    for where, value in [(f"example_inputs[{i}]", a) for i, a in enumerate(args)] + list(keywords.items()):
        if isinstance(value, (str, bytes)):
            raise ExportError(
                f"{where} is a string ({value!r}): a model's example inputs are tensors (pass keyword inputs "
                "as a dict, {'input_ids': ids, ...}, or as kwargs=)"
            )
    return args, keywords


def _forget_compiled_code(model: Any) -> None:
    """Drops dynamo's compiled frames and run-eagerly marks of the model's code: the methods of
    its (sub)modules' classes and every frame dynamo saw in the files that define them (helper
    functions, graph-break continuations)."""
    from torch._dynamo import convert_frame, eval_frame  # lazy: private dynamo API, used here only

    reset_code = getattr(eval_frame, "reset_code", None)
    if reset_code is None:  # a PyTorch without per-code reset: the whole of dynamo's state
        torch._dynamo.reset()
        return
    codes, files = set(), set()
    modules = model.modules() if isinstance(model, torch.nn.Module) else [model]
    for module in modules:
        for cls in type(module).__mro__:
            if cls in (torch.nn.Module, object):
                continue
            for value in vars(cls).values():
                code = getattr(getattr(value, "__func__", value), "__code__", None)
                if code is not None:
                    codes.add(code)
                    files.add(code.co_filename)
    if not isinstance(model, torch.nn.Module) and hasattr(model, "__code__"):
        codes.add(model.__code__)
        files.add(model.__code__.co_filename)
    for ref in getattr(getattr(convert_frame, "input_codes", None), "seen", []):
        code = ref()
        if code is not None and code.co_filename in files:
            codes.add(code)
    for code in codes:
        reset_code(code)
