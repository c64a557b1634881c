"""tt-torch: an ahead-of-time PyTorch 2 compiler for Tenstorrent devices.

The compiled program is a TTNN flatbuffer that tt-torch's runtime runs on an
emulated Tenstorrent chip. Start with ``torch.compile(model, backend="tt")``.
"""

__version__ = "0.1.0"

from tt_torch import logs as logs  # noqa: E402 - the "tt_torch" logger, configured once (level: $TT_TORCH_LOG_LEVEL)


def export(model, example_inputs, path, compiler_config=None, **options):
    """Compiles `model` and writes a self-contained ``.ttnn`` (see tt_torch.dynamo.export.export)."""
    from tt_torch.dynamo.export import export as _export  # lazy: `import tt_torch` loads no compiler

    return _export(model, example_inputs, path, compiler_config, **options)


def export_artifacts(artifacts, path, **options):
    """Writes the graphs of a ``torch.compile``d model (after its first call) to one ``.ttnn``."""
    from tt_torch.exporter import export_artifacts as _export_artifacts  # lazy: as above

    return _export_artifacts(artifacts, path, **options)


def __getattr__(name: str):
    """``tt_torch.runtime`` without importing it first (``import tt_torch; tt_torch.runtime.load(...)``)."""
    if name == "runtime":
        import tt_torch.runtime  # lazy: `import tt_torch` stays light; the runtime loads on first use

        return tt_torch.runtime
    raise AttributeError(f"module 'tt_torch' has no attribute {name!r}")
