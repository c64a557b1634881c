"""The real tt-mlir (Tenstorrent's compiler, from the ``jax-tt-plugin`` wheel) as a reference compiler.

Optional: the plugin itself is only ever loaded in a worker process, so importing this
package is cheap, and everything here works, reporting status "unavailable", when the
plugin is not installed.

    from tt_torch.tt_mlir import compile_stablehlo
    result = compile_stablehlo(stablehlo_text, target="n150")
    result.status, result.error, result.ttnn, result.ttnn_ops()
"""

from .compile import TTMlirResult, compile_many, compile_stablehlo, fused_activations, prepare, ttnn_op_counts
from .plugin import PLUGIN_VERSION, SYSTEM_DESC_SCHEMA_HASH, TTMlirUnavailable, available, unavailable_reason

__all__ = [
    "PLUGIN_VERSION",
    "SYSTEM_DESC_SCHEMA_HASH",
    "TTMlirResult",
    "TTMlirUnavailable",
    "available",
    "compile_many",
    "compile_stablehlo",
    "fused_activations",
    "prepare",
    "ttnn_op_counts",
    "unavailable_reason",
]
