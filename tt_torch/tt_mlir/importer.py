"""tt-mlir's TTNN program (its ``ttnn_*.mlir`` dump) imported into tt-torch's program format.

The real compiler's program then runs on tt-torch's emulated device: each TTNN op of the
text maps to one of our flatbuffer ops through ``IMPORTS``, the one table of this boundary.
What tt-mlir fuses into an op's attributes is unfolded into separate ops:
``input_tensor_a_activations`` / ``input_tensor_b_activations`` become unary ops before the
binary op, ``activations`` (and linear's ``activation``) a unary op after it. Each
``ttcore.load_cached`` becomes a private program whose results main takes as inputs, run once
per version of what it reads (:class:`ConstEvalRunner`). Compute kernel configs (math fidelity, fp32_dest_acc_en)
become the ops' ``ComputeConfig`` (the emulated device computes with them) and are listed in
``ImportedProgram.compute_configs``. Program inputs enter from the host through ``to_device`` into the
layout tt-mlir declared; outputs leave through ``to_layout(row_major)`` + ``from_device``.
An op without an entry is an ``ImportError`` naming it and its location.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from tt_torch.compiler._generated_import import fb
from tt_torch.compiler.target import flatbuffer as ours
from tt_torch.errors import CompileError
from tt_torch.runtime.versions import tensor_stamp


class TTNNImportError(CompileError):
    """A TTNN op of tt-mlir's program has no import into tt-torch's program format yet."""


_DTYPE = {"f32": "f32", "bf16": "bf16", "f16": "f16", "si32": "si32", "i32": "si32", "ui32": "ui32", "u32": "ui32"}
_DTYPE.update({"ui16": "ui16", "u16": "ui16", "ui8": "ui8", "u8": "ui8", "i1": "bf16"})
_NP = {"f32": np.float32, "f16": np.float16, "si32": np.int32, "ui32": np.uint32, "ui16": np.uint16, "ui8": np.uint8}
# tt-mlir's UnaryOpType names (TTNNOpsEnums.td) that differ from ours
_UNARY_ALIAS = {"logical_not_unary": "logical_not"}


@dataclass
class _Layout:
    tile: bool
    buffer: str  # dram | l1 | system_memory


@dataclass
class _Type:
    shape: list[int]
    dtype: str
    layout: _Layout | None  # None: host row-major


@dataclass
class _Op:
    results: list[str]
    name: str
    operands: list[str]
    attrs: str
    in_types: list[_Type]
    out_types: list[_Type]
    loc: str


@dataclass
class _Func:
    name: str
    args: list[str]
    arg_types: list[_Type]
    ops: list[_Op]
    returns: list[str]


@dataclass
class ImportedProgram:
    flatbuffer: bytes
    compute_configs: list[dict] = field(default_factory=list)
    op_counts: dict[str, int] = field(default_factory=dict)
    const_evals: list[ConstEvalCall] = field(default_factory=list)  # see import_program


# --- parsing tt-mlir's TTNN text -----------------------------------------------------------
_LAYOUT_ALIAS = re.compile(r"^(#\w+) = #ttnn\.ttnn_layout<(.*)>\s*$", re.M)
_FUNC = re.compile(r"func\.func (?:public |private )?@(\w+)\((.*?)\) -> .*?\{\s*$", re.M)
_TENSOR = re.compile(r"tensor<([^<>]*?(?:<[^<>]*>)?[^<>]*?)>")
_OP = re.compile(
    r'^\s*(?:(%[\w#:]+(?:, %[\w#:]+)*) = )?"(ttnn\.\w+)"\(([^)]*)\)\s*(?:<\{(.*)\}>)?\s*(?:\{(.*?)\})?\s*:\s*\((.*?)\)\s*->\s*(.*?)\s+loc\((.*)\)\s*$'
)
_LOAD_CACHED = re.compile(
    r"^\s*(%[\w#:]+) = ttcore\.load_cached\(@(\w+), \[(.*?)\]\)\s*:\s*\((.*?)\)\s*->\s*(.*?)\s+loc"
)
_RETURN = re.compile(r"^\s*return\s*(.*?)\s*(?::.*)?loc")


def _layouts(text: str) -> dict[str, _Layout]:
    out = {}
    for alias, body in _LAYOUT_ALIAS.findall(text):
        buffer = "l1" if "#l1" in body else "system_memory" if "#system_memory" in body else "dram"
        out[alias] = _Layout("!ttcore.tile" in body, buffer)
    return out


def _type(text: str, layouts: dict[str, _Layout]) -> _Type:
    body, _, enc = text.partition(", #")
    parts = body.split("x")
    dims, el = parts[:-1], parts[-1]
    layout = layouts.get("#" + enc.strip()) if enc else None
    if layout is not None and layout.buffer == "system_memory":
        layout = None
    if el not in _DTYPE:
        raise TTNNImportError(f"tt-mlir's program uses element type {el}, which tt-torch's device has no format for")
    return _Type([int(d) for d in dims], _DTYPE[el], layout)


def _types(text: str, layouts) -> list[_Type]:
    return [_type(m, layouts) for m in _TENSOR.findall(text)]


def _results(token: str | None) -> list[str]:
    if not token:
        return []
    if "," in token:  # %values, %indices
        return [t.strip() for t in token.split(",")]
    if ":" in token:  # %0:2
        name, n = token.split(":")
        return [f"{name}#{i}" for i in range(int(n))]
    return [token]


def _operands(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


_LOC_ALIAS = re.compile(r"^(#loc\d*) = loc\((.*)\)\s*$", re.M)


def _locations(text: str) -> dict[str, str]:
    """#locN -> readable text: the names in quotes of its chain (e.g. tt-torch's FX node and source line)."""
    raw = dict(_LOC_ALIAS.findall(text))

    def resolve(alias: str, depth: int = 0) -> str:
        body = raw.get(alias, alias)
        if depth > 8:
            return body
        return re.sub(r"#loc\d*", lambda m: resolve(m.group(0), depth + 1), body)

    return {k: resolve(k) for k in raw}


