"""The ONNX frontend: ``compile_onnx(model_proto_or_path, compiler_config=None)``, as tt-torch names it.

An ONNX model goes through torch-mlir's ONNX importer into the same StableHLO -> TTIR ->
TTNN -> flatbuffer compiler and runtime as torch models; see docs/onnx.md.
"""

from .onnx_compile import OnnxModel, OnnxOutputs, compile_onnx, random_inputs
from .reference import ReferenceError

__all__ = ["OnnxModel", "OnnxOutputs", "ReferenceError", "compile_onnx", "random_inputs"]
