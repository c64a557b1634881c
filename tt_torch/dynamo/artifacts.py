"""What a compile produced, kept apart from the options that asked for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tt_torch.exporter import ExportResult, export_artifacts


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
    # For export (EXECUTE depth): the post-pass FX graph and the inputs of the program's
    # last call (weights and consteval results included), kept only with artifacts.
    fx_module: Any = None
    program_inputs: list[Any] | None = None
    # (consteval FX graph, its argument names, the parameter tensors it reads), when the
    # graph has a consteval subgraph: export compiles it as a private const-eval program.
    consteval: tuple | None = None
    # With CompilerConfig.enable_intermediate_verification: the last call's per-op table
    # (tt_torch.intermediate.VerificationTable); print() it.
    intermediate_verification: Any = None

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

    def export(self, path: str, **options: Any) -> ExportResult:
        """Writes every graph compiled so far to one ``.ttnn`` (see tt_torch.export_artifacts)."""
        return export_artifacts(self, path, **options)

    @property
    def last(self) -> GraphArtifacts:
        if not self.graphs:
            raise LookupError("nothing has been compiled yet: call the compiled model first")
        return self.graphs[-1]