def parse(text: str) -> dict[str, _Func]:
    layouts = _layouts(text)
    locs = _locations(text)
    funcs: dict[str, _Func] = {}
    current: _Func | None = None
    for line in text.splitlines():
        m = _FUNC.search(line)
        if m:
            args = re.findall(r"(%arg\d+): (tensor<[^{]*?>)(?=[ ,)]|\s*\{|$)", m.group(2))
            current = _Func(m.group(1), [a for a, _ in args], [_types(t, layouts)[0] for _, t in args], [], [])
            funcs[current.name] = current
            continue
        if current is None:
            continue
        m = _OP.match(line)
        if m:
            res, name, operands, props, attrs, in_t, out_t, loc = m.groups()
            current.ops.append(
                _Op(
                    _results(res),
                    name,
                    _operands(operands),
                    (props or "") + (attrs or ""),
                    _types(in_t, layouts),
                    _types(out_t, layouts),
                    locs.get(loc, loc),
                )
            )
            continue
        m = _LOAD_CACHED.match(line)
        if m:
            res, fn, operands, in_t, out_t = m.groups()
            outs = _types(out_t, layouts)
            names = _results(res) if len(outs) > 1 or ":" in res else [res]
            current.ops.append(
                _Op(names, "ttcore.load_cached", _operands(operands), fn, _types(in_t, layouts), outs, "")
            )
            continue
        if '"ttnn.' in line:
            raise TTNNImportError(f"cannot read this line of tt-mlir's TTNN program: {line.strip()[:300]}")
        m = _RETURN.match(line)
        if m and "func.return" not in line:
            current.returns = _operands(m.group(1))
    return funcs


# --- building our program --------------------------------------------------------------
def _ints(attrs: str, key: str) -> list[int]:
    m = re.search(rf"\b{key} = (\[[^\]]*\]|array<i\d+(?::[^>]*)?>|#ttnn\.shape<[\dx]*>)", attrs)
    if not m:
        raise KeyError(key)
    body = re.sub(r"\s*:\s*[a-z]+\d*", "", m.group(1).replace("array<i64", "").replace("array<i32", ""))
    if body.startswith("#ttnn.shape<"):
        return [int(v) for v in body[len("#ttnn.shape<") : -1].split("x") if v]
    return [int(v) for v in re.findall(r"-?\d+", body)]


def _int(attrs: str, key: str) -> int:
    return int(re.search(rf"\b{key} = (-?\d+)", attrs).group(1))


def _flag(attrs: str, key: str, default: bool = False) -> bool:
    m = re.search(rf"\b{key} = (true|false)", attrs)
    return (m.group(1) == "true") if m else default


_F32_MAX = float(np.finfo(np.float32).max)


def _float(attrs: str, key: str) -> float:
    """A float attribute. MLIR prints f32's extremes rounded to 9 digits (-3.40282347E+38, just past
    the largest f32) and non-finite values as hex bits: both become the f32 value they stand for."""
    text = re.search(rf"\b{key} = (0x[0-9A-Fa-f]+|[-+0-9.eE]+)", attrs).group(1)
    if text.startswith("0x"):
        bits = int(text, 16)
        return float(np.array([bits], dtype=np.uint32).view(np.float32)[0]) if bits < 2**32 else float.fromhex(text)
    value = float(text)
    return max(-_F32_MAX, min(_F32_MAX, value)) if abs(value) < 3.5e38 else value


def _activations(attrs: str, key: str) -> list[str]:
    m = re.search(rf"(?<![\w]){key} = \[(.*?)\](?=,|$|\s)", attrs)
    if not m:
        return []
    acts = []
    for item in re.findall(r"#ttnn\.unary_with_param<([^>]*)>", m.group(1)):
        if "params" in item:
            raise TTNNImportError(f"fused activation with parameters ({item}) has no import yet")
        acts.append(re.search(r"op_type = (\w+)", item).group(1))
    return acts


class _Builder:
    def __init__(self, funcs: dict[str, _Func]):
        self.funcs = funcs
        self.ids: dict[str, int] = {}
        self.types: dict[str, _Type] = {}
        self.operations: list = []
        self.compute_configs: list[dict] = []
        self.counts: dict[str, int] = {}
        self.temp = 0
        self.cached = False  # load_cached results enter as program inputs (set up by import_program)

    def fresh(self, t: _Type) -> str:
        self.temp += 1
        name = f"%__import{self.temp}"
        self.types[name] = t
        return name

    def ref(self, name: str) -> fb.TensorRefT:
        gid = self.ids.setdefault(name, len(self.ids))
        t = self.types[name]
        layout = fb.LayoutDescT(dataType=ours.DTYPES[t.dtype], layout=fb.TensorLayout.RowMajor)
        if t.layout is not None:
            layout.layout = fb.TensorLayout.Tile if t.layout.tile else fb.TensorLayout.RowMajor
            buffer = fb.BufferType.L1 if t.layout.buffer == "l1" else fb.BufferType.DRAM
            layout.memoryConfig = fb.MemoryConfigT(bufferType=buffer, memoryLayout=fb.TensorMemoryLayout.Interleaved)
        return fb.TensorRefT(globalId=gid, desc=fb.TensorDescT(shape=list(t.shape), layout=layout))

    def emit(self, kind, table, loc: str, text: str) -> None:
        self.operations.append(fb.OperationT(typeType=kind, type=table, debugInfo=text, locInfo=loc))

    def unary(self, kind: str, src: str, dst: str, loc: str) -> None:
        kind = _UNARY_ALIAS.get(kind, kind)
        if kind == "relu6":
            self.clamp(src, dst, 0.0, 6.0, loc, "ttnn.relu6")
            return
        if kind not in ours.UNARY_NAMES:
            raise TTNNImportError(f"fused activation '{kind}' at {loc} has no tt-torch op yet")
        table = fb.EltwiseUnaryOpT(
            type=getattr(fb.EltwiseUnaryOpType, ours.UNARY_NAMES[kind]), in_=self.ref(src), out=self.ref(dst)
        )
        self.emit(fb.OpType.EltwiseUnaryOp, table, loc, f"ttnn.{kind}")

    def full(self, shape: list[int], dtype: str, value: float, loc: str) -> str:
        """A new tensor of ``shape`` filled with ``value``, on the device (row-major)."""
        name = self.fresh(_Type(shape, dtype, _Layout(False, "dram")))
        self.emit(fb.OpType.FullOp, fb.FullOpT(out=self.ref(name), fillValue=value), loc, "ttnn.full (imported)")
        return name

    def constant(self, array, dtype: str, loc: str, name: str | None = None) -> str:
        """A constant tensor (``array``, a numpy array) in ``dtype``, on the device (row-major),
        or into ``name``."""
        name = name or self.fresh(_Type(list(array.shape), dtype, _Layout(False, "dram")))
        if dtype == "bf16":
            raw = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).to(torch.bfloat16).view(torch.int16)
            data = np.frombuffer(raw.numpy().tobytes(), dtype=np.uint8)
        else:
            data = np.frombuffer(np.ascontiguousarray(array, dtype=_NP[dtype]).tobytes(), dtype=np.uint8)
        self.emit(fb.OpType.ConstantOp, fb.ConstantOpT(out=self.ref(name), data=data), loc, "ttnn.constant (imported)")
        return name

    def clamp(self, src: str, dst: str, low: float, high: float, loc: str, text: str) -> None:
        """dst = min(max(src, low), high), with low and high as one-element tensors."""
        t = self.types[dst]
        ones = [1] * len(t.shape)
        lo, hi = self.full(ones, t.dtype, low, loc), self.full(ones, t.dtype, high, loc)
        table = fb.EltwiseTernaryOpT(
            type=fb.EltwiseTernaryOpType.Clamp,
            first=self.ref(src),
            second=self.ref(lo),
            third=self.ref(hi),
            out=self.ref(dst),
        )
        self.emit(fb.OpType.EltwiseTernaryOp, table, loc, text)

    def reshape(self, src: str, shape: list[int], loc: str, dst: str | None = None) -> str:
        t = self.types[src]
        if dst is None:
            dst = self.fresh(_Type(list(shape), t.dtype, t.layout))
        table = fb.ReshapeOpT(in_=self.ref(src), out=self.ref(dst), shape=list(shape))
        self.emit(fb.OpType.ReshapeOp, table, loc, "ttnn.reshape (imported)")
        return dst

    def permute(self, src: str, perm: list[int], loc: str, dst: str | None = None) -> str:
        t = self.types[src]
        if dst is None:
            dst = self.fresh(_Type([t.shape[p] for p in perm], t.dtype, t.layout))
        self.emit(
            fb.OpType.PermuteOp,
            fb.PermuteOpT(in_=self.ref(src), out=self.ref(dst), permutation=list(perm)),
            loc,
            "ttnn.permute (imported)",
        )
        return dst

    def function(self, func: _Func, rename: dict[str, str], prefix: str) -> list[str]:
        def v(name: str) -> str:
            return rename.get(name, name if name.startswith("%__") else prefix + name)

        for op in func.ops:
            rule = IMPORTS.get(op.name)
            if rule is None and op.name != "ttcore.load_cached":
                raise TTNNImportError(
                    f"tt-mlir's TTNN op '{op.name}' (at {op.loc}) has no import into tt-torch's program yet; "
                    "compile with CompilerConfig(compiler='tt-torch'), or add it to IMPORTS in tt_torch/tt_mlir/importer.py"
                )
            for r, t in zip(op.results, op.out_types):
                self.types[v(r)] = t
            for o, t in zip(op.operands, op.in_types):
                self.types.setdefault(v(o), t)
            self.counts[op.name] = self.counts.get(op.name, 0) + 1
            if op.name == "ttcore.load_cached" and self.cached:
                continue
            if op.name == "ttcore.load_cached":
                callee = self.funcs[op.attrs]
                inner = dict(zip(callee.args, [v(o) for o in op.operands]))
                outs = self.function(callee, inner, f"{prefix}{op.attrs}:")
                for r, o in zip(op.results, outs):
                    rename[r] = o
                continue
            rule(self, op, [v(o) for o in op.operands], [v(r) for r in op.results])
        return [v(r) for r in func.returns]


