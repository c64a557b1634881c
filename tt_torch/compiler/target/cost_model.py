"""A roofline *estimate* of device time per TTNN op. Not a measurement, not a simulation.

For each TTNN op, in program order::

    compute_ns   = flops * phases / matrix_peak        (matmul, linear, conv2d)
                 = vector_ops / vector_throughput      (every other op that computes)
    memory_ns    = sum over operands and results of bytes / bandwidth(where the tensor lives)
    estimated_ns = max(compute_ns, memory_ns) + DISPATCH_NS
    bound        = "compute" if compute_ns > memory_ns else "memory"

Peak figures (``TARGET_PEAKS``, per target; docs.tenstorrent.com via shared design TT_HARDWARE.md)
    n150: 262 TFLOPS FP8 / 148 BLOCKFP8 / 74 FP16, 288 GB/s DRAM, 72 cores at 1 GHz.
    n300: a program runs on one chip: half of 466 / 262 / 131 TFLOPS, 288 GB/s, 64 cores at 1 GHz.
    p150: ~774 BLOCKFP8 / ~372 FP16 (secondary figures), 512 GB/s, 140 cores at 1.35 GHz.

Matrix unit (``ttnn.matmul``, ``ttnn.linear``, ``ttnn.conv2d``)
    The multiplier computes a product in math-fidelity phases (TT_HARDWARE.md): LoFi 1 phase,
    HiFi2 2, HiFi3 3, HiFi4 4. We read the published figures as one peak per phase, the LoFi (FP8)
    figure: 262 / 148 ~= 2 (BLOCKFP8 runs HiFi2) and 262 / 74 ~= 4 (FP16 runs HiFi4). So
    ``compute_ns = flops * phases / lofi_peak``. p150 has no FP8 figure: its LoFi peak is taken as
    2 x 774 (BLOCKFP8 as HiFi2) = 1548 TFLOPS (which puts HiFi4 at 387, vs ~372 quoted).
    Fidelity comes from the op's ``compute_config`` attribute (a DictAttr such as
    ``{math_fidelity = "hifi4", fp32_dest_acc_en = true}``), else HiFi4 (tt-mlir's default).
    Operand data types do not change the phase count: fp32 operands enter SrcA/SrcB as TF32 and
    the multiplier runs the same phases, so an fp32 matmul costs what a bf16 one does at the same
    fidelity (at the default: HiFi4 bf16); block-float operands unpack to bf16, likewise.
    flops = 2 * M * N * K (times the batch), plus M * N for a bias; conv2d:
    2 * output elements * in_channels / groups * kh * kw (plus the bias).

Vector ops (eltwise, reductions, pooling, where, creation...)
    ``VECTOR_ELEMS_PER_CYCLE`` = 32 elements per cycle per core, over all cores at the clock.
    Per element: 1 vector op for simple ops (add, multiply, relu, compares...), ``SFPU_OP_COST``
    = 8 for transcendental / iterative ones (exp, log, sqrt, tanh, gelu, div, pow...). Elementwise
    ops count result elements, reductions input elements, pooling output elements x kernel area.
    ``ttnn.scatter`` counts one simple op per source element (the write, or the add of "sum");
    ``ttnn.sort`` a bitonic network's compare-exchanges: log2(n) * (log2(n) + 1) / 2 simple ops
    per element, n the sorted dim's size rounded up to a power of two.
    Unknown ops count like a simple eltwise op over their result.
    Data movement (reshape, permute, slice, concat, pad, repeat, embedding, to_layout, typecast,
    to_memory_config...) does no vector work: memory only.

Memory
    Bytes of every operand and result (once each: perfect reuse), at its padded size: TILE layout
    pads the last two dims to multiples of 32; a tile is 32 * 32 * element bytes (f32 4096 B, bf16
    2048 B) or, for block-float, ``formats.tile_bytes`` (bfp_bf8 1088 B, bfp_bf4 576 B, bfp_bf2
    320 B); ROW_MAJOR tensors are not padded. i1 is stored as bf16. Except ``ttnn.embedding``,
    whose table counts only the rows gathered (= the result's bytes).
    A tensor is block-float when a format name (``bfp_bf8``, ``bfloat8_b``...) appears in its type
    (element type or encoding) or in the ``dtype`` attribute of the op that produced it.
    Bandwidths: DRAM per target (GB/s == B/ns); L1 ``L1_BYTES_PER_CYCLE`` = 64 B/cycle/core x cores x
    clock (n150: 4608 GB/s); host tensors (``to_device`` reads one, ``from_device`` writes one)
    cross PCIe at ``PCIE_GBPS`` = 16 GB/s and count only the host-side bytes.

Collectives (tensor parallel: a function with ``tt.mesh_shape``, every chip runs it on its shard)
    Ring algorithms over the N chips of the program's mesh, placed on the target's first N chips in
    snake order (row 0 left to right, row 1 right to left, ...; the ring closes from the last back to
    the first). One step moves B / N bytes from every chip to its ring successor at once; a step
    takes the slowest pair's copy time (``SystemDesc.transfer_us``: every hop's latency plus the
    bytes at the link's rate, one direction). B is the whole tensor (all_gather's result,
    all_reduce's operand, reduce_scatter's operand):
    all_gather and reduce_scatter N - 1 steps, all_reduce 2 (N - 1) (a reduce-scatter, then an
    all-gather); reduce_scatter and all_reduce also add B (N - 1) / N elements per chip on the
    vector unit. ``mesh_shard`` cuts or joins host tensors: no device time (the ``to_device`` of a
    shard counts its PCIe bytes). A target without links (n150, a file without them) is given
    ``DEFAULT_LINK``: 2 ports of 100 Gb/s, 1 us per hop (Wormhole; docs/device.md).
    The report's ``mesh`` section: per-chip compute (every op but the collectives), time in
    collectives, bytes each ring link carries per run, and the critical path (the chips run in
    lockstep between collectives, all equally loaded: compute + collectives).

Overhead
    ``DISPATCH_NS`` = 1000 ns per op (a program launch of the order of a TTNN op dispatch); zero for
    ``ttnn.deallocate`` (no device work) and non-TTNN ops (``func.return``).

    python -m tt_torch.compiler.target.cost_model model.ttnn.mlir --target n150 [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from torch_mlir import ir

from tt_torch import formats
from tt_torch.tables import text_table

from ..context import new_context
from ..dialects.ttnn_layout import decode, is_device
from ..ir_helpers import location_text
from ..options import DEFAULT_MATH_FIDELITY, DEFAULT_TARGET, MATH_FIDELITY_PHASES
from ..report import Report
from . import system_desc as _system_desc

__all__ = [
    "DISPATCH_NS",
    "TARGET_PEAKS",
    "Estimate",
    "OpEstimate",
    "TargetPeak",
    "TensorSpec",
    "estimate",
    "estimate_op",
    "device_bytes",
    "memory_plan",
    "report_estimates",
    "mesh_summary",
    "ring_of",
]


@dataclass(frozen=True)
class TargetPeak:
    """Peak throughput of one chip (the one a program runs on)."""

    lofi_tflops: float  # matrix unit, one fidelity phase (the FP8 figure)
    dram_gbps: float  # GB/s == bytes per ns
    cores: int
    clock_ghz: float


def _target_peak(chip) -> TargetPeak:
    return TargetPeak(chip.lofi_tflops, chip.dram_bandwidth_gbps, chip.num_cores, chip.clock_mhz / 1000.0)


# Keyed by target name, from the target descriptions (system_desc.py).
TARGET_PEAKS: dict[str, TargetPeak] = {name: _target_peak(s.chip) for name, s in _system_desc.SYSTEMS.items()}

DISPATCH_NS = 1000.0
VECTOR_ELEMS_PER_CYCLE = 32
SFPU_OP_COST = 8
L1_BYTES_PER_CYCLE = 64
PCIE_GBPS = 16.0

# ops whose work is costed at the matrix unit's peak
CCL_OPS = ("ttnn.all_gather", "ttnn.all_reduce", "ttnn.reduce_scatter")
MATRIX_OPS = ("ttnn.matmul", "ttnn.linear", "ttnn.conv2d", "ttnn.scaled_dot_product_attention")
HOST_OPS = ("ttnn.to_device", "ttnn.from_device")
FREE_OPS = ("ttnn.deallocate", "ttnn.mesh_shard")
DATA_MOVEMENT = {
    f"ttnn.{n}"
    for n in (
        "reshape permute slice_static concat pad repeat embedding to_layout typecast to_memory_config "
        "to_dtype transpose squeeze unsqueeze"
    ).split()
}
SFPU_OPS = {
    f"ttnn.{n}"
    for n in (
        "exp log sqrt rsqrt reciprocal tanh sigmoid gelu gelu_tanh erf sin cos log1p expm1 silu div pow remainder "
        "atan2 "
        "softmax layer_norm rms_norm"
    ).split()
}
REDUCTIONS = {f"ttnn.{n}" for n in ("sum mean max min prod argmax argmin").split()}
POOLS = {f"ttnn.{n}" for n in ("max_pool2d avg_pool2d sum_pool2d").split()}

_ELEMENT_BYTES = {
    "f64": 8,
    "f32": 4,
    "bf16": 2,
    "f16": 2,
    "i64": 8,
    "si64": 8,
    "ui64": 8,
    "i32": 4,
    "si32": 4,
    "ui32": 4,
    "i16": 2,
    "si16": 2,
    "ui16": 2,
    "i8": 1,
    "si8": 1,
    "ui8": 1,
    "i1": 2,  # stored as bf16 on the device
}
_BFP_NAMES = re.compile(r"bfp_bf[842]|bfloat[842]_b")


@dataclass(frozen=True)
class TensorSpec:
    """What the cost model needs of a tensor: shape, data type, layout and where it lives."""

    shape: tuple[int, ...]
    dtype: str = "f32"  # MLIR element type name ("f32", "bf16", "si32"...) or a block-float format
    layout: str = "tile"  # "tile" | "row_major"
    buffer: str = "dram"  # "dram" | "l1" | "host"

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Size on its buffer, padded as the device pads it (see the module docstring)."""
        if _BFP_NAMES.fullmatch(self.dtype):
            return formats.tensor_bytes(self.shape, self.dtype)
        elem = _ELEMENT_BYTES.get(self.dtype, 4)
        if self.layout != "tile" or self.buffer == "host":
            return self.numel * elem
        dims = self.shape if len(self.shape) >= 2 else (1, *self.shape) if self.shape else (1, 1)
        tiles = math.prod(dims[:-2]) * -(-dims[-2] // 32) * -(-dims[-1] // 32)
        return tiles * 32 * 32 * elem


@dataclass
class OpEstimate:
    op: str
    loc: str
    flops: int  # matrix-unit flops, or vector ops for other ops
    bytes: int
    compute_ns: float
    memory_ns: float
    overhead_ns: float
    estimated_ns: float
    bound: str  # "compute" | "memory"
    unit: str  # "matrix" | "vector" | "none"
    fidelity: str | None = None  # matrix ops only
    func: str = ""


@dataclass
class Estimate:
    target: str
    ops: list[OpEstimate] = field(default_factory=list)

    @property
    def total_ns(self) -> float:
        return sum(o.estimated_ns for o in self.ops)

    @property
    def device_ns(self) -> float:
        """Total without host transfers (to_device / from_device)."""
        return sum(o.estimated_ns for o in self.ops if o.op not in HOST_OPS)

    def as_dict(self) -> dict:
        return {
            "target": self.target,
            "estimate": True,
            "total_ns": self.total_ns,
            "device_ns": self.device_ns,
            "ops": [asdict(o) for o in self.ops],
        }

    def table(self) -> str:
        header = ["op", "bound", "est us", "compute us", "memory us", "MB", "loc"]
        rows = [
            [o.op, o.bound, f"{o.estimated_ns / 1e3:.2f}", f"{o.compute_ns / 1e3:.2f}", f"{o.memory_ns / 1e3:.2f}"]
            + [f"{o.bytes / 1e6:.3f}", o.loc]
            for o in self.ops
            if o.op not in FREE_OPS
        ]
        lines = [text_table(header, rows, right=("est us", "compute us", "memory us", "MB"))]
        lines.append(
            f"estimated total on {self.target}: {self.total_ns / 1e3:.2f} us "
            f"({self.device_ns / 1e3:.2f} us without host transfers) -- a roofline estimate, not a measurement"
        )
        return "\n".join(lines)


def _peak(target: str) -> TargetPeak:
    if target in TARGET_PEAKS:
        return TARGET_PEAKS[target]
    try:
        return _target_peak(_system_desc.get(target).chip)  # a target saved as a file
    except (ValueError, KeyError):
        raise ValueError(f"unknown target {target!r} for the cost model; known: {', '.join(TARGET_PEAKS)}") from None


def _fidelity(value: str | None) -> str:
    name = (value or DEFAULT_MATH_FIDELITY).strip('"').lower().replace("_", "")
    if name not in MATH_FIDELITY_PHASES:
        raise ValueError(f"unknown math fidelity {value!r}; expected one of {', '.join(MATH_FIDELITY_PHASES)}")
    return name


def _bandwidth(spec: TensorSpec, peak: TargetPeak) -> float:
    """Bytes per ns for a tensor in ``spec.buffer``."""
    if spec.buffer == "l1":
        return L1_BYTES_PER_CYCLE * peak.cores * peak.clock_ghz
    if spec.buffer == "host":
        return PCIE_GBPS
    return peak.dram_gbps


def _matrix_flops(name: str, inputs: Sequence[TensorSpec], output: TensorSpec, attrs: dict) -> int:
    out = output.numel
    has_bias = len(inputs) > 2
    if name == "ttnn.scaled_dot_product_attention" and len(inputs) >= 3:
        # q @ k^T ([.., L, S], E each) and weights @ v (out [.., L, Ev], S each)
        q, k = inputs[0].shape, inputs[1].shape
        scores = out // max(output.shape[-1], 1) * k[-2]
        return 2 * scores * q[-1] + 2 * out * k[-2]
    if name == "ttnn.conv2d":
        kh, kw = attrs.get("kernel_size", (1, 1))
        per_out = int(attrs.get("in_channels", 1)) // int(attrs.get("groups", 1) or 1) * kh * kw
    else:
        a = inputs[0].shape
        per_out = a[-2] if attrs.get("transpose_a") and len(a) >= 2 else a[-1]
    return 2 * out * per_out + (out if has_bias else 0)


def _vector_ops(name: str, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec], attrs: dict) -> int:
    if name in DATA_MOVEMENT or name in HOST_OPS or name in FREE_OPS:
        return 0
    out = sum(o.numel for o in outputs)
    if name in REDUCTIONS:
        return inputs[0].numel if inputs else out
    if name in POOLS:
        kh, kw = attrs.get("kernel_size", (1, 1))
        return out * kh * kw
    if name == "ttnn.scatter" and len(inputs) >= 3:  # one write or add per source element
        return inputs[2].numel
    if name == "ttnn.sort" and inputs:  # the stages of a bitonic sort, each over every element
        n = inputs[0].shape[int(attrs.get("dim", -1))] if inputs[0].shape else 1
        stages = max(math.ceil(math.log2(max(n, 1))), 0)
        return inputs[0].numel * max(stages * (stages + 1) // 2, 1)
    return out * (SFPU_OP_COST if name in SFPU_OPS else 1)


def estimate_op(
    name: str,
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    target: str = "n150",
    attrs: dict | None = None,
    loc: str = "",
    dispatch_ns: float = DISPATCH_NS,
) -> OpEstimate:
    """Roofline estimate of one op, from plain tensor descriptions.

    ``attrs``: python values: ``math_fidelity`` (str), ``transpose_a`` (bool), ``kernel_size``
    (pair), ``in_channels``, ``groups`` (ints).
    """
    peak = _peak(target)
    attrs = attrs or {}
    if name in FREE_OPS or not name.startswith("ttnn."):
        return OpEstimate(name, loc, 0, 0, 0.0, 0.0, 0.0, 0.0, "memory", "none")

    moved = list(inputs) + list(outputs)
    if name == "ttnn.embedding" and len(inputs) >= 2:  # the table: only the gathered rows
        moved = [inputs[0], *outputs, *outputs]
    if name in HOST_OPS:  # only the host side crosses PCIe
        moved = [t for t in moved if t.buffer == "host"]
    nbytes = sum(t.nbytes for t in moved)
    memory_ns = sum(t.nbytes / _bandwidth(t, peak) for t in moved)

    fidelity = None
    if name in CCL_OPS and int(attrs.get("mesh_chips", 1)) > 1:
        return _ccl_estimate(name, inputs, outputs, target, int(attrs["mesh_chips"]), loc, dispatch_ns, peak)
    if name in MATRIX_OPS and outputs:
        fidelity = _fidelity(attrs.get("math_fidelity"))
        flops = _matrix_flops(name, inputs, outputs[0], attrs)
        compute_ns = flops * MATH_FIDELITY_PHASES[fidelity] / (peak.lofi_tflops * 1e3)  # TFLOPS = 1e3 flop/ns
        unit = "matrix"
    else:
        flops = _vector_ops(name, inputs, outputs, attrs)
        compute_ns = flops / (VECTOR_ELEMS_PER_CYCLE * peak.cores * peak.clock_ghz)
        unit = "vector" if flops else "none"
    bound = "compute" if compute_ns > memory_ns else "memory"
    return OpEstimate(
        name,
        loc,
        flops,
        nbytes,
        compute_ns,
        memory_ns,
        dispatch_ns,
        max(compute_ns, memory_ns) + dispatch_ns,
        bound,
        unit,
        fidelity,
    )


def ring_of(target: str, chips: int) -> list[int]:
    """The chips of a program's mesh of ``chips`` chips on ``target``, in ring order (snake)."""
    try:
        desc = _system_desc.get(target)
    except ValueError:
        return list(range(chips))
    rows, cols = desc.mesh_shape
    snake = [r * cols + (c if r % 2 == 0 else cols - 1 - c) for r in range(rows) for c in range(cols)]
    return snake[:chips] if chips <= len(snake) else list(range(chips))


# Wormhole ethernet between two chips when the target names no link: 2 ports x 100 Gb/s, 1 us a hop
DEFAULT_LINK = (2, 100.0, 1.0)


def ring_step_us(target: str, chips: int, nbytes: float) -> float:
    """One ring step: every chip sends ``nbytes`` to its successor at once; the slowest pair."""
    ring = ring_of(target, chips)
    try:
        desc = _system_desc.get(target)
    except ValueError:
        desc = None
    worst = 0.0
    for a, b in zip(ring, ring[1:] + ring[:1]):
        if desc is not None and desc.links and b < desc.num_chips and a < desc.num_chips:
            worst = max(worst, desc.transfer_us(int(nbytes), a, b))
        else:
            ports, gbps, latency = DEFAULT_LINK
            worst = max(worst, latency + nbytes * 8 / (ports * gbps * 1e3))
    return worst


def _ccl_estimate(name, inputs, outputs, target, chips, loc, dispatch_ns, peak) -> OpEstimate:
    whole = (outputs[0] if name == "ttnn.all_gather" else inputs[0]) if inputs and outputs else None
    total = whole.nbytes if whole is not None else 0
    steps = 2 * (chips - 1) if name == "ttnn.all_reduce" else chips - 1
    link_ns = steps * ring_step_us(target, chips, total / chips) * 1e3
    adds = (whole.numel * (chips - 1) // chips) if name != "ttnn.all_gather" and whole is not None else 0
    compute_ns = adds / (VECTOR_ELEMS_PER_CYCLE * peak.cores * peak.clock_ghz)
    sent = int(steps * total / chips)  # bytes every ring link carries
    bound = "link" if link_ns >= compute_ns else "compute"
    return OpEstimate(
        name, loc, adds, sent, compute_ns, link_ns, dispatch_ns, link_ns + compute_ns + dispatch_ns, bound, "link"
    )


def mesh_summary(result: Estimate, chips: int) -> dict:
    """Per-chip compute, collectives, per-link traffic and the critical path of an SPMD program."""
    ccl = [o for o in result.ops if o.op in CCL_OPS]
    compute = sum(o.estimated_ns for o in result.ops if o.op not in CCL_OPS and o.op not in HOST_OPS)
    links = sum(o.estimated_ns for o in ccl)
    ring = ring_of(result.target, chips)
    try:
        desc = _system_desc.get(result.target)
        hops = [len(desc.route(a, b)) for a, b in zip(ring, ring[1:] + ring[:1])]
    except ValueError:  # a target without these chips: the default link, one hop each
        hops = [1] * chips
    return {
        "chips": chips,
        "ring": ring,
        "ring_hops": hops,  # links crossed from each chip of the ring to the next
        "per_chip_compute_us": compute / 1e3,
        "collective_us": links / 1e3,
        "per_link_bytes": sum(o.bytes for o in ccl),
        "critical_path_us": (compute + links) / 1e3,
        "collectives": [{"op": o.op, "loc": o.loc, "bytes_per_link": o.bytes, "us": o.estimated_ns / 1e3} for o in ccl],
    }


# ----------------------------------------------------------------------------- MLIR


def _str(attr: ir.Attribute) -> str:
    try:
        return ir.StringAttr(attr).value
    except (ValueError, TypeError):
        return str(attr).strip('"')


def _py(attr: ir.Attribute):
    """An attribute as a python value (ints, bools, int lists, strings); None if not one of those."""
    for cast in (ir.BoolAttr, ir.IntegerAttr, ir.StringAttr):
        try:
            return cast(attr).value
        except (ValueError, TypeError):
            pass
    for cast in (ir.DenseI64ArrayAttr, ir.DenseI32ArrayAttr):
        try:
            return list(cast(attr))
        except (ValueError, TypeError):
            pass
    try:
        return [_py(a) for a in ir.ArrayAttr(attr)]
    except (ValueError, TypeError):
        return None


def _op_attrs(op: ir.Operation) -> dict:
    attrs = {}
    for key in op.attributes:
        attrs[key] = _py(op.attributes[key])
    if "compute_config" in op.attributes:
        try:
            cfg = ir.DictAttr(op.attributes["compute_config"])
            if "math_fidelity" in cfg:
                attrs["math_fidelity"] = _str(cfg["math_fidelity"])
        except (ValueError, TypeError):
            pass
    return attrs


def _bfp_name(text: str) -> str | None:
    m = _BFP_NAMES.search(text)
    if m is None:
        return None
    name = m.group(0)
    return {"bfloat8_b": "bfp_bf8", "bfloat4_b": "bfp_bf4", "bfloat2_b": "bfp_bf2"}.get(name, name)


def _is_tensor(value: ir.Value) -> bool:
    try:
        ir.RankedTensorType(value.type)
        return True
    except (ValueError, TypeError):
        return False


def _spec(value: ir.Value) -> TensorSpec:
    t = ir.RankedTensorType(value.type)
    dtype = str(t.element_type)
    layout, buffer = "row_major", "host"
    if t.encoding is not None:
        try:
            enc = decode(t)
            layout, buffer = enc.layout, enc.buffer
        except (ValueError, TypeError):
            layout, buffer = "tile", "dram"
    bfp = _bfp_name(str(t))
    owner = value.owner if isinstance(value, ir.OpResult) else None
    if bfp is None and owner is not None and "dtype" in owner.attributes:
        bfp = _bfp_name(_str(owner.attributes["dtype"]))
    return TensorSpec(tuple(t.shape), bfp or dtype, "tile" if bfp else layout, buffer)


def device_bytes(value: ir.Value) -> int:
    """Bytes `value` takes where it lives: padded to tiles, per format (block float per tile)."""
    return _spec(value).nbytes


def _parse(module: ir.Module | str) -> ir.Module:
    if isinstance(module, ir.Module):
        return module
    return ir.Module.parse(module, new_context())


def estimate(
    module: ir.Module | str,
    target: str = DEFAULT_TARGET,
    function: str | None = None,
    default_fidelity: str = DEFAULT_MATH_FIDELITY,
    dispatch_ns: float = DISPATCH_NS,
) -> Estimate:
    """Estimate every TTNN op of ``module`` (an ``ir.Module`` or its text) in program order.

    ``function``: only that ``func.func`` (default: all of them, e.g. const-eval programs too).
    """
    _peak(target)
    default_fidelity = _fidelity(default_fidelity)
    m = _parse(module)
    result = Estimate(target)
    for func_op in m.body.operations:
        if func_op.operation.name != "func.func":
            continue
        fname = ir.StringAttr(func_op.attributes["sym_name"]).value
        if function is not None and fname != function:
            continue
        mesh = (
            list(ir.DenseI64ArrayAttr(func_op.attributes["tt.mesh_shape"]))
            if "tt.mesh_shape" in func_op.attributes
            else [1]
        )
        for op in func_op.regions[0].blocks[0].operations:
            op = op.operation
            if not op.name.startswith("ttnn."):
                continue
            attrs = _op_attrs(op)
            attrs.setdefault("math_fidelity", default_fidelity)
            attrs["mesh_chips"] = math.prod(mesh)
            ins = [_spec(v) for v in op.operands if _is_tensor(v)]
            outs = [_spec(v) for v in op.results if _is_tensor(v)]
            rec = estimate_op(op.name, ins, outs, target, attrs, location_text(op.location), dispatch_ns)
            rec.func = fname
            result.ops.append(rec)
    return result


def report_estimates(module: ir.Module, target: str, report: Report) -> dict:
    """The cost model's estimate per op (into the report: totals and the costliest ops),
    returned as {op: estimated ns} for the flatbuffer."""
    result = estimate(module, target)
    ops = [
        op.operation
        for func_op in module.body.operations
        for op in func_op.regions[0].blocks[0].operations
        if op.operation.name.startswith("ttnn.")
    ]
    top = sorted(result.ops, key=lambda e: -e.estimated_ns)[:10]
    report.device["estimate"] = {
        "note": "roofline estimate from the target's peak throughput and bandwidth, not a measurement",
        "target": target,
        "total_us": result.total_ns / 1000.0,
        "device_us": result.device_ns / 1000.0,
        "costliest": [{"op": e.op, "loc": e.loc, "us": e.estimated_ns / 1000.0, "bound": e.bound} for e in top],
    }
    report.device["memory"] = memory_plan(module, target)
    chips = max(
        (
            math.prod(ir.DenseI64ArrayAttr(f.attributes["tt.mesh_shape"]))
            for f in module.body.operations
            if "tt.mesh_shape" in f.attributes
        ),
        default=1,
    )
    if chips > 1:
        report.device["mesh"] = mesh_summary(result, chips)
    return {op: e.estimated_ns for op, e in zip(ops, result.ops)}


def memory_plan(module: ir.Module, target: str) -> dict:
    """Peak DRAM and L1 bytes the program's device tensors take (padded, per format), walking
    the ops with their deallocations, against the target's budgets."""
    chip = _system_desc.get(target).chip
    peak = {"dram": 0, "l1": 0}
    for func_op in module.body.operations:
        in_use = {"dram": 0, "l1": 0}
        sizes: dict = {}
        for op in func_op.regions[0].blocks[0].operations:
            op = op.operation
            if op.name == "ttnn.deallocate":
                buffer, size = sizes.pop(op.operands[0], (None, 0))
                if buffer:
                    in_use[buffer] -= size
                continue
            for value in op.results:
                if is_device(value):
                    buffer = decode(value.type).buffer
                    size = device_bytes(value)
                    sizes[value] = (buffer, size)
                    in_use[buffer] += size
                    peak[buffer] = max(peak[buffer], in_use[buffer])
    return {
        "peak_dram_bytes": peak["dram"],
        "peak_l1_bytes": peak["l1"],
        "dram_budget_bytes": chip.dram_bytes,
        "l1_budget_bytes": chip.l1_bytes,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tt_torch.compiler.target.cost_model",
        description="Roofline estimate of device time per TTNN op (an estimate, not a measurement).",
    )
    parser.add_argument("input", help="a TTNN .mlir file ('-' for stdin)")
    parser.add_argument("--target", default=DEFAULT_TARGET, choices=sorted(TARGET_PEAKS))
    parser.add_argument("--function", default=None, help="only this function")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    text = sys.stdin.read() if args.input == "-" else open(args.input).read()
    est = estimate(text, args.target, args.function)
    print(json.dumps(est.as_dict(), indent=1) if args.json else est.table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
