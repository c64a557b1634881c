"""A model's compiled programs as one self-contained ``.ttnn`` file.

    tt_torch.export(model, (x,), "model.ttnn")
    model = tt_torch.runtime.load("model.ttnn")     # same outputs, bit for bit

or, for a model already compiled with ``torch.compile`` (after its first call):

    artifacts = CompileArtifacts()
    compiled = torch.compile(model, backend="tt", options=BackendOptions(artifacts=artifacts))
    compiled(x)
    tt_torch.export_artifacts(artifacts, "model.ttnn")   # or artifacts.export("model.ttnn")

The file holds one program per compiled graph (graph breaks, input shapes), the
weights of every program (each program argument that is not a user input: the
parameters, and the consteval results computed from them, as the compiled model
feeds them), the system description, optionally the TTIR/TTNN text, and optionally
golden tensors recorded on the CPU: each program's inputs and outputs and, keyed by
location, the value of the FX node each op came from. Weights of at least
``embed_limit`` bytes go to a side file ``<name>.ttnn.weights`` next to it, referenced
by file name, offset, size and CRC-32.
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

import tt_torch
from tt_torch import intermediate, runtime
from tt_torch.compiler import pipelines
from tt_torch.compiler._generated_import import fb
from tt_torch.compiler.options import DEFAULT_TARGET, CompileOptions
from tt_torch.compiler.target.flatbuffer import package
from tt_torch.composite import node_of_location
from tt_torch.errors import TTTorchError
from tt_torch.frontend.importer import import_stablehlo
from tt_torch.frontend.passes import output_nodes

DEFAULT_EMBED_LIMIT = 1 << 20  # bytes; weights this large or larger go to the side file
_ALIGN = 64

_FB_DTYPES = {
    torch.float32: "Float32",
    torch.bfloat16: "BFloat16",
    torch.float16: "Float16",
    torch.int32: "Int32",
    torch.uint32: "UInt32",
    torch.uint16: "UInt16",
    torch.uint8: "UInt8",
}
# dtypes with no device type are recorded in the nearest one
_GOLDEN_CAST = {
    torch.float64: torch.float32,
    torch.int64: torch.int32,
    torch.uint64: torch.uint32,
    torch.bool: torch.uint8,
    torch.int16: torch.int32,
    torch.int8: torch.int32,
}


class ExportError(TTTorchError):
    """The model could not be exported."""


@dataclass
class ExportResult:
    path: str
    weights_path: str | None  # the side file, when some weight was too large to embed
    programs: list[str]
    size_bytes: int
    embedded_weights: int
    side_file_weights: int
    outputs: Any = None  # the compiled model's outputs on the example inputs
    extra: dict[str, Any] = field(default_factory=dict)


def export_artifacts(
    artifacts,
    path: str | os.PathLike,
    *,
    embed_limit: int = DEFAULT_EMBED_LIMIT,
    include_mlir: bool = True,
    golden: bool = True,
    consteval_programs: bool = False,
    config=None,
) -> ExportResult:
    """Writes every graph compiled into `artifacts` (and run at least once) to one ``.ttnn``.

    With `consteval_programs`, a graph's consteval subgraph becomes a private
    const-eval program of the file that the loader runs once (and caches) on the
    parameters, instead of its results being stored as weights; the C++ runner
    (demos/cpp_runner) reads weights only, so this is off by default.
    """
    for g in artifacts.graphs:
        fallback = g.report.get("cpu_fallback")
        if fallback:
            ops = ", ".join(dict.fromkeys(f"{e['op']}@{e['source'] or 'unknown'}" for e in fallback["ops"]))
            raise ExportError(
                f"graph {g.name} cannot be exported: {fallback['host_ops']} of its ops run on the CPU ({ops}) and a "
                ".ttnn holds device programs only. Compile with enable_cpu_fallback=False to see the error, or "
                "rewrite those model lines with supported ops (each op's error: the graph's report['cpu_fallback'])"
            )
    graphs = [g for g in artifacts.graphs if g.flatbuffer is not None]
    if not graphs:
        raise ExportError(
            "nothing to export: no graph was compiled to a flatbuffer; compile with compile_depth=EXECUTE "
            "(the default) and call the compiled model once"
        )
    for g in graphs:
        if g.program_inputs is None or g.fx_module is None:
            raise ExportError(
                f"graph {g.name} was compiled but never run, so its weights are unknown: call the compiled model "
                "once with the artifacts attached (BackendOptions(artifacts=...)) before exporting"
            )
    path = os.fspath(path)
    side_name = os.path.basename(path) + ".weights"
    side_path = os.path.join(os.path.dirname(path) or ".", side_name)
    writer = _WeightWriter(side_name, embed_limit)
    programs, goldens, infos = [], [], []
    target = _target_of(graphs[0].flatbuffer)
    for g in graphs:
        index = len(programs)
        program = _program_of(g.flatbuffer)
        program.name = g.name
        consteval = None
        if consteval_programs and g.consteval is not None:
            private = _consteval_program(g, target, writer)
            consteval = {"program": index + 1, "args": _consteval_args(program)}
        _bind_weights(program, g, writer, skip=set(consteval["args"]) if consteval else set())
        # a result written into an input's buffer (a KV cache row) is not a program output
        in_place = (g.report or {}).get("device", {}).get("in_place", [])
        dropped = {r for r, _ in in_place}
        nodes = output_nodes(g.fx_module)
        out_dtypes = [str(n.meta["val"].dtype) for i, n in enumerate(nodes) if i not in dropped]
        info = {"name": g.name, "output_dtypes": out_dtypes, "input_signature": repr(g.input_signature)}
        if in_place:
            info["in_place"] = in_place  # [result, input]: the program writes that input's buffer
        if consteval:
            info["consteval"] = consteval
        infos.append(info)
        if golden:
            goldens += _goldens(index, program, g)
        programs.append(program)
        if consteval:
            programs.append(private)
            infos.append({"name": private.name, "private": True})
    mlir = []
    if include_mlir:
        for g in graphs:
            for dialect in ("ttir", "ttnn"):
                text = getattr(g, dialect)
                if text is not None:
                    mlir.append((dialect if len(graphs) == 1 else f"{g.name}.{dialect}", text))
    export_info = {
        "tt_torch_version": _version(),
        "programs": infos,
        "weights_file": side_name if writer.side else None,
        "compiler_config": config.as_dict() if config is not None else None,
        "embed_limit": embed_limit,
    }
    data = package(
        programs,
        target=target,
        mlir_sources=mlir,
        weights=writer.tables,
        goldens=goldens,
        export_info=json.dumps(export_info, default=str),
    )
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if writer.side:
        _write_atomic(side_path, b"".join(writer.side))
    elif os.path.exists(side_path):
        os.remove(side_path)  # a stale side file of an earlier export would mislead
    _write_atomic(path, data)
    return ExportResult(
        path=path,
        weights_path=side_path if writer.side else None,
        programs=[p.name for p in programs],
        size_bytes=len(data),
        embedded_weights=writer.embedded,
        side_file_weights=writer.in_side_file,
    )


# --- helpers ------------------------------------------------------------------------
def _program_of(flatbuffer: bytes):
    binary = fb.BinaryT.InitFromPackedBuf(flatbuffer, 4)
    if not binary.programs or len(binary.programs) != 1:
        raise ExportError(f"a compiled graph's flatbuffer holds {len(binary.programs or [])} programs, expected 1")
    return binary.programs[0]


def _target_of(flatbuffer: bytes):
    return fb.BinaryT.InitFromPackedBuf(flatbuffer, 4).systemDesc


def _text(s) -> str:
    return s.decode() if isinstance(s, bytes) else (s or "")


def _torch_dtype(fb_dtype: int) -> torch.dtype:
    names = {
        getattr(fb.DataType, n): n for n in ("Float32", "BFloat16", "Float16", "Int32", "UInt32", "UInt16", "UInt8")
    }
    if fb_dtype not in names:
        raise ExportError(f"data type {fb_dtype} has no host tensor type (block-float weights are not supported yet)")
    return runtime.torch_dtype(names[fb_dtype])


def _raw(t: torch.Tensor) -> np.ndarray:
    return t.detach().contiguous().reshape(-1).view(torch.uint8).numpy()


def _desc(t: torch.Tensor):
    layout = fb.LayoutDescT(dataType=getattr(fb.DataType, _FB_DTYPES[t.dtype]), layout=fb.TensorLayout.RowMajor)
    return fb.TensorDescT(shape=list(t.shape), layout=layout)


class _WeightWriter:
    """Weight tables, deduplicated by name, embedded or appended to the side file."""

    def __init__(self, side_name: str, embed_limit: int):
        self.side_name = side_name
        self.embed_limit = embed_limit
        self.tables: list = []
        self.by_name: dict[str, torch.Tensor] = {}
        self.side: list[bytes] = []
        self.offset = 0
        self.embedded = 0
        self.in_side_file = 0

    def add(self, name: str, tensor: torch.Tensor) -> str:
        """Adds `tensor` as `name` (or under a new name if `name` holds another value); returns the name."""
        base, k = name, 0
        while name in self.by_name:
            other = self.by_name[name]
            if other.shape == tensor.shape and other.dtype == tensor.dtype and torch.equal(other, tensor):
                return name
            k += 1
            name = f"{base}#{k}"
        self.by_name[name] = tensor
        raw = _raw(tensor)
        data = raw.tobytes()
        table = fb.WeightT(name=name, desc=_desc(tensor), crc32=zlib.crc32(data))
        if raw.nbytes < self.embed_limit:
            table.data = raw
            self.embedded += 1
        else:
            table.file, table.offset, table.size = self.side_name, self.offset, len(data)
            pad = -len(data) % _ALIGN
            self.side += [data, bytes(pad)]
            self.offset += len(data) + pad
            self.in_side_file += 1
        self.tables.append(table)
        return name


def _bind_weights(program, g, writer: _WeightWriter, skip: set[str] = frozenset(), values=None) -> None:
    """Stores the value of every non-input argument of `program` as a weight (but those in `skip`)."""
    values = g.program_inputs if values is None else values
    if len(program.inputs or []) != len(values):
        raise ExportError(
            f"graph {g.name}: its program takes {len(program.inputs or [])} arguments but {len(values)} were recorded"
        )
    for arg, value in zip(program.inputs, values):
        if arg.argType == fb.ArgumentType.Input or _text(arg.name) in skip:
            continue
        tensor = runtime.narrow(value.detach(), _torch_dtype(arg.ref.desc.layout.dataType), _text(arg.name))
        arg.name = writer.add(_text(arg.name), tensor)


def _consteval_args(program) -> dict[str, int]:
    """The forward program's consteval arguments: name -> output index of the const-eval program."""
    out = {}
    for arg in program.inputs or []:
        name = _text(arg.name)
        if arg.argType == fb.ArgumentType.Constant and name.startswith("consteval_"):
            out[name] = int(name.removeprefix("consteval_"))
    return out