# --- the import table: tt-mlir TTNN op -> tt-torch flatbuffer op(s) ----------------------
Rule = Callable[[_Builder, _Op, list[str], list[str]], None]


def _skip(b, op, ins, outs) -> None:
    """get_device: the device is implicit in our programs."""


def _unary_rule(kind: str) -> Rule:
    def rule(b, op, ins, outs):
        b.unary(kind, ins[0], outs[0], op.loc)

    return rule


def _binary_rule(kind: str) -> Rule:
    def rule(b, op, ins, outs):
        lhs, rhs = ins
        for act in _activations(op.attrs, "input_tensor_a_activations"):
            tmp = b.fresh(b.types[lhs])
            b.unary(act, lhs, tmp, _fused_loc(act, op.loc))
            lhs = tmp
        for act in _activations(op.attrs, "input_tensor_b_activations"):
            tmp = b.fresh(b.types[rhs])
            b.unary(act, rhs, tmp, _fused_loc(act, op.loc))
            rhs = tmp
        after = _activations(op.attrs, "activations")
        out = b.fresh(b.types[outs[0]]) if after else outs[0]
        table = fb.EltwiseBinaryOpT(
            type=getattr(fb.EltwiseBinaryOpType, kind), lhs=b.ref(lhs), rhs=b.ref(rhs), out=b.ref(out)
        )
        if kind == "Multiply":
            table.computeConfig = _compute_config(b, op)
        b.emit(fb.OpType.EltwiseBinaryOp, table, op.loc, op.name)
        _after(b, op, out, outs[0], after)

    return rule


def _fused_loc(act: str, loc: str) -> str:
    """The location of an activation tt-mlir fused into an op: not the op's own, so that
    intermediate verification compares the op's output (not the activation's) with the
    FX node the location names."""
    return f"{act} fused into {loc}"


def _after(b, op, out: str, final: str, acts: list[str]) -> None:
    for i, act in enumerate(acts):
        dst = final if i == len(acts) - 1 else b.fresh(b.types[final])
        b.unary(act, out, dst, _fused_loc(act, op.loc))
        out = dst


def _compute_config(b, op) -> fb.ComputeConfigT | None:
    """The op's compute kernel config as the runtime takes it (None: the runtime's defaults,
    HiFi4 with fp32 accumulation, tt-mlir's too); recorded in ``compute_configs``."""
    m = re.search(r"math_fidelity = (\w+), fp32_dest_acc_en = (\w+)", op.attrs)
    if not m:
        return None
    fidelity, fp32_acc = m.group(1).lower(), m.group(2) == "true"
    if fidelity not in ours.MATH_FIDELITY:
        raise TTNNImportError(f"{op.name} at {op.loc}: unknown math fidelity {m.group(1)!r}")
    b.compute_configs.append({"op": op.name, "loc": op.loc, "math_fidelity": fidelity, "fp32_dest_acc_en": fp32_acc})
    return fb.ComputeConfigT(mathFidelity=ours.MATH_FIDELITY[fidelity], fp32DestAccEn=fp32_acc)


def _matmul(b, op, ins, outs):
    config = _compute_config(b, op)
    table = fb.MatmulOpT(
        computeConfig=config,
        a=b.ref(ins[0]),
        b=b.ref(ins[1]),
        out=b.ref(outs[0]),
        transposeA=_flag(op.attrs, "transpose_a"),
        transposeB=_flag(op.attrs, "transpose_b"),
    )
    b.emit(fb.OpType.MatmulOp, table, op.loc, op.name)


