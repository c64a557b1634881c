"""The runtime's side of a mesh spread over processes (Device.set_mesh_transport), with no
torch.distributed: threads stand in for the processes and a barrier for the all_gather. In bf16,
where the order of the additions shows, every split of the 8 chips gives the one-process bits."""

from __future__ import annotations

import threading

import pytest
import torch
from torch_mlir import ir

from tests.multichip.test_tensor_parallel import COLLECTIVES
from tt_torch import runtime
from tt_torch.compiler import context, pipelines
from tt_torch.compiler.options import CompileOptions
from tt_torch.errors import TTRuntimeError


@pytest.fixture(scope="module")
def binary():
    module = ir.Module.parse(COLLECTIVES, context.new_context())
    result = pipelines.compile_stablehlo(module, CompileOptions(target="t3k", cache_dir="off"))
    return runtime.load_binary(result.flatbuffer)


class ThreadWorld:
    """``ranks`` threads that exchange their chips' tensors as ranks of an all_gather would."""

    def __init__(self, ranks: int) -> None:
        self.barrier = threading.Barrier(ranks)
        self.slots: list[list[torch.Tensor]] = [[] for _ in range(ranks)]
        self.calls: list[list[str]] = [[] for _ in range(ranks)]

    def exchange_of(self, rank: int):
        def exchange(what: str, local: list[torch.Tensor]) -> list[torch.Tensor]:
            self.calls[rank].append(what)
            self.slots[rank] = [t.clone() for t in local]
            self.barrier.wait(timeout=60)
            every = [t for slot in self.slots for t in slot]
            self.barrier.wait(timeout=60)
            return every

        return exchange


def _run_split(binary, x: torch.Tensor, ranks: int) -> tuple[list[list[torch.Tensor]], ThreadWorld]:
    world, results, errors = ThreadWorld(ranks), [None] * ranks, []

    def rank_main(rank: int) -> None:
        try:
            device = runtime.open_device("t3k")
            device.set_mesh_transport(rank * 8 // ranks, 8 // ranks, world.exchange_of(rank))
            results[rank] = runtime.submit(device, binary, 0, [x])
        except Exception as e:  # noqa: BLE001 - reported by the test
            errors.append(e)
            world.barrier.abort()

    threads = [threading.Thread(target=rank_main, args=(r,)) for r in range(ranks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results, world


@pytest.mark.parametrize("ranks", [2, 4, 8])
def test_every_split_gives_the_one_process_bits(binary, ranks):
    torch.manual_seed(0)
    x = (torch.randn(8, 64) * torch.logspace(0, 3, 8)[:, None]).to(torch.bfloat16)
    whole = runtime.submit(runtime.open_device("t3k"), binary, 0, [x])
    ring = x[0]
    for k in range(1, 8):
        ring = (ring.float() + x[k].float()).to(torch.bfloat16)
    assert torch.equal(whole[0][0], ring) and torch.equal(whole[1][0], ring)
    results, world = _run_split(binary, x, ranks)
    for rank, outs in enumerate(results):
        for got, want in zip(outs, whole):
            assert torch.equal(got, want), f"rank {rank} of {ranks}"
    # every collective of this [1, 8] program spans all ranks: each goes through the exchange,
    # in the same order on every rank
    assert world.calls[0] == ["all_reduce", "reduce_scatter", "all_gather", "mesh_shard", "mesh_shard"]
    assert all(calls == world.calls[0] for calls in world.calls)


def test_an_exchange_failure_names_the_op_and_its_location(binary):
    def broken(what, local):
        raise RuntimeError(f"peer gone during {what}")

    device = runtime.open_device("t3k")
    device.set_mesh_transport(0, 4, broken)
    with pytest.raises(TTRuntimeError, match=r"TTNN op AllReduceOp at .* failed: .*peer gone during all_reduce"):
        runtime.submit(device, binary, 0, [torch.zeros(8, 64, dtype=torch.bfloat16)])
    # a split that does not divide the program's mesh is refused before anything runs
    device.set_mesh_transport(0, 3, broken)
    with pytest.raises(TTRuntimeError, match=r"does not split into processes of 3 chips"):
        runtime.submit(device, binary, 0, [torch.zeros(8, 64, dtype=torch.bfloat16)])
