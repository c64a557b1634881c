"""TTIR and TTNN, registered MLIR dialects defined with ``torch_mlir.dialects.ext``."""
