"""The compiler (the tt-mlir role): StableHLO -> TTIR -> TTNN -> flatbuffer."""
