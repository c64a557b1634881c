"""What a binary's programs do with their tensors, checked without running them.

The runtime fails at run time when an op reads a tensor that no earlier op (or program
input) produced, or one that was already deallocated; :func:`dataflow_problems` finds
the same faults statically, so ``tt-torch check`` can say that a file cannot run.
"""

from __future__ import annotations

from tt_torch._generated import binary_generated as fb
from tt_torch.errors import BinaryError, TTRuntimeError

from .binary_info import binary_bytes
from .core import translated_errors
from .loaded import LoadedModel, export_info

_OP_NAMES = {v: k for k, v in vars(fb.OpType).items() if not k.startswith("_")}


def _values(enum) -> set[int]:
    return {v for k, v in vars(enum).items() if not k.startswith("_") and isinstance(v, int)}


_DATA_TYPES, _BUFFERS = _values(fb.DataType), _values(fb.BufferType)
_LAYOUTS = {fb.TensorLayout.RowMajor, fb.TensorLayout.Tile}
MAX_ELEMENTS = 1 << 48  # the runtime's bound on one tensor (csrc/runtime/common.cpp describe)


def desc_problem(ref) -> str | None:
    """Why the runtime would refuse this tensor reference's description, as it does in describe()."""
    desc = ref.desc
    if desc is None or desc.shape is None or desc.layout is None:
        return "has no shape or layout"
    dims = [int(d) for d in desc.shape]  # Python ints: numpy's int64 product would wrap around
    numel = 1
    for d in dims:
        numel *= d
        if d < 0 or numel > MAX_ELEMENTS:
            rank = f" ({len(dims)} dims)" if len(dims) > 8 else ""
            return f"has an impossible shape {dims[:8]}{rank}"
    layout = desc.layout
    if layout.dataType not in _DATA_TYPES:
        return f"has an unknown data type {layout.dataType}"
    if layout.layout not in _LAYOUTS:
        return f"has an unknown layout {layout.layout}"
    if layout.memoryConfig is not None and layout.memoryConfig.bufferType not in _BUFFERS:
        return f"has an unknown buffer type {layout.memoryConfig.bufferType}"
    return None


def _refs(op_table) -> tuple[list[tuple[str, int]], int | None, list[str]]:
    """([(field, global id) read], global id written, [problems of the references' descriptions])
    of one op's table (object API)."""
    reads, written, problems = [], None, []
    for field, value in vars(op_table).items():
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, fb.TensorRefT):
                name = field.rstrip("_")
                if field == "out":
                    written = v.globalId
                else:
                    reads.append((name, v.globalId))
                why = desc_problem(v)
                if why is not None:
                    problems.append(f"tensor '{name}' (%{v.globalId}) {why}")
    return reads, written, problems


