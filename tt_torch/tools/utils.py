"""tt-torch's import path for its compiler options, enums and accuracy metrics.

Code written for tt-torch imports ``CompilerConfig`` and friends from here; they
live in :mod:`tt_torch.config` and :mod:`tt_torch.accuracy`.
"""

from tt_torch.accuracy import compute_atol as calculate_atol
from tt_torch.accuracy import compute_pcc as calculate_pcc
from tt_torch.config import CompileDepth, CompilerConfig, OpByOpBackend, OpCompilationStatus

__all__ = [
    "CompileDepth",
    "CompilerConfig",
    "OpByOpBackend",
    "OpCompilationStatus",
    "calculate_atol",
    "calculate_pcc",
]
