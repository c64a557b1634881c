"""The compile report: what the compiler did that the user should know about."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch_mlir import ir


@dataclass
class Report:
    """What the compiler did that the user should know about."""

    narrowings: dict[str, int] = field(default_factory=dict)
    # exact conversions to a wider device type (i8 and i16 held as si32)
    widenings: dict[str, int] = field(default_factory=dict)
    op_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    fused: dict[str, int] = field(default_factory=dict)
    # The device options' effects, the cost model's estimate and the memory plan.
    device: dict[str, Any] = field(default_factory=dict)

    def narrowed(self, src: ir.Type, dst: ir.Type, what: str) -> None:
        key = f"{src} -> {dst} ({what})"
        self.narrowings[key] = self.narrowings.get(key, 0) + 1

    def widened(self, src: ir.Type, dst: ir.Type, what: str) -> None:
        key = f"{src} -> {dst} ({what})"
        self.widenings[key] = self.widenings.get(key, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "narrowings": dict(self.narrowings),
            "widenings": dict(self.widenings),
            "op_counts": {k: dict(v) for k, v in self.op_counts.items()},
            "fused": dict(self.fused),
            "device": dict(self.device),
        }
