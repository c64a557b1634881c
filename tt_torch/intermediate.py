"""Intermediate verification: every op's device output against the CPU golden of the FX
node it came from (``CompilerConfig.enable_intermediate_verification``).

Ops and FX nodes are matched by location: every TTNN op carries
``loc("<fx node>"("<file>":<line>:0))`` from the node it was lowered from. One FX
node often becomes several TTNN ops (a convolution is permute, reshape, conv2d,
reshape, permute; a relu is a full of zeros and a maximum); the op compared is the
last one at that location whose output has the node's shape, which is the one that
produces the node's value. A 4-D NCHW value that only exists on the device in TTNN's
flattened NHWC form ``[1, 1, N*H*W, C]`` (a conv2d whose result feeds the next conv2d
directly, the permutes between them cancelled) is compared in that form. A post-op hook of the runtime keeps those outputs; the
table (op, location, PCC, atol) and the first op under the PCC threshold come after
the run.

    outputs, table = verify_program(binary, inputs, goldens_by_loc(binary, 0, node_values))
    print(table)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch
import torch.fx as fx

from tt_torch import runtime
from tt_torch.accuracy import REQUIRED_PCC, compute_atol, compute_pcc
from tt_torch.composite import node_of_location
from tt_torch.tables import text_table


def fx_node_values(fx_gm: fx.GraphModule, inputs: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
    """The CPU value of every tensor-valued call node of `fx_gm` on `inputs`, by node name."""
    values: dict[str, torch.Tensor] = {}

    class Recorder(fx.Interpreter):
        def run_node(self, n: fx.Node):
            result = super().run_node(n)
            if n.op == "call_function" and isinstance(result, torch.Tensor):
                values[n.name] = result.detach()
            return result

    with torch.no_grad():
        Recorder(fx_gm).run(*inputs)
    return values


def goldens_by_loc(binary, program: int, node_values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The golden of each op location of `program` whose FX node has a value."""
    out: dict[str, torch.Tensor] = {}
    for op in binary.program_ops(program):
        node = node_of_location(op["loc"])
        if node is not None and node in node_values:
            out[op["loc"]] = node_values[node]
    return out


@dataclass
class OpCheck:
    index: int  # position of the op in its program
    type: str
    loc: str
    pcc: float
    atol: float
    passed: bool


@dataclass
class VerificationTable:
    rows: list[OpCheck]
    required_pcc: float
    required_atol: float | None

    @property
    def first_failure(self) -> OpCheck | None:
        """The first op (in program order) under the threshold: where a numerical bug starts."""
        return next((r for r in self.rows if not r.passed), None)

    @property
    def passed(self) -> bool:
        return self.first_failure is None

    def as_dicts(self) -> list[dict]:
        return [asdict(r) for r in self.rows]

    def plot(self, path: str) -> None:
        """Each compared op's PCC in program order as SVG, the bar as a line, failures in red:
        where along the program the values start to drift."""
        width, height, pad = 900, 320, 40
        pccs = [max(0.0, min(1.0, r.pcc)) for r in self.rows]
        low = min([*pccs, self.required_pcc]) - 0.001
        span = (1.0 - low) or 1.0

        def y(v: float) -> float:
            return pad + (height - 2 * pad) * (1.0 - v) / span

        step = (width - 2 * pad) / max(1, len(pccs) - 1)
        points = " ".join(f"{pad + k * step:.1f},{y(v):.1f}" for k, v in enumerate(pccs))
        parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="monospace" '
            'font-size="11">',
            f'<text x="{pad}" y="20">per-op PCC in program order ({len(pccs)} ops); axis {low:.4f} .. 1</text>',
            f'<line x1="{pad}" x2="{width - pad}" y1="{y(self.required_pcc):.1f}" y2="{y(self.required_pcc):.1f}" '
            f'stroke="orange"/><text x="{width - pad + 2}" y="{y(self.required_pcc):.1f}">{self.required_pcc}</text>',
            f'<polyline fill="none" stroke="#4a7fb5" points="{points}"/>',
        ]
        for k, r in enumerate(self.rows):
            if not r.passed:
                parts.append(
                    f'<circle cx="{pad + k * step:.1f}" cy="{y(pccs[k]):.1f}" r="3" fill="red">'
                    f"<title>op {r.index} {r.type}</title></circle>"
                )
        parts.append("</svg>")
        with open(path, "w") as f:
            f.write("\n".join(parts) + "\n")

    def __str__(self) -> str:
        rows = [
            [r.index, r.type, f"{r.pcc:.6f}", f"{r.atol:.3g}", "ok" if r.passed else "NO", r.loc] for r in self.rows
        ]
        lines = [text_table(["op", "type", "PCC", "atol", "ok", "location"], rows, right=("op", "PCC", "atol"))]
        bar = f"PCC >= {self.required_pcc}" + (
            f", atol <= {self.required_atol}" if self.required_atol is not None else ""
        )
        first = self.first_failure
        if first is None:
            lines.append(f"all {len(self.rows)} compared ops meet {bar}")
        else:
            lines.append(
                f"first op under threshold ({bar}): op {first.index} {first.type} at {first.loc} "
                f"(PCC {first.pcc:.6f}, atol {first.atol:.3g})"
            )
        return "\n".join(lines)


