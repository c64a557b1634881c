"""A tensor-parallel sharding plan, in PyTorch's vocabulary, without a process group.

``CompilerConfig.sharding_plan`` maps names to how they are split over the chips of the
mesh (``BackendOptions.devices[0]``'s, else the target's):

- a module path to a ``torch.distributed.tensor.parallel`` style: ``ColwiseParallel()``
  (a Linear's output features split: weight and bias ``Shard(0)``) or
  ``RowwiseParallel()`` (its input features split: weight ``Shard(1)``, bias replicated
  and added once, after the partial sums are reduced);
- a parameter or buffer name to a placement, ``Shard(dim)`` or ``Replicate()``
  (``torch.distributed.tensor``'s, or this module's own).

Only the style and placement classes are used: no ``init_process_group``, no DTensor.
Everything not named is replicated. :func:`normalize` turns a plan into
``{parameter name: Shard | Replicate}``; ``tt_torch.parallel.partition`` propagates it
through the graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tt_torch.errors import ConfigError


@dataclass(frozen=True)
class Shard:
    """Split along ``dim`` into one contiguous piece per chip.

    ``outer`` > 1: the dim is read as ``[outer, size // outer]`` and the second factor is
    split (what a reshape that merges a batch dim into a sharded heads dim leaves)."""

    dim: int
    outer: int = 1

    def __repr__(self) -> str:
        return f"Shard({self.dim})" if self.outer == 1 else f"Shard({self.dim}, outer={self.outer})"


@dataclass(frozen=True)
class Replicate:
    """Every chip holds the whole tensor."""

    def __repr__(self) -> str:
        return "Replicate()"


@dataclass(frozen=True)
class Partial:
    """Every chip holds a partial sum; the tensor is their sum (after a row-parallel matmul)."""

    def __repr__(self) -> str:
        return "Partial()"


Placement = Shard | Replicate | Partial
EXAMPLE = (
    "e.g. sharding_plan={'mlp.fc1': ColwiseParallel(), 'mlp.fc2': RowwiseParallel()} "
    "(torch.distributed.tensor.parallel) or {'fc1.weight': Shard(0), 'fc1.bias': Shard(0)} "
    "(torch.distributed.tensor.Shard / Replicate)"
)


def placement_of(value: Any, where: str) -> Shard | Replicate:
    """A placement from ours or ``torch.distributed.tensor``'s classes."""
    if isinstance(value, (Shard, Replicate)):
        return value
    kind = type(value).__name__
    if kind == "Shard" and isinstance(getattr(value, "dim", None), int):
        return Shard(value.dim)
    if kind == "Replicate":
        return Replicate()
    raise ConfigError(f"sharding_plan[{where!r}] = {value!r} is not a placement or a parallel style; {EXAMPLE}")


def _style_placements(path: str, style: Any) -> dict[str, Shard | Replicate] | None:
    """The parameter placements of a ``torch.distributed.tensor.parallel`` style on a Linear."""
    kind = type(style).__name__
    if kind == "ColwiseParallel":
        return {f"{path}.weight": Shard(0), f"{path}.bias": Shard(0)}
    if kind == "RowwiseParallel":
        return {f"{path}.weight": Shard(1), f"{path}.bias": Replicate()}
    if kind in ("SequenceParallel", "PrepareModuleInput", "PrepareModuleOutput"):
        raise ConfigError(
            f"sharding_plan[{path!r}] = {kind}: only ColwiseParallel and RowwiseParallel styles (on Linear "
            f"modules) and Shard/Replicate placements of parameters are supported; {EXAMPLE}"
        )
    return None


def check(plan: Any) -> dict:
    """Validates a plan's form (the names are checked against the model when it compiles)."""
    if not isinstance(plan, dict):
        raise ConfigError(f"sharding_plan must be a dict, got {type(plan).__name__}; {EXAMPLE}")
    for key, value in plan.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"sharding_plan keys are module paths or parameter names, got {key!r}; {EXAMPLE}")
        if _style_placements(key, value) is None:
            placement_of(value, key)
    return dict(plan)


def normalize(plan: dict, names: list[str]) -> dict[str, Shard | Replicate]:
    """``{parameter name: placement}`` for the parameters in ``names`` (the graph's state).

    A module path or parameter the model does not have is a ConfigError listing what it has.
    """
    out: dict[str, Shard | Replicate] = {}
    known = set(names)
    for key, value in plan.items():
        styled = _style_placements(key, value)
        if styled is not None:
            found = {k: v for k, v in styled.items() if k in known}
            if f"{key}.weight" not in found:
                raise ConfigError(_unknown(key, "a module with a weight", names))
            out.update(found)
        else:
            if key not in known:
                raise ConfigError(_unknown(key, "a parameter or buffer", names))
            out[key] = placement_of(value, key)
    return out


def _unknown(key: str, what: str, names: list[str]) -> str:
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    return f"sharding_plan names {key!r}, which is not {what} of the model; its parameters: {shown}"
