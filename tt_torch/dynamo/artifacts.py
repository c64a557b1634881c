"""What a compile produced, kept apart from the options that asked for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class GraphArtifacts:
    """One compiled graph at one input signature.

    Each IR field holds the text of that stage, or None when the compile
    stopped before it (see ``CompilerConfig.compile_depth``).
    """

    name: str
    input_signature: tuple
    fx_graph: str | None = None
    stablehlo: str | None = None
    ttir: str | None = None
    ttnn: str | None = None
    flatbuffer: bytes | None = None
    report: dict[str, Any] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def save_flatbuffer(self, path: str) -> None:
        if self.flatbuffer is None:
            raise ValueError(
                f"graph {self.name} has no flatbuffer: it was compiled with a compile_depth that stops before TTNN"
            )
        with open(path, "wb") as f:
            f.write(self.flatbuffer)


@dataclass
class CompileArtifacts:
    """Collects the artifacts of every graph compiled with the options holding it.

    >>> artifacts = CompileArtifacts()
    >>> torch.compile(model, backend="tt", options=BackendOptions(artifacts=artifacts))
    """

    graphs: list[GraphArtifacts] = field(default_factory=list)

    @property
    def last(self) -> GraphArtifacts:
        if not self.graphs:
            raise LookupError("nothing has been compiled yet: call the compiled model first")
        return self.graphs[-1]