class IntermediateVerifier:
    """A post-op hook that keeps, per location with a golden, the last op output of the
    golden's shape; ``table()`` compares them."""

    def __init__(
        self, goldens: dict[str, torch.Tensor], required_pcc: float = REQUIRED_PCC, required_atol: float | None = None
    ):
        self.goldens = goldens
        self.required_pcc = required_pcc
        self.required_atol = required_atol
        self._kept: dict[str, tuple[int, str, torch.Tensor]] = {}
        self._exact: set[str] = set()  # locations with an output of the golden's own shape

    def __call__(self, event) -> None:
        golden = self.goldens.get(event.loc)
        out = event.output
        if golden is None or out is None:
            return
        if tuple(out.shape) == tuple(golden.shape):
            self._kept[event.loc] = (event.index, event.type, out.detach().clone())
            self._exact.add(event.loc)
        elif event.loc not in self._exact and _is_flat_nhwc(out, golden):
            n, c, h, w = golden.shape
            nchw = out.detach().reshape(n, h, w, c).permute(0, 3, 1, 2).contiguous()
            self._kept[event.loc] = (event.index, event.type, nchw)

    def table(self) -> VerificationTable:
        rows = []
        for loc, (index, op_type, out) in sorted(self._kept.items(), key=lambda kv: kv[1][0]):
            golden = self.goldens[loc]
            pcc, atol = compute_pcc(golden, out), compute_atol(golden, out)
            passed = pcc >= self.required_pcc and (self.required_atol is None or atol <= self.required_atol)
            rows.append(OpCheck(index, op_type, loc, pcc, atol, passed))
        return VerificationTable(rows, self.required_pcc, self.required_atol)


def _is_flat_nhwc(out: torch.Tensor, golden: torch.Tensor) -> bool:
    """Whether ``out`` is [1, 1, N*H*W, C] for a golden [N, C, H, W]."""
    if golden.dim() != 4 or out.dim() != 4:
        return False
    n, c, h, w = golden.shape
    return tuple(out.shape) == (1, 1, n * h * w, c)


def verify_program(
    device,
    binary,
    program: int,
    inputs: Sequence[torch.Tensor],
    goldens: dict[str, torch.Tensor],
    required_pcc: float = REQUIRED_PCC,
    required_atol: float | None = None,
    post_op: Callable | None = None,
) -> tuple[list[torch.Tensor], VerificationTable]:
    """Runs `program` with every op checked against `goldens` (by location).

    `post_op`, when given, runs before the check on each op (a user hook; tests use
    one to plant a numerical bug).
    """
    verifier = IntermediateVerifier(goldens, required_pcc, required_atol)

    def hook(event) -> None:
        if post_op is not None:
            post_op(event)
        verifier(event)

    outputs = runtime.submit(device, binary, program, inputs, post_op=hook)
    return outputs, verifier.table()
