"""tt-torch's torch.compile frontend."""

from .artifacts import CompileArtifacts, GraphArtifacts
from .backend import BackendOptions, backend

__all__ = ["BackendOptions", "CompileArtifacts", "GraphArtifacts", "backend"]
