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

_OP_NAMES = {v: k for k, v in vars(fb.OpType).items() if not k.startswith("_")}


def _refs(op_table) -> tuple[list[tuple[str, int]], int | None]:
    """([(field, global id) read], global id written) of one op's table (object API)."""
    reads, written = [], None
    for field, value in vars(op_table).items():
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, fb.TensorRefT):
                if field == "out":
                    written = v.globalId
                else:
                    reads.append((field.rstrip("_"), v.globalId))
    return reads, written


def _program_problems(index: int, program) -> list[str]:
    name = program.Name().decode("utf-8", "replace") if program.Name() else f"program_{index}"
    where = f"program {index} ('{name}')"
    live: set[int] = set()
    for i in range(program.InputsLength()):
        arg = program.Inputs(i)
        if arg is not None and arg.Ref() is not None:
            live.add(arg.Ref().GlobalId())
    freed: dict[int, int] = {}
    problems: list[str] = []
    for k in range(program.OperationsLength()):
        op = program.Operations(k)
        table = fb.OperationT.InitFromObj(op).type if op is not None else None
        if table is None:
            problems.append(f"{where} op {k} has no operation (corrupt binary?)")
            continue
        op_name = _OP_NAMES.get(op.TypeType(), str(op.TypeType()))
        loc = op.LocInfo().decode("utf-8", "replace") if op.LocInfo() else "unknown location"
        reads, written = _refs(table)
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


def _weight_problems(binary, index: int) -> list[str]:
    """A weight the file carries for a program argument must have that argument's shape and type."""
    problems = []
    names = set(binary.weight_names)
    for desc in binary.program_inputs(index):
        if desc["arg_type"] == "Input" or desc["name"] not in names:
            continue
        try:
            with translated_errors():
                weight = binary.weight(desc["name"])
        except (BinaryError, TTRuntimeError):
            continue  # unreadable weights are reported by the caller (tt-torch check reads each one)
        if list(weight.shape) != list(desc["shape"]):
            problems.append(
                f"program {index} argument '{desc['name']}' is declared {list(desc['shape'])}, but the file's "
                f"weight of that name is {list(weight.shape)}"
            )
    return problems


def dataflow_problems(binary) -> list[str]:
    """One sentence per fault: no programs, a read of a tensor never produced or already
    deallocated, an output that is not live at the end, a weight whose shape is not its
    argument's."""
    with translated_errors():
        data = bytes(binary_bytes(binary))
        root = fb.Binary.GetRootAs(data, 4)
        if root.ProgramsLength() == 0:
            return ["the file holds no programs"]
        problems = []
        for i in range(root.ProgramsLength()):
            problems += _program_problems(i, root.Programs(i)) + _weight_problems(binary, i)
    return problems