def _linear(b, op, ins, outs):
    config = _compute_config(b, op)
    m = re.search(r'\bactivation = "(\w+)"', op.attrs)
    after = [m.group(1)] if m else []
    out = b.fresh(b.types[outs[0]]) if after else outs[0]
    table = fb.LinearOpT(
        computeConfig=config,
        a=b.ref(ins[0]),
        b=b.ref(ins[1]),
        bias=b.ref(ins[2]) if len(ins) > 2 else None,
        out=b.ref(out),
        transposeA=_flag(op.attrs, "transpose_a"),
        transposeB=_flag(op.attrs, "transpose_b"),
    )
    b.emit(fb.OpType.LinearOp, table, op.loc, op.name)
    _after(b, op, out, outs[0], after)


def _reduction_rule(kind: str) -> Rule:
    def rule(b, op, ins, outs):
        t = b.types[ins[0]]
        if "dim_arg" not in op.attrs:
            dims = list(range(len(t.shape)))
        elif re.search(r"\bdim_arg = -?\d", op.attrs):  # prod's single dim (TTNNOps.td: SI64Attr)
            dims = [_int(op.attrs, "dim_arg")]
        else:
            dims = _ints(op.attrs, "dim_arg")
        table = fb.ReductionOpT(
            type=getattr(fb.ReductionOpType, kind),
            in_=b.ref(ins[0]),
            out=b.ref(outs[0]),
            dimArg=[d % max(len(t.shape), 1) for d in dims],
            keepDim=_flag(op.attrs, "keep_dim"),
        )
        b.emit(fb.OpType.ReductionOp, table, op.loc, op.name)

    return rule


def _reshape(b, op, ins, outs):
    table = fb.ReshapeOpT(in_=b.ref(ins[0]), out=b.ref(outs[0]), shape=list(b.types[outs[0]].shape))
    b.emit(fb.OpType.ReshapeOp, table, op.loc, op.name)


def _permute(b, op, ins, outs):
    table = fb.PermuteOpT(in_=b.ref(ins[0]), out=b.ref(outs[0]), permutation=_ints(op.attrs, "permutation"))
    b.emit(fb.OpType.PermuteOp, table, op.loc, op.name)


def _slice(b, op, ins, outs):
    table = fb.SliceOpT(
        in_=b.ref(ins[0]),
        out=b.ref(outs[0]),
        begins=_ints(op.attrs, "begins"),
        ends=_ints(op.attrs, "ends"),
        step=_ints(op.attrs, "step"),
    )
    b.emit(fb.OpType.SliceOp, table, op.loc, op.name)


def _concat(b, op, ins, outs):
    rank = len(b.types[outs[0]].shape)
    table = fb.ConcatOpT(inputs=[b.ref(i) for i in ins], out=b.ref(outs[0]), dim=_int(op.attrs, "dim") % rank)
    b.emit(fb.OpType.ConcatOp, table, op.loc, op.name)


def _repeat(b, op, ins, outs):
    table = fb.RepeatOpT(in_=b.ref(ins[0]), out=b.ref(outs[0]), repeatDims=_ints(op.attrs, "repeat_dims"))
    b.emit(fb.OpType.RepeatOp, table, op.loc, op.name)


def _full_rule(value: float | None) -> Rule:
    def rule(b, op, ins, outs):
        fill = value if value is not None else _float(op.attrs, "fill_value")
        b.emit(fb.OpType.FullOp, fb.FullOpT(out=b.ref(outs[0]), fillValue=fill), op.loc, op.name)

    return rule


def _where(b, op, ins, outs):
    table = fb.EltwiseTernaryOpT(
        type=fb.EltwiseTernaryOpType.Where,
        first=b.ref(ins[0]),
        second=b.ref(ins[1]),
        third=b.ref(ins[2]),
        out=b.ref(outs[0]),
    )
    b.emit(fb.OpType.EltwiseTernaryOp, table, op.loc, op.name)


def _embedding(b, op, ins, outs):
    table = fb.EmbeddingOpT(input=b.ref(ins[0]), weight=b.ref(ins[1]), out=b.ref(outs[0]))
    b.emit(fb.OpType.EmbeddingOp, table, op.loc, op.name)


def _to_layout(b, op, ins, outs):
    out = b.ref(outs[0])
    src = b.types[ins[0]]
    if src.layout is None and b.types[outs[0]].layout is not None:  # host -> device, as tt-mlir's to_layout does
        mid = b.fresh(_Type(src.shape, src.dtype, _Layout(False, b.types[outs[0]].layout.buffer)))
        b.emit(fb.OpType.ToDeviceOp, fb.ToDeviceOpT(in_=b.ref(ins[0]), out=b.ref(mid)), op.loc, "ttnn.to_device")
        ins = [mid]
    table = fb.ToLayoutOpT(in_=b.ref(ins[0]), out=out, layout=out.desc.layout.layout, dtype=out.desc.layout.dataType)
    b.emit(fb.OpType.ToLayoutOp, table, op.loc, op.name)


def _typecast(b, op, ins, outs):
    out = b.ref(outs[0])
    table = fb.TypecastOpT(in_=b.ref(ins[0]), out=out, dtype=out.desc.layout.dataType)
    b.emit(fb.OpType.TypecastOp, table, op.loc, op.name)


def _to_device(b, op, ins, outs):
    b.emit(fb.OpType.ToDeviceOp, fb.ToDeviceOpT(in_=b.ref(ins[0]), out=b.ref(outs[0])), op.loc, op.name)


def _from_device(b, op, ins, outs):
    b.emit(fb.OpType.FromDeviceOp, fb.FromDeviceOpT(in_=b.ref(ins[0]), out=b.ref(outs[0])), op.loc, op.name)


def _softmax(b, op, ins, outs):
    """tt-mlir's fused softmax: our SoftmaxOp along ``dimension``."""
    dim = _int(op.attrs, "dimension") % max(1, len(b.types[ins[0]].shape))
    table = fb.SoftmaxOpT(in_=b.ref(ins[0]), out=b.ref(outs[0]), dimension=dim)
    b.emit(fb.OpType.SoftmaxOp, table, op.loc, op.name)


def _norm_rule(kind: str) -> Rule:
    """tt-mlir's fused layer_norm / rms_norm over the last dim: input, weight?, bias?."""

    def rule(b, op, ins, outs):
        sizes = _ints(op.attrs, "operandSegmentSizes")
        groups, i = [], 0
        for size in sizes:
            groups.append(ins[i] if size else None)
            i += size
        x, weight, bias = (groups + [None, None])[:3]
        table = getattr(fb, f"{kind}OpT")(
            in_=b.ref(x),
            weight=b.ref(weight) if weight is not None else None,
            bias=b.ref(bias) if bias is not None else None,
            out=b.ref(outs[0]),
            epsilon=_float(op.attrs, "epsilon"),
        )
        b.emit(getattr(fb.OpType, f"{kind}Op"), table, op.loc, op.name)

    return rule


