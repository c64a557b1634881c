"""``compile_onnx``: an ONNX model through tt-torch's compiler, as a callable model.

    model = compile_onnx("model.onnx")                 # or an onnx.ModelProto
    outputs = model(x)                                 # numpy arrays or torch tensors in
    outputs[0], outputs["logits"]                      # outputs in order, and by name
    model.export("model.ttnn")                         # tt-torch run model.ttnn --golden

The model goes through :mod:`tt_torch.frontend.onnx_importer` (ONNX -> StableHLO, weights as
``parameter`` arguments) into the same compiler as torch models
(:func:`tt_torch.compiler.pipelines.compile_stablehlo`), then the runtime. The compile depth
of the ``CompilerConfig`` decides what a call does, as for torch models:

- ``EXECUTE`` (default): the program runs on the emulated device;
- ``COMPILE_OP_BY_OP`` / ``EXECUTE_OP_BY_OP`` (``OpByOpBackend.STABLEHLO``): on the first
  call, every unique StableHLO op is compiled (and run) on its own, each record naming its
  ONNX node; the outputs come from ONNX Runtime;
- ``TORCH_FX`` / ``STABLEHLO`` / ``TTNN_IR``: compiled that far, outputs from ONNX Runtime.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
import torch
import torch.fx as fx

from tt_torch import op_by_op as obo
from tt_torch import runtime
from tt_torch.compiler import pipelines
from tt_torch.compiler.options import CompileOptions
from tt_torch.config import CompileDepth, CompilerConfig, OpByOpBackend
from tt_torch.dynamo.artifacts import CompileArtifacts, GraphArtifacts
from tt_torch.errors import CompileError, ConfigError, TTTorchError
from tt_torch.exporter import DEFAULT_EMBED_LIMIT, ExportResult, export_artifacts
from tt_torch.frontend import onnx_importer

from . import fallback, node_by_node, nodes, reference

_LOG = logging.getLogger(__name__)

__all__ = ["OnnxModel", "OnnxOutputs", "compile_onnx"]


class OnnxOutputs(tuple):
    """A model's outputs in the graph's order; ``outputs["name"]`` gives one by its ONNX name."""

    names: tuple[str, ...]

    def __new__(cls, values: Sequence[torch.Tensor], names: Sequence[str]):
        self = super().__new__(cls, values)
        self.names = tuple(names)
        return self

    def __getitem__(self, key):
        if isinstance(key, str):
            if key not in self.names:
                raise KeyError(f"the model has no output '{key}'; its outputs are {list(self.names)}")
            key = self.names.index(key)
        return super().__getitem__(key)

    def as_dict(self) -> dict[str, torch.Tensor]:
        return dict(zip(self.names, self))


def compile_onnx(
    model_proto_or_path: onnx.ModelProto | str | os.PathLike,
    compiler_config: CompilerConfig | None = None,
    *,
    input_shapes: dict[str, Sequence[int]] | list[Sequence[int]] | None = None,
    constant_inputs: dict[str, np.ndarray] | None = None,
    device: Any = None,
    artifacts: CompileArtifacts | None = None,
) -> OnnxModel:
    """Compiles an ONNX model (a ModelProto, or the path of an ``.onnx`` file, whose external
    data is read from beside it) for tt-torch's device.

    ``input_shapes`` binds the input dims the model leaves dynamic (by input name, or one
    shape per input); ``constant_inputs`` compiles inputs as fixed values (by name: axes,
    sizes or pads that must be known to compile; the model then takes the other inputs);
    ``device``: an open device (None: one is opened on first use);
    ``artifacts``: collects the compile's IR texts and report, as ``BackendOptions.artifacts``.
    """
    config = compiler_config if compiler_config is not None else CompilerConfig()
    if not isinstance(config, CompilerConfig):
        raise ConfigError(f"compiler_config must be a CompilerConfig, got {type(config).__name__}")
    if config.compiler != "tt-torch":
        raise ConfigError(f"ONNX models compile with compiler='tt-torch' only, got compiler={config.compiler!r}")
    if (
        config.compile_depth in (CompileDepth.COMPILE_OP_BY_OP, CompileDepth.EXECUTE_OP_BY_OP)
        and config.op_by_op_backend != OpByOpBackend.STABLEHLO
    ):
        raise ConfigError(
            "ONNX models go op by op on their StableHLO: set CompilerConfig.op_by_op_backend = OpByOpBackend.STABLEHLO "
            "(OpByOpBackend.TORCH splits an FX graph, which an ONNX model does not have)"
        )
    return OnnxModel(model_proto_or_path, config, input_shapes, device, artifacts, constant_inputs)


class OnnxModel:
    """A compiled ONNX model. Call it with the graph's inputs (positionally, or by name)."""

    def __init__(self, model, config: CompilerConfig, input_shapes, device, artifacts, constant_inputs=None):
        t0 = time.perf_counter()
        self.config = config
        self.source = onnx_importer.load(model, os.path.dirname(os.fspath(model)) if _is_path(model) else None)
        self.constant_inputs = {k: np.asarray(v) for k, v in (constant_inputs or {}).items()}
        self.prepared = onnx_importer.prepare(self.source, input_shapes, self.constant_inputs)
        self.artifacts = artifacts if artifacts is not None else CompileArtifacts()
        self.input_names = [i.name for i in self.prepared.inputs]
        self.output_names = [o.name for o in self.prepared.outputs]
        self._device = device
        self._own_device = False
        self._binary = None
        self._session = None
        self._op_by_op_done = False
        self._fallback: fallback.Fallback | None = None
        signature = tuple((i.name, i.shape, str(i.dtype)) for i in self.prepared.inputs)
        self.graph = GraphArtifacts(name=self.prepared.name, input_signature=signature)
        self.artifacts.graphs.append(self.graph)
        if self.prepared.converted_from is not None:
            self.graph.report["onnx_opset_converted"] = [self.prepared.converted_from, self.prepared.opset]
        depth = config.compile_depth
        try:
            self._compile_whole(depth)
        except CompileError as e:  # FrontendError and LoweringError included
            if depth in (CompileDepth.COMPILE_OP_BY_OP, CompileDepth.EXECUTE_OP_BY_OP):
                # op by op takes the nodes one at a time: one that does not import is its record's error
                self.graph.report["stablehlo_error"] = str(e)
            elif config.enable_cpu_fallback and depth in (CompileDepth.TTNN_IR, CompileDepth.EXECUTE):
                self._with_cpu_fallback(e)
            else:
                raise
        if depth == CompileDepth.EXECUTE and self._fallback is None:
            self._binary = runtime.load_binary(self.graph.flatbuffer)
            self._in_dtypes = [runtime.torch_dtype(d["dtype"]) for d in self._binary.program_inputs(0)]
            # what export and the goldens need: every program input, and the ONNX Runtime reference
            self.graph.fx_module = _reference_graph(self)
        self.graph.stage_seconds["total"] = time.perf_counter() - t0

    def _compile_whole(self, depth: CompileDepth) -> None:
        t = time.perf_counter()
        module = onnx_importer.import_stablehlo(self.prepared)
        self.graph.stablehlo = module.operation.get_asm(enable_debug_info=True, large_elements_limit=16)
        self.graph.stage_seconds["onnx_import"] = time.perf_counter() - t
        if depth in (CompileDepth.TTNN_IR, CompileDepth.EXECUTE):
            options = CompileOptions.from_config(
                self.config,
                verify_each_pass=self.config.verify_passes,
                arg_names=self.prepared.arg_names,
                arg_kinds=self.prepared.arg_kinds,
                emit_flatbuffer=depth == CompileDepth.EXECUTE,
            )
            result = pipelines.compile_stablehlo(module, options)
            self.graph.ttir, self.graph.ttnn, self.graph.flatbuffer = result.ttir, result.ttnn, result.flatbuffer
            self.graph.report.update(result.report)
            self.graph.stage_seconds.update(result.stage_seconds)

    def _with_cpu_fallback(self, error: CompileError) -> None:
        """The nodes the device path refuses on the host, the others in device partitions
        (:mod:`.fallback`); reported in ``self.report["cpu_fallback"]``."""
        t = time.perf_counter()
        strict = dataclasses.replace(self.config, enable_cpu_fallback=False)
        execute = self.config.compile_depth == CompileDepth.EXECUTE

        def compile_partition(proto: onnx.ModelProto) -> OnnxModel:
            return OnnxModel(proto, strict, None, None, None)

        graph = nodes.Graph.of(self.prepared)
        self._fallback = fallback.compile_with_fallback(graph, self.config, error, compile_partition, execute)
        report = self._fallback.report
        self.graph.stablehlo = report.pop("stablehlo")
        self.graph.ttir, self.graph.ttnn = report.pop("ttir"), report.pop("ttnn")
        self.graph.report["cpu_fallback"] = report
        self.graph.stage_seconds["cpu_fallback"] = time.perf_counter() - t

    @property
    def report(self) -> dict[str, Any]:
        """The compile's report (``report["cpu_fallback"]`` when nodes run on the host)."""
        return self.graph.report

    # --- calling -------------------------------------------------------------------------

    def __call__(self, *args, **kwargs) -> OnnxOutputs:
        inputs = self._inputs(args, kwargs)
        depth = self.config.compile_depth
        if depth == CompileDepth.EXECUTE and self._fallback is not None:
            outs = self._run_with_fallback(inputs)
        elif depth == CompileDepth.EXECUTE:
            outs = self._run_device(inputs)
        else:
            if depth in (CompileDepth.COMPILE_OP_BY_OP, CompileDepth.EXECUTE_OP_BY_OP) and not self._op_by_op_done:
                self._op_by_op(inputs)
            outs = self.run_reference(inputs)
        return OnnxOutputs(outs, self.output_names)

    def _inputs(self, args: tuple, kwargs: dict) -> list[torch.Tensor]:
        infos = self.prepared.inputs
        if len(args) > len(infos):
            raise TTTorchError(f"the model takes {len(infos)} inputs ({', '.join(self.input_names)}), got {len(args)}")
        values: dict[str, Any] = dict(zip(self.input_names, args))
        for name, value in kwargs.items():
            if name not in self.input_names:
                raise TTTorchError(f"the model has no input '{name}'; its inputs are {self.input_names}")
            if name in values:
                raise TTTorchError(f"input '{name}' is given twice (by position and by name)")
            values[name] = value
        out = []
        for info in infos:
            if info.name not in values:
                raise TTTorchError(f"input '{info.name}' is missing; the model takes {self.input_names}")
            t = values[info.name]
            t = torch.from_numpy(np.array(t, copy=True)) if isinstance(t, (np.ndarray, np.generic)) else t
            if not isinstance(t, torch.Tensor):
                raise TTTorchError(f"input '{info.name}' must be a numpy array or torch tensor, got {type(t).__name__}")
            if tuple(t.shape) != info.shape or t.dtype != info.dtype:
                raise TTTorchError(
                    f"input '{info.name}' is {tuple(t.shape)} {t.dtype}; the model was compiled for {info.shape} "
                    f"{info.dtype} (compile again with input_shapes= for other shapes)"
                )
            out.append(t)
        return out

    def program_inputs(self, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """The device program's arguments: the user's inputs, then the weights."""
        return list(inputs) + list(self.prepared.weights.values())

    def _run_device(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        full = self.program_inputs(inputs)
        host = [runtime.narrow(t, dt, n) for t, dt, n in zip(full, self._in_dtypes, self.prepared.arg_names)]
        self.graph.program_inputs = full
        outs = runtime.submit(self.device, self._binary, 0, host)
        return [o if o.dtype == info.dtype else o.to(info.dtype) for o, info in zip(outs, self.prepared.outputs)]

    def _run_with_fallback(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        for part in self._fallback.partitions:  # one device for all partitions
            if part._device is None:
                part._device = self.device
        outs = self._fallback.run(self.program_inputs(inputs))
        return [o if o.dtype == info.dtype else o.to(info.dtype) for o, info in zip(outs, self.prepared.outputs)]

    def run_reference(self, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """The outputs of ONNX Runtime (on the CPU) on the user's ``inputs``."""
        if self._session is None:
            self._session = reference.session(self.source)
        return reference.run(self._session, inputs, self.constant_inputs)

    def _op_by_op(self, inputs: list[torch.Tensor]) -> None:
        config = self.config
        if not config.model_name:
            config = dataclasses.replace(config, model_name=self.prepared.name)
        program_inputs = self.program_inputs(inputs)

        def collect(base, execute, worker, progress):
            return node_by_node.collect(self.prepared, program_inputs, base, execute, worker, progress)

        summary = obo.run_graph(None, program_inputs, config, self.prepared.name, collect=collect)
        self.graph.report["op_by_op"] = dataclasses.asdict(summary)
        self._op_by_op_done = True

    @property
    def device(self):
        if self._device is None:
            binary = self._binary
            if binary is None and self._fallback is not None and self._fallback.partitions:
                binary = self._fallback.partitions[0]._binary
            self._device = runtime.open_device_for_target(self.config.target, binary, self.config.numerics)
            self._own_device = True
        return self._device

    def close(self) -> None:
        """Closes the device this model opened (a device given to ``compile_onnx`` stays open)."""
        if self._own_device and self._device is not None:
            runtime.close_device(self._device)
        self._device = None
        self._own_device = False

    # --- export --------------------------------------------------------------------------

    def export(
        self,
        path: str | os.PathLike,
        example_inputs: Sequence[torch.Tensor] | None = None,
        *,
        embed_limit: int = DEFAULT_EMBED_LIMIT,
        include_mlir: bool = True,
        golden: bool = True,
    ) -> ExportResult:
        """Writes the program and its weights to one ``.ttnn`` (weights of ``embed_limit`` bytes or
        more in ``<path>.weights``). Goldens are ONNX Runtime's outputs on ``example_inputs``
        (default: the last call's inputs, else random ones)."""
        if self.config.compile_depth != CompileDepth.EXECUTE:
            raise ConfigError(
                f"export needs compile_depth=EXECUTE (a flatbuffer), got {self.config.compile_depth.name}"
            )
        if example_inputs is not None:
            self.graph.program_inputs = self.program_inputs(self._inputs(tuple(example_inputs), {}))
        elif self.graph.program_inputs is None:
            self.graph.program_inputs = self.program_inputs(random_inputs(self.prepared.inputs))
        only = CompileArtifacts(graphs=[self.graph])
        result = export_artifacts(
            only, path, embed_limit=embed_limit, include_mlir=include_mlir, golden=golden, config=self.config
        )
        return result


def random_inputs(infos: Sequence[onnx_importer.TensorInfo], seed: int = 0) -> list[torch.Tensor]:
    """Inputs for a model's declared inputs: floats uniform in [-0.5, 0.5), integers in [0, 2), bools."""
    generator = torch.Generator().manual_seed(seed)
    out = []
    for info in infos:
        if info.dtype.is_floating_point:
            out.append((torch.rand(info.shape, generator=generator) - 0.5).to(info.dtype))
        elif info.dtype == torch.bool:
            out.append(torch.randint(0, 2, info.shape, generator=generator).bool())
        else:
            out.append(torch.randint(0, 2, info.shape, generator=generator).to(info.dtype))
    return out


def _is_path(model: object) -> bool:
    return isinstance(model, (str, os.PathLike))


class _Reference:
    """ONNX Runtime on the model's user inputs (the weights, given too, are the model's own)."""

    def __init__(self, model: OnnxModel):
        self.model = model
        self.__name__ = "onnx_runtime"

    def __call__(self, *program_inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        user = program_inputs[: len(self.model.prepared.inputs)]
        return tuple(self.model.run_reference(user))


def _reference_graph(model: OnnxModel) -> fx.GraphModule:
    """An FX graph of the program's signature whose one call is ONNX Runtime: what the exporter
    reads for output dtypes and computes goldens with."""
    graph = fx.Graph()
    args = [graph.placeholder(f"arg{k}") for k in range(len(model.prepared.arg_names))]
    call = graph.call_function(_Reference(model), tuple(args))
    outs = []
    for k, info in enumerate(model.prepared.outputs):
        node = graph.call_function(_getitem, (call, k))
        node.meta["val"] = torch.empty(0, dtype=info.dtype)
        outs.append(node)
    graph.output(tuple(outs))
    return fx.GraphModule(torch.nn.Module(), graph)


def _getitem(values: tuple, k: int) -> torch.Tensor:
    return values[k]
