"""The torch frontend: an FX graph -> a functional aten graph -> StableHLO.

``trace`` (decompositions, functionalization), ``passes`` (FX rewrites, consteval,
pruning) and ``importer`` (torch-mlir, with locations that name the FX node). The
``torch.compile`` backend (``tt_torch.dynamo``), export and op-by-op mode build on it.
"""