def _conv2d(b, op, ins, outs):
    """Flattened NHWC input, OIHW weight, [1, 1, 1, O] bias: the same convention as ours."""
    config = _compute_config(b, op)
    a = op.attrs
    tensors = [i for i, t in zip(ins, op.in_types) if t is not None]
    table = fb.Conv2dOpT(
        computeConfig=config,
        input=b.ref(tensors[0]),
        weight=b.ref(tensors[1]),
        bias=b.ref(tensors[2]) if len(tensors) > 2 else None,
        out=b.ref(outs[0]),
        inChannels=_int(a, "in_channels"),
        outChannels=_int(a, "out_channels"),
        batchSize=_int(a, "batch_size"),
        inputHeight=_int(a, "input_height"),
        inputWidth=_int(a, "input_width"),
        kernelSize=_ints(a, "kernel_size"),
        stride=_ints(a, "stride"),
        padding=_padding4(_ints(a, "padding")),
        dilation=_ints(a, "dilation"),
        groups=_int(a, "groups"),
    )
    b.emit(fb.OpType.Conv2dOp, table, op.loc, op.name)


def _padding4(p: list[int]) -> list[int]:
    """tt-mlir's [pad_h, pad_w] or [top, bottom, left, right] as [top, bottom, left, right]."""
    return [p[0], p[0], p[1], p[1]] if len(p) == 2 else p


def _pool_rule(kind: str) -> Rule:
    def rule(b, op, ins, outs):
        a = op.attrs
        pool = kind
        if kind == "Avg" and re.search(r"\bdivisor_override = 1 :", a):
            pool = "Sum"  # tt-mlir divides afterwards
        elif kind == "Avg" and any(_ints(a, "padding")) and not _flag(a, "count_include_pad", True):
            raise TTNNImportError(f"avg_pool2d with padding and count_include_pad = false (at {op.loc}) has no import")
        table = fb.Pool2dOpT(
            type=getattr(fb.Pool2dType, pool),
            in_=b.ref(ins[0]),
            out=b.ref(outs[0]),
            batchSize=_int(a, "batch_size"),
            inputHeight=_int(a, "input_height"),
            inputWidth=_int(a, "input_width"),
            channels=_int(a, "channels"),
            kernelSize=_ints(a, "kernel_size"),
            stride=_ints(a, "stride"),
            padding=_padding4(_ints(a, "padding")),
            dilation=_ints(a, "dilation"),
            ceilMode=_flag(a, "ceil_mode"),
        )
        b.emit(fb.OpType.Pool2dOp, table, op.loc, op.name)

    return rule


_ELEMENT = re.compile(r"0x[0-9A-Fa-f]+|true|false|[-+]?(?:inf|nan|\d+\.?\d*(?:[eE][-+]?\d+)?)")


def _constant(b, op, ins, outs):
    """constant <{value = dense<...>}>: the literal's elements (nested lists, a splat, or the hex
    blob MLIR prints for large ones) in the result's type, as our ConstantOp."""
    m = re.search(r"\bvalue = dense<(.*)> : tensor<([^>]*)>", op.attrs)
    if not m:
        raise TTNNImportError(f"{op.name} at {op.loc}: only dense literals import ({op.attrs[:200]})")
    body, el = m.group(1).strip(), m.group(2).split("x")[-1]
    t = b.types[outs[0]]
    count = math.prod(t.shape)
    floating = el.startswith(("f", "bf"))
    if body.startswith('"0x'):
        raw = bytes.fromhex(body[3:-1])
        np_el = {"f32": np.float32, "f64": np.float64, "f16": np.float16, "i1": np.uint8, "i8": np.int8}.get(el)
        if el == "bf16":
            values = torch.frombuffer(bytearray(raw), dtype=torch.bfloat16).float().numpy()
        elif np_el is None:
            values = np.frombuffer(raw, dtype=np.dtype(f"<i{int(el.lstrip('siu')) // 8}"))
        else:
            values = np.frombuffer(raw, dtype=np_el)
    else:
        tokens = _ELEMENT.findall(body)
        values = np.array([_element(v, floating) for v in tokens], dtype=np.float64)
    if values.size == 1:
        values = np.full(count, values.reshape(-1)[0])
    if values.size != count:
        raise TTNNImportError(f"{op.name} at {op.loc}: {values.size} literal values for a {t.shape} result")
    b.constant(np.asarray(values).reshape(t.shape), t.dtype, op.loc, outs[0])


def _element(token: str, floating: bool) -> float:
    if token in ("true", "false"):
        return float(token == "true")
    if token.startswith("0x"):  # a float's bits (inf, nan)
        return float(np.array([int(token, 16)], dtype=np.uint32).view(np.float32)[0])
    return float(token)


def _clamp_scalar(b, op, ins, outs):
    """clamp_scalar <{min, max}>: min(max(x, min), max) (TTNNOps.td, ClampScalarOp)."""
    b.clamp(ins[0], outs[0], _float(op.attrs, "min"), _float(op.attrs, "max"), op.loc, op.name)


def _clamp_tensor(b, op, ins, outs):
    """clamp_tensor(input, min, max): min(max(input, min), max)."""
    table = fb.EltwiseTernaryOpT(
        type=fb.EltwiseTernaryOpType.Clamp,
        first=b.ref(ins[0]),
        second=b.ref(ins[1]),
        third=b.ref(ins[2]),
        out=b.ref(outs[0]),
    )
    b.emit(fb.OpType.EltwiseTernaryOp, table, op.loc, op.name)


def _transpose(b, op, ins, outs):
    rank = len(b.types[ins[0]].shape)
    perm = list(range(rank))
    d0, d1 = _int(op.attrs, "dim0") % rank, _int(op.attrs, "dim1") % rank
    perm[d0], perm[d1] = perm[d1], perm[d0]
    b.permute(ins[0], perm, op.loc, outs[0])


def _arange(b, op, ins, outs):
    """arange <{start, end, step}>: start + step * i along the result's last dim (TTNNOps.td:
    a (1, 1, 1, N) tensor; tt-mlir may give it another shape, the values run along the last dim)."""
    t = b.types[outs[0]]
    start, step = _int(op.attrs, "start"), _int(op.attrs, "step")
    if math.prod(t.shape) != t.shape[-1]:
        raise TTNNImportError(f"{op.name} at {op.loc}: result {t.shape} has more than one non-unit dim")
    table = fb.ArangeOpT(out=b.ref(outs[0]), start=float(start), step=float(step), dim=len(t.shape) - 1)
    b.emit(fb.OpType.ArangeOp, table, op.loc, op.name)