def _consteval_program(g, target, writer: _WeightWriter):
    """The graph's consteval FX graph compiled as a private program, its parameters stored as weights."""
    graph, names, values = g.consteval
    module = import_stablehlo(graph, func_name=f"{g.name}.consteval")
    options = CompileOptions(
        target=_text(target.name) or DEFAULT_TARGET, arg_names=list(names), arg_kinds=["parameter"] * len(names)
    )
    result = pipelines.compile_stablehlo(module, options)
    program = _program_of(result.flatbuffer)
    program.name, program.private = f"{g.name}.consteval", True
    _bind_weights(program, g, writer, values=values)
    return program


def _golden_table(key: str, program: int, t: torch.Tensor):
    t = t.detach().cpu()
    t = t.to(_GOLDEN_CAST.get(t.dtype, t.dtype))
    if t.dtype not in _FB_DTYPES:
        return None
    return fb.GoldenTensorT(key=key, program=program, desc=_desc(t), data=_raw(t))


def _goldens(index: int, program, g) -> list:
    """Inputs, outputs and per-op (by location) values of graph `g` on its recorded inputs, on the CPU."""
    values = intermediate.fx_node_values(g.fx_module, g.program_inputs)
    tables = []
    user = [(arg, t) for arg, t in zip(program.inputs, g.program_inputs) if arg.argType == fb.ArgumentType.Input]
    for i, (arg, t) in enumerate(user):
        tables.append(_golden_table(f"input:{i}", index, narrow_input(arg, t)))
    for i, node in enumerate(output_nodes(g.fx_module)):
        value = values.get(node.name)
        if value is None:  # an output that is an input or a constant: run the graph's own output
            value = _outputs_of(g)[i]
        tables.append(_golden_table(f"output:{i}", index, value))
    seen = set()
    for op in program.operations or []:
        loc = _text(op.locInfo)
        node = node_of_location(loc)
        if loc in seen or node not in values:
            continue
        seen.add(loc)
        tables.append(_golden_table(f"op:{loc}", index, values[node]))
    return [t for t in tables if t is not None]


def narrow_input(arg, t: torch.Tensor) -> torch.Tensor:
    return runtime.narrow(t.detach(), _torch_dtype(arg.ref.desc.layout.dataType), _text(arg.name))


def _outputs_of(g) -> list[torch.Tensor]:
    with torch.no_grad():
        return list(g.fx_module(*g.program_inputs))


def _version() -> str:
    return tt_torch.__version__


def _write_atomic(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


__all__ = ["DEFAULT_EMBED_LIMIT", "ExportError", "ExportResult", "export_artifacts"]