def _program_problems(index: int, program) -> list[str]:
    name = program.Name().decode("utf-8", "replace") if program.Name() else f"program_{index}"
    where = f"program {index} ('{name}')"
    live: set[int] = set()
    problems: list[str] = []
    for i in range(program.InputsLength()):
        arg = program.Inputs(i)
        if arg is not None and arg.Ref() is not None:
            live.add(arg.Ref().GlobalId())
            why = desc_problem(fb.TensorRefT.InitFromObj(arg.Ref()))
            if why is not None:
                problems.append(f"{where} input {i} (%{arg.Ref().GlobalId()}) {why}")
    for i in range(program.OutputsLength()):
        ref = program.Outputs(i)
        why = desc_problem(fb.TensorRefT.InitFromObj(ref)) if ref is not None else "is missing"
        if why is not None:
            problems.append(f"{where} output {i} {why}")
    freed: dict[int, int] = {}
    for k in range(program.OperationsLength()):
        op = program.Operations(k)
        table = fb.OperationT.InitFromObj(op).type if op is not None else None
        if table is None:
            problems.append(f"{where} op {k} has no operation (corrupt binary?)")
            continue
        op_name = _OP_NAMES.get(op.TypeType(), str(op.TypeType()))
        loc = op.LocInfo().decode("utf-8", "replace") if op.LocInfo() else "unknown location"
        reads, written, desc_problems = _refs(table)
        problems += [f"{where} op {k} ({op_name} at {loc}): {p}" for p in desc_problems]
        for field, gid in reads:
            if gid in live:
                continue
            if gid in freed:
                problems.append(
                    f"{where} op {k} ({op_name} at {loc}) reads '{field}' %{gid} after op {freed[gid]} deallocated it"
                )
            else:
                problems.append(f"{where} op {k} ({op_name} at {loc}) reads '{field}' %{gid}, which nothing produces")
            live.add(gid)  # one report per tensor
        if op_name == "DeallocateOp":
            for _, gid in reads:
                live.discard(gid)
                freed[gid] = k
        if written is not None:
            live.add(written)
            freed.pop(written, None)
    for i in range(program.OutputsLength()):
        ref = program.Outputs(i)
        gid = ref.GlobalId() if ref is not None else None
        if gid is None or gid not in live:
            why = f"deallocated by op {freed[gid]}" if gid in freed else "never produced"
            problems.append(f"{where} output {i} (%{gid}) is {why}")
    return problems


def _without_ones(shape) -> list[int]:
    return [int(d) for d in shape if d != 1]


def _weight_problems(binary, index: int, computed: set[str]) -> list[str]:
    """Each weight argument of a program must be carried by the file (or computed by its
    const-eval program: `computed`), with that argument's shape."""
    problems = []
    names = set(binary.weight_names)
    for desc in binary.program_inputs(index):
        if desc["arg_type"] == "Input" or desc["name"] in computed:
            continue
        if desc["name"] not in names:
            problems.append(f"program {index} argument '{desc['name']}' is a weight the file does not carry")
            continue
        try:
            with translated_errors():
                weight = binary.weight(desc["name"])
        except (BinaryError, TTRuntimeError):
            continue  # unreadable weights are reported by the caller (tt-torch check reads each one)
        # a weight described on the device may lack the declared shape's size-1 dimensions
        same = desc.get("on_device") and _without_ones(weight.shape) == _without_ones(desc["shape"])
        if not same and list(weight.shape) != list(desc["shape"]):
            problems.append(
                f"program {index} argument '{desc['name']}' is declared {list(desc['shape'])}, but the file's "
                f"weight of that name is {list(weight.shape)}"
            )
    return problems


def _consteval_args(binary) -> tuple[dict[int, set[str]], list[str]]:
    """{program: arguments its const-eval program computes} from the export info, and its faults."""
    try:
        programs = export_info(binary).get("programs", [])
        computed = {}
        for i in range(len(programs) if isinstance(programs, list) else 0):
            with translated_errors():
                ce = LoadedModel(binary)._consteval(i)  # validates the mapping; opens no device
            if ce is not None:
                computed[i] = set(ce[1])
        return computed, []
    except (BinaryError, TTRuntimeError) as e:
        return {}, [str(e)]


def dataflow_problems(binary) -> list[str]:
    """One sentence per fault: no programs, an export info that does not parse, a tensor
    description the runtime refuses, a read of a tensor never produced or already
    deallocated, an output that is not live at the end, a weight argument the file does
    not carry or whose shape is not its argument's."""
    with translated_errors():
        data = bytes(binary_bytes(binary))
    root = fb.Binary.GetRootAs(data, 4)
    if root.ProgramsLength() == 0:
        return ["the file holds no programs"]
    computed, problems = _consteval_args(binary)
    for i in range(root.ProgramsLength()):
        problems += _program_problems(i, root.Programs(i))
        try:
            with translated_errors():
                problems += _weight_problems(binary, i, computed.get(i, set()))
        except (BinaryError, TTRuntimeError) as e:
            problems.append(f"program {i}: {e}")
    return problems