def _pad(b, op, ins, outs):
    """pad <{padding = [low_0, high_0, ...], value}>: the same convention as our PadOp."""
    table = fb.PadOpT(
        in_=b.ref(ins[0]), out=b.ref(outs[0]), padding=_ints(op.attrs, "padding"), value=_float(op.attrs, "value")
    )
    b.emit(fb.OpType.PadOp, table, op.loc, op.name)


def _cumsum(b, op, ins, outs):
    """cumsum <{dim}>: the dim moved last, times an upper-triangular 0/1 matrix (exact for
    integers: the runtime's integer matmul runs in int32), moved back."""
    t = b.types[ins[0]]
    rank = len(t.shape)
    dim = _int(op.attrs, "dim") % rank
    n = t.shape[dim]
    perm = [d for d in range(rank) if d != dim] + [dim]
    moved = b.permute(ins[0], perm, op.loc) if dim != rank - 1 else ins[0]
    band = b.constant(np.triu(np.ones((n, n))), t.dtype, op.loc)
    mt = b.types[moved]
    prod = b.fresh(_Type(list(mt.shape), t.dtype, mt.layout)) if dim != rank - 1 else outs[0]
    table = fb.MatmulOpT(a=b.ref(moved), b=b.ref(band), out=b.ref(prod), transposeA=False, transposeB=False)
    b.emit(fb.OpType.MatmulOp, table, op.loc, op.name)
    if dim != rank - 1:
        b.permute(prod, [perm.index(d) for d in range(rank)], op.loc, outs[0])


def _repeat_interleave(b, op, ins, outs):
    """repeat_interleave <{repeats, dim}>: each element along dim ``repeats`` times in a row
    (a new unit dim after dim, repeated, merged back)."""
    t = b.types[ins[0]]
    rank = len(t.shape)
    dim, repeats = _int(op.attrs, "dim") % rank, _int(op.attrs, "repeats")
    split = t.shape[: dim + 1] + [1] + t.shape[dim + 1 :]
    x = b.reshape(ins[0], split, op.loc)
    tiled = b.fresh(_Type(t.shape[: dim + 1] + [repeats] + t.shape[dim + 1 :], t.dtype, t.layout))
    dims = [1] * (rank + 1)
    dims[dim + 1] = repeats
    b.emit(fb.OpType.RepeatOp, fb.RepeatOpT(in_=b.ref(x), out=b.ref(tiled), repeatDims=dims), op.loc, op.name)
    b.reshape(tiled, list(b.types[outs[0]].shape), op.loc, outs[0])


def _sort(b, op, ins, outs):
    """sort <{dim, descending, stable}> -> (values, indices), as our SortOp."""
    rank = len(b.types[ins[0]].shape)
    dim = _int(op.attrs, "dim") if re.search(r"\bdim = ", op.attrs) else -1
    table = fb.SortOpT(
        input=b.ref(ins[0]),
        values=b.ref(outs[0]),
        indices=b.ref(outs[1]),
        dim=dim % rank,
        descending=_flag(op.attrs, "descending"),
        stable=_flag(op.attrs, "stable"),
    )
    b.emit(fb.OpType.SortOp, table, op.loc, op.name)


def _topk(b, op, ins, outs):
    """topk <{k, dim, largest, sorted}> -> (values, indices) (TTNNOps.td, TopKOp): our SortOp
    along dim (descending when largest, stable: ties keep the lower index first), then the first
    k of both. Always sorted, which ``sorted = false`` allows."""
    t = b.types[ins[0]]
    rank = len(t.shape)
    dim = (_int(op.attrs, "dim") if re.search(r"\bdim = ", op.attrs) else -1) % rank
    k = _int(op.attrs, "k")
    values = b.fresh(_Type(list(t.shape), t.dtype, t.layout))
    indices = b.fresh(_Type(list(t.shape), b.types[outs[1]].dtype, t.layout))
    table = fb.SortOpT(
        input=b.ref(ins[0]),
        values=b.ref(values),
        indices=b.ref(indices),
        dim=dim,
        descending=_flag(op.attrs, "largest", True),
        stable=True,
    )
    b.emit(fb.OpType.SortOp, table, op.loc, op.name)
    ends = list(t.shape)
    ends[dim] = k
    for src, dst in ((values, outs[0]), (indices, outs[1])):
        sl = fb.SliceOpT(in_=b.ref(src), out=b.ref(dst), begins=[0] * rank, ends=ends, step=[1] * rank)
        b.emit(fb.OpType.SliceOp, sl, op.loc, op.name)


def _rows_gather(b, op, ins, outs):
    """rows_gather(input [1, R, C], indices [.., N]) <{column = false, sizes = [R], windows = [1]}>
    -> [1, N, C]: row indices[n] of the input, i.e. an embedding lookup; ``column = true`` is
    :func:`_point_gather`. tt-mlir's TTNNOps.td at hand has no definition of this op: the meaning
    is read off the StableHLO gathers it replaces and checked against eager; other attribute
    values stop with an error."""
    a = op.attrs
    src, idx = b.types[ins[0]], b.types[ins[1]]
    out_shape = list(b.types[outs[0]].shape)
    sizes, windows = _ints(a, "sizes"), _ints(a, "windows")
    if _flag(a, "column"):
        _point_gather(b, op, ins, outs, sizes, windows)
        return
    rows, cols = src.shape[-2], src.shape[-1]
    n = math.prod(idx.shape)
    if (
        _flag(a, "column")
        or _flag(a, "fill_out_of_bounds")
        or windows != [1]
        or sizes != [rows]
        or math.prod(src.shape[:-2]) != 1
        or math.prod(out_shape) != n * cols
    ):
        raise TTNNImportError(
            f"{op.name} at {op.loc} with {a} on {src.shape} x {idx.shape} has no import (only the row "
            "lookup form, column = false, windows = [1], one batch)"
        )
    table_2d = b.reshape(ins[0], [rows, cols], op.loc)
    flat = b.reshape(ins[1], [n], op.loc) if idx.shape != [n] else ins[1]
    looked = b.fresh(_Type([n, cols], src.dtype, b.types[outs[0]].layout))
    table = fb.EmbeddingOpT(input=b.ref(flat), weight=b.ref(table_2d), out=b.ref(looked))
    b.emit(fb.OpType.EmbeddingOp, table, op.loc, op.name)
    b.reshape(looked, out_shape, op.loc, outs[0])


