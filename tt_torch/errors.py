"""The exceptions tt-torch raises.

Every message says what failed, where (op, location, input) and what to do.
"""

from __future__ import annotations


class TTTorchError(Exception):
    """Base class of every error tt-torch raises on purpose."""


class ConfigError(TTTorchError, ValueError):
    """An option has a value tt-torch does not accept."""


class CompileError(TTTorchError):
    """The model could not be compiled."""


class LoweringError(CompileError):
    """An op has no lowering at some stage of the compiler.

    Carries the op's name, its IR text and its source location so the user can
    find the model line and reproduce the failure on the op alone.
    """

    def __init__(self, stage: str, op_name: str, op_text: str, location: str, reason: str = ""):
        self.stage = stage
        self.op_name = op_name
        self.op_text = op_text
        self.location = location
        self.reason = reason
        why = f": {reason}" if reason else ""
        super().__init__(
            f"{stage}: cannot lower '{op_name}'{why}\n"
            f"  at {location}\n"
            f"  op: {op_text.strip()}\n"
            "  The op is not supported by tt-torch yet. Run the model with "
            "CompilerConfig(compile_depth=CompileDepth.STABLEHLO) to inspect the IR, "
            "or rewrite the model line above with supported ops."
        )


class FrontendError(CompileError):
    """torch-mlir could not import or lower the FX graph to StableHLO."""


class BinaryError(TTTorchError, ValueError):
    """A .ttnn file is corrupt, truncated, from another schema, or not a tt-torch binary."""


class TTRuntimeError(TTTorchError, RuntimeError):
    """An op failed on the device; the message names the op and its location."""
