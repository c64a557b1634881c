"""A mesh spread over processes (tt_torch.distributed, gloo on localhost): 2 and 4 ranks give the
bits of the one-process emulation (tensor-parallel MLP and transformer block on a 2x4 mesh, a
2-stage pipeline over ranks, data parallel over the batch); a killed rank ends the others with
an error that names it and the op, within the timeout.

The ranks are started as torchrun starts them (RANK, WORLD_SIZE, MASTER_ADDR/PORT in the
environment; tests/distributed/worker.py), sharing the test's compile cache so that they do not
recompile what the reference already compiled."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.distributed import cases

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("compile_cache")


@pytest.fixture(scope="module")
def reference(cache_dir) -> dict[str, torch.Tensor]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TT_TORCH_CACHE_DIR", str(cache_dir))
        return cases.reference()


def _launch(job: str, world: int, out: Path, cache_dir: Path) -> list[subprocess.Popen]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = []
    for rank in range(world):
        env = dict(
            os.environ,
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
            RANK=str(rank),
            WORLD_SIZE=str(world),
            LOCAL_RANK=str(rank),
            LOCAL_WORLD_SIZE=str(world),
            OMP_NUM_THREADS="1",
            TT_TORCH_CACHE_DIR=str(cache_dir),
        )
        cmd = [sys.executable, "-m", "tests.distributed.worker", job, str(out)]
        procs.append(
            subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        )
    return procs


def _finish(procs: list[subprocess.Popen], timeout: float) -> list[tuple[int, str]]:
    results = []
    for p in procs:
        try:
            out, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            out, _ = p.communicate()
        results.append((p.returncode, out))
    return results


def _check_results(world: int, out: Path, reference: dict[str, torch.Tensor]) -> None:
    for rank in range(world):
        got = torch.load(out / f"rank{rank}.pt")
        for case, want in reference.items():
            assert got[case].dtype == want.dtype and got[case].shape == want.shape, case
            diff = (got[case].double() - want.double()).abs().max().item()
            assert torch.equal(got[case], want), f"rank {rank} of {world}: {case} differs (max |diff| {diff:g})"
        # collectives crossed processes: each rank gathered other chips' partial sums
        stats = got["stats"]
        assert stats["calls"] > 0 and stats["bytes_received"] > 0


def test_four_ranks_give_the_one_process_bits(reference, cache_dir, tmp_path):
    results = _finish(_launch("cases", 4, tmp_path, cache_dir), timeout=300)
    for rank, (code, log) in enumerate(results):
        assert code == 0, f"rank {rank} of 4 failed:\n{log[-4000:]}"
    _check_results(4, tmp_path, reference)


def test_two_ranks_give_the_one_process_bits_and_a_killed_rank_is_named(reference, cache_dir, tmp_path):
    """After the cases, both ranks loop over the tensor-parallel MLP; rank 1 is killed (SIGKILL)
    and rank 0 must end on an error naming rank 1 and the op, within the stated bound."""
    procs = _launch("cases+loop", 2, tmp_path, cache_dir)
    deadline = time.time() + 300
    while not all((tmp_path / f"ready{r}").exists() for r in range(2)):
        if time.time() > deadline or any(p.poll() is not None for p in procs):
            logs = _finish(procs, timeout=5)
            pytest.fail(f"the ranks did not get to the loop:\n{logs[0][1][-3000:]}\n{logs[1][1][-3000:]}")
        time.sleep(0.2)
    _check_results(2, tmp_path, reference)
    procs[1].kill()
    killed_at = time.time()
    (code, log), _ = _finish(procs, timeout=cases.LOOP_TIMEOUT_S + 30)
    assert code == 3, f"rank 0 did not end on an error (exit {code}):\n{log[-3000:]}"
    message, failed_at = (tmp_path / "error0.txt").read_text().rsplit("\n", 2)[:2]
    # the rank, and the op with its location (whichever collective rank 0 was in)
    assert "rank 1 stopped" in message, message
    op = r"TTNN op (AllReduceOp|MeshShardOp) at \S+.* (all_reduce|mesh_shard) \(collective #\d+\)"
    assert re.search(op, message), message
    # within the stated bound: the group's timeout plus the heartbeat check (and slack for a busy machine)
    assert float(failed_at) - killed_at < cases.LOOP_TIMEOUT_S + 3 * cases.LOOP_HEARTBEAT_S + 5, message