def _point_gather(b, op, ins, outs, sizes: list[int], windows: list[int]) -> None:
    """rows_gather <{column = true, sizes = S, windows = [1, ...]}>(input, indices [1, len(S), N])
    -> [1, N]: element n is the input (read row-major as a tensor of shape S) at the coordinates
    indices[0, :, n] (how tt-mlir lowers StableHLO's element-wise gather, e.g. nearest
    upsampling; read off its IR, checked against eager). The coordinates become one row-major
    index (an integer matmul with S's strides), then an embedding of the flattened input."""
    src, idx = b.types[ins[0]], b.types[ins[1]]
    n = idx.shape[-1]
    if (
        windows != [1] * len(sizes)
        or _flag(op.attrs, "fill_out_of_bounds")
        or math.prod(src.shape) != math.prod(sizes)
        or math.prod(idx.shape) != len(sizes) * n
        or math.prod(b.types[outs[0]].shape) != n
    ):
        raise TTNNImportError(f"{op.name} at {op.loc} with {op.attrs} on {src.shape} x {idx.shape} has no import")
    strides = [math.prod(sizes[d + 1 :]) for d in range(len(sizes))]
    coords = b.permute(b.reshape(ins[1], [len(sizes), n], op.loc), [1, 0], op.loc)
    stride_t = b.constant(np.array(strides).reshape(len(sizes), 1), idx.dtype, op.loc)
    linear = b.fresh(_Type([n, 1], idx.dtype, b.types[coords].layout))
    table = fb.MatmulOpT(a=b.ref(coords), b=b.ref(stride_t), out=b.ref(linear), transposeA=False, transposeB=False)
    b.emit(fb.OpType.MatmulOp, table, op.loc, op.name)
    flat = b.reshape(linear, [n], op.loc)
    column = b.reshape(ins[0], [math.prod(sizes), 1], op.loc)
    looked = b.fresh(_Type([n, 1], src.dtype, b.types[outs[0]].layout))
    b.emit(
        fb.OpType.EmbeddingOp,
        fb.EmbeddingOpT(input=b.ref(flat), weight=b.ref(column), out=b.ref(looked)),
        op.loc,
        op.name,
    )
    b.reshape(looked, list(b.types[outs[0]].shape), op.loc, outs[0])


def _conv1d(b, op, ins, outs):
    """conv1d: input (N, L, C) channels-last, weight (O, C/G, K), bias (1, 1, 1, O), result
    (1, 1, N * L_out, O) (TTNNOps.td, Conv1dOp): our conv2d on a height-1 image."""
    config = _compute_config(b, op)
    a = op.attrs
    tensors = [i for i, t in zip(ins, op.in_types) if t is not None]
    x, w = tensors[0], tensors[1]
    n, length, c = (b.types[x].shape + [1, 1, 1])[:3]
    wt = b.types[w]
    x4 = b.reshape(x, [1, 1, n * length, c], op.loc)
    w4 = b.reshape(w, [wt.shape[0], wt.shape[1], 1, wt.shape[2]], op.loc)
    pad = _ints(a, "padding")
    table = fb.Conv2dOpT(
        computeConfig=config,
        input=b.ref(x4),
        weight=b.ref(w4),
        bias=b.ref(tensors[2]) if len(tensors) > 2 else None,
        out=b.ref(outs[0]),
        inChannels=_int(a, "in_channels"),
        outChannels=_int(a, "out_channels"),
        batchSize=_int(a, "batch_size"),
        inputHeight=1,
        inputWidth=_int(a, "input_length"),
        kernelSize=[1, _int(a, "kernel_size")],
        stride=[1, _int(a, "stride")],
        padding=[0, 0, pad[0], pad[1]],
        dilation=[1, _int(a, "dilation")],
        groups=_int(a, "groups"),
    )
    b.emit(fb.OpType.Conv2dOp, table, op.loc, op.name)


def _deallocate(b, op, ins, outs):
    table = fb.DeallocateOpT(in_=b.ref(ins[0]), force=_flag(op.attrs, "force"))
    b.emit(fb.OpType.DeallocateOp, table, op.loc, op.name)


_BINARY = {k: v for k, v in ours.BINARY_NAMES.items()}
_BINARY.update(divide="Divide", equal="Equal", not_equal="NotEqual", less_than="LessThan", less_equal="LessEqual")
_BINARY.update(greater_than="GreaterThan", greater_equal="GreaterEqual", pow_tensor="Pow")

IMPORTS: dict[str, Rule] = {
    **{f"ttnn.{k}": _unary_rule(k) for k in ours.UNARY_NAMES},
    **{f"ttnn.{k}": _binary_rule(v) for k, v in _BINARY.items()},
    **{f"ttnn.{k}": _reduction_rule(v) for k, v in ours.REDUCTION_NAMES.items()},
    "ttnn.get_device": _skip,
    "ttnn.matmul": _matmul,
    "ttnn.linear": _linear,
    "ttnn.reshape": _reshape,
    "ttnn.permute": _permute,
    "ttnn.slice_static": _slice,
    "ttnn.concat": _concat,
    "ttnn.repeat": _repeat,
    "ttnn.where": _where,
    "ttnn.embedding": _embedding,
    "ttnn.full": _full_rule(None),
    "ttnn.constant": _constant,
    "ttnn.ones": _full_rule(1.0),
    "ttnn.zeros": _full_rule(0.0),
    "ttnn.softmax": _softmax,
    "ttnn.layer_norm": _norm_rule("LayerNorm"),
    "ttnn.rms_norm": _norm_rule("RmsNorm"),
    "ttnn.conv2d": _conv2d,
    "ttnn.max_pool2d": _pool_rule("Max"),
    "ttnn.avg_pool2d": _pool_rule("Avg"),
    "ttnn.to_device": _to_device,
    "ttnn.from_device": _from_device,
    "ttnn.to_layout": _to_layout,
    "ttnn.typecast": _typecast,
    "ttnn.deallocate": _deallocate,
    "ttnn.relu6": _unary_rule("relu6"),
    "ttnn.clamp_scalar": _clamp_scalar,
    "ttnn.clamp_tensor": _clamp_tensor,
    "ttnn.transpose": _transpose,
    "ttnn.arange": _arange,
    "ttnn.pad": _pad,
    "ttnn.cumsum": _cumsum,
    "ttnn.repeat_interleave": _repeat_interleave,
    "ttnn.sort": _sort,
    "ttnn.topk": _topk,
    "ttnn.rows_gather": _rows_gather,
    "ttnn.conv1d": _conv1d,
}


