"""tt-torch's torch.compile frontend.

The backend itself is ``tt_torch.dynamo.backend.backend`` (tt-torch's module
path); ``backend="tt"`` finds it through dynamo's registry.
"""

from .artifacts import CompileArtifacts, GraphArtifacts
from .backend import BackendOptions

__all__ = ["BackendOptions", "CompileArtifacts", "GraphArtifacts"]
