"""One rank of a distributed test, started as torchrun starts it (RANK, WORLD_SIZE, MASTER_ADDR...).

python -m tests.distributed.worker cases OUT   # every case; saves OUT/rank<r>.pt
python -m tests.distributed.worker loop OUT    # runs the tensor-parallel MLP until a peer fails;
                                               # writes OUT/ready<r> after the first run and
                                               # OUT/error<r>.txt with the error it ends on
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

import tt_torch.distributed as ttd
from tests.distributed import cases


def run_cases(out: Path) -> None:
    mesh = ttd.init_mesh(cases.MESH, timeout_s=60)
    results = {case: run([mesh]) for case, run in cases.CASES.items()}
    results["pipeline"] = cases.pipeline(ttd.stage_devices(mesh, [0, mesh.world_size - 1]))
    results["data_parallel"] = cases.data_parallel(mesh.shard_batch, mesh.gather_batch)
    results["stats"] = mesh.stats.as_dict()
    torch.save(results, out / f"rank{mesh.rank}.pt")
    mesh.close()


def run_loop(out: Path) -> int:
    mesh = ttd.init_mesh(cases.MESH, timeout_s=cases.LOOP_TIMEOUT_S, heartbeat_s=cases.LOOP_HEARTBEAT_S)
    model, x = cases._model(cases.MLP, (4, 8, 32), 1)
    options = ttd_options(mesh)
    compiled = torch.compile(model, backend="tt", options=options, dynamic=False)
    runs = 0
    try:
        with torch.no_grad():
            while True:
                compiled(x)
                runs += 1
                if runs == 1:
                    (out / f"ready{mesh.rank}").write_text("")
                time.sleep(0.05)
    except Exception as e:  # noqa: BLE001 - the error is the test's subject
        (out / f"error{mesh.rank}.txt").write_text(f"{type(e).__name__}: {e}\n{time.time()}\n")
        return 3


def ttd_options(mesh: ttd.DistributedMesh):
    from tt_torch.dynamo.backend import BackendOptions
    from tt_torch.tools.utils import CompilerConfig

    return BackendOptions(compiler_config=CompilerConfig(sharding_plan=cases.MLP_PLAN), devices=[mesh])


if __name__ == "__main__":
    job, out = sys.argv[1], Path(sys.argv[2])
    run_cases(out)
    if job == "cases+loop":
        sys.exit(run_loop(out))