def _enter(b: _Builder, t: _Type, value: str, host: str, loc: str, rename: dict[str, str]) -> None:
    """A program input ``host`` (on the host) becomes ``value``: moved to the device into the
    layout tt-mlir declared for it, as tt-mlir's programs take their inputs."""
    b.types[host] = _Type(t.shape, t.dtype, None)
    if t.layout is None:
        rename[value] = host
        return
    b.types[value] = t
    dev = _Type(t.shape, t.dtype, _Layout(False, t.layout.buffer))
    mid = b.fresh(dev)
    b.emit(fb.OpType.ToDeviceOp, fb.ToDeviceOpT(in_=b.ref(host), out=b.ref(mid)), loc, "to_device")
    if t.layout.tile:
        _to_layout(b, _Op([value], "ttnn.to_layout", [mid], "", [dev], [t], loc), [mid], [value])
    else:
        rename[value] = mid


def _leave(b: _Builder, results: list[str]) -> list[fb.TensorRefT]:
    """The program's results, back on the host in row-major layout."""
    outputs = []
    for i, r in enumerate(results):
        t = b.types[r]
        if t.layout is not None:
            if t.layout.tile:
                rm = b.fresh(_Type(t.shape, t.dtype, _Layout(False, t.layout.buffer)))
                _to_layout(b, _Op([rm], "ttnn.to_layout", [r], "", [t], [b.types[rm]], f"output {i}"), [r], [rm])
                r = rm
            host = b.fresh(_Type(t.shape, t.dtype, None))
            table = fb.FromDeviceOpT(in_=b.ref(r), out=b.ref(host))
            b.emit(fb.OpType.FromDeviceOp, table, f"output {i}", "from_device")
            r = host
        outputs.append(b.ref(r))
    return outputs


@dataclass
class ConstEvalCall:
    """One ``ttcore.load_cached`` of tt-mlir's main: private program ``program`` of the imported
    binary runs on main's inputs ``args`` (indices); its outputs are main's inputs ``outputs``."""

    program: int
    args: list[int]
    outputs: list[int]


class ConstEvalRunner:
    """Runs the const-eval programs of an imported binary once per version of their inputs.

    tt-mlir's ``load_cached`` computes a const-eval function once and reuses its results until
    its inputs change; here each call is cached on the stamps of the tensors it reads (identity,
    storage, version counter: ``tt_torch.runtime.versions``), as tt-torch's own const-eval is.
    """

    def __init__(self, calls: list[ConstEvalCall]):
        self.calls = calls
        self._cache: dict[int, tuple] = {}
        # JSON-able, updated in place: the compile report shows it
        self.stats = {"programs": len(calls), "runs": 0}

    def inputs(self, submit, originals: list, host: list) -> list:
        """``host`` (the user's inputs, narrowed to main's types) followed by the const-eval
        results main takes; ``submit(program, inputs)`` runs one program, ``originals`` are the
        caller's tensors (their stamps key the cache)."""
        full = list(host) + [None] * sum(len(c.outputs) for c in self.calls)
        for k, call in enumerate(self.calls):
            stamp = tuple(tensor_stamp(originals[i]) for i in call.args)
            entry = self._cache.get(k)
            if entry is None or entry[0] != stamp:
                outs = submit(call.program, [host[i] for i in call.args])
                # the read tensors stay referenced, so their ids cannot be reused while cached
                entry = self._cache[k] = (stamp, outs, [originals[i] for i in call.args])
                self.stats["runs"] += 1
            for j, out in zip(call.outputs, entry[1]):
                full[j] = out
        return full


def import_program(ttnn_text: str, target: str = "n150", arg_names: list[str] | None = None) -> ImportedProgram:
    """tt-mlir's TTNN module text -> a tt-torch ``.ttnn`` whose program 0 is tt-mlir's ``main``.

    When every ``ttcore.load_cached`` of main reads main's arguments only (the usual case), each
    becomes a private program of its own whose results main takes as extra inputs
    (``ImportedProgram.const_evals``: run them with :class:`ConstEvalRunner`); otherwise the
    const-eval functions are inlined where they are called.
    """
    funcs = parse(ttnn_text)
    public = [f for f in funcs.values() if "const_eval" not in f.name]
    if not public:
        raise TTNNImportError("tt-mlir's TTNN module has no public function to import")
    main = public[0]
    b = _Builder(funcs)
    inputs = []
    rename: dict[str, str] = {}
    for i, (arg, t) in enumerate(zip(main.args, main.arg_types)):
        host = f"%__input{i}"
        _enter(b, t, arg, host, f"input {i}", rename)
        name = arg_names[i] if arg_names and i < len(arg_names) else f"input{i}"
        inputs.append(fb.ProgramArgT(ref=b.ref(host), argType=fb.ArgumentType.Input, name=name))
    cached = [op for op in main.ops if op.name == "ttcore.load_cached"]
    calls: list[ConstEvalCall] = []
    private: list = []
    counts: dict[str, int] = {}
    if all(o in main.args for op in cached for o in op.operands):
        for op in cached:
            callee = funcs[op.attrs]
            ce = _Builder(funcs)
            ce_inputs, ce_rename = [], {}
            for j, (arg, t) in enumerate(zip(callee.args, callee.arg_types)):
                _enter(ce, t, arg, f"%__input{j}", f"input {j}", ce_rename)
                ce_inputs.append(
                    fb.ProgramArgT(ref=ce.ref(f"%__input{j}"), argType=fb.ArgumentType.Input, name=f"input{j}")
                )
            outs = _leave(ce, ce.function(callee, ce_rename, ""))
            program_index = 1 + len(private)
            private.append(
                fb.ProgramT(name=op.attrs, inputs=ce_inputs, outputs=outs, operations=ce.operations, private=True)
            )
            for k, v in ce.counts.items():
                counts[k] = counts.get(k, 0) + v
            b.compute_configs += ce.compute_configs
            first = len(inputs)
            for r, t in zip(op.results, op.out_types):
                host = f"%__consteval{len(inputs)}"
                _enter(b, t, r, host, f"{op.attrs} result", rename)
                name = f"{op.attrs}:{len(inputs) - first}"
                inputs.append(fb.ProgramArgT(ref=b.ref(host), argType=fb.ArgumentType.Constant, name=name))
            args = [main.args.index(o) for o in op.operands]
            calls.append(ConstEvalCall(program_index, args, list(range(first, len(inputs)))))
        b.cached = True
    outputs = _leave(b, b.function(main, rename, ""))
    for k, v in b.counts.items():
        counts[k] = counts.get(k, 0) + v
    program = fb.ProgramT(name=main.name, inputs=inputs, outputs=outputs, operations=b.operations, private=False)
    data = ours.package([program, *private], ours.system_desc_of(target), [("ttnn (tt-mlir)", ttnn_text)])
    return ImportedProgram(data, b.compute_configs, counts, calls)
