"""Fuzzing the runtime: mutated .ttnn files through ``tt-torch check`` and ``load`` + run.

    nice -n 10 python benchmarks/fuzz_runtime.py [--n 10000] [--seed 0] [--timeout 30] [--out FILE]

A few real programs are exported (an MLP with embedded weights, a CNN whose larger weights
live in a side file, the same CNN with a const-eval program, an embedding model with an
integer input); each is mutated (bit flips, truncations, random byte runs, wrong identifier
or schema version: tests/export/mutate_ttnn.py) and every mutant is written to a file next
to its model's side file. A worker process then runs ``tt-torch check`` on it, loads it
with ``tt_torch.runtime.load`` and runs its first public program on random inputs of the
shapes the (mutated) file declares. The parent gives each file ``--timeout`` seconds: a
worker that dies is counted as a crash and one that does not answer as a hang, and a new
worker takes the next file, so neither stops the run. Workers run under a 6 GiB address
space limit, so a runaway allocation is an error, not a machine out of memory.

Outcomes per file: ``refused`` (BinaryError at load), ``failed cleanly`` (BinaryError or
TTRuntimeError while reading or running it), ``ran``; ``crash``, ``hang`` and
``unexpected <Exception>`` are defects. ``check`` is scored against the run: a file it
calls runnable that then fails is counted (``check ok, run failed cleanly``), and a
``check`` that exits 1 (an error of its own, not a verdict) is a defect too.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import os
import random
import resource
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `tests` is a package at the repository root

MAX_INPUT_ELEMENTS = 1 << 26  # a mutated shape asking for more is not fed (the harness's limit)
ADDRESS_SPACE = 6 << 30


# --- worker ---------------------------------------------------------------------------
def _inputs(model):
    import torch

    from tt_torch import runtime

    program = model.public[0] if model.public else 0
    inputs = []
    for desc in model.user_inputs(program):
        numel = 1
        for d in desc["shape"]:
            numel *= max(int(d), 0)
        if numel > MAX_INPUT_ELEMENTS:
            return program, None
        dtype = runtime.torch_dtype(desc["dtype"])
        t = torch.randn(desc["shape"]) if dtype.is_floating_point else torch.randint(0, 2, desc["shape"])
        inputs.append(t.to(dtype))
    return program, inputs


def _one(path: str, device) -> dict:
    from tt_torch import runtime
    from tt_torch.errors import BinaryError, ConfigError, TTRuntimeError
    from tt_torch.tools import cli

    result = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = cli.main(["check", path])
    result["check"] = {0: "ok", 2: "cannot run"}.get(code, f"exit {code}")
    reasons = [line.strip() for line in out.getvalue().splitlines() if "cannot run:" in line]
    result["check_detail"] = reasons[0][:200] if reasons else ""
    try:
        model = runtime.LoadedModel(runtime.load_binary(path), device)
    except BinaryError as e:
        result["run"] = "refused" if str(e) else "error without a message"
        result["detail"] = str(e).splitlines()[0][:200] if str(e) else ""
        return result
    try:
        program, inputs = _inputs(model)
        if inputs is None:
            result["run"] = "inputs too large to feed"
            return result
        runtime.binary_json(model.binary)
        model.goldens()
        model.run(program, inputs)
        result["run"] = "ran"
    except (BinaryError, TTRuntimeError, ConfigError) as e:
        result["run"] = "failed cleanly" if str(e) else "error without a message"
        result["detail"] = str(e).splitlines()[0][:200] if str(e) else ""
    except MemoryError:
        result["run"] = "unexpected MemoryError"
    except Exception as e:  # noqa: BLE001 - any other exception is a finding, counted by its type
        result["run"] = f"unexpected {type(e).__name__}"
        result["detail"] = str(e)[:300]
    if device.dram_bytes_in_use != 0:
        result["leak"] = device.dram_bytes_in_use
    return result


def worker() -> int:
    """Reads one path per line on stdin, answers one JSON line per path on stdout."""
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    from tt_torch import runtime

    device = runtime.open_device()
    out = os.fdopen(os.dup(1), "w")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # stray prints stay out of the answers
    print("ready", file=out, flush=True)
    for line in sys.stdin:
        print(json.dumps(_one(line.strip(), device)), file=out, flush=True)
    return 0


# --- parent ---------------------------------------------------------------------------
class Worker:
    def __init__(self):
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
        )
        if self._read(120) != "ready":
            raise RuntimeError("a fuzz worker did not start")

    def _read(self, timeout: float) -> str | None:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return None
        return self.proc.stdout.readline().strip()

    def ask(self, path: str, timeout: float) -> dict:
        try:
            self.proc.stdin.write(path + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        line = self._read(timeout)
        if line is None:
            self.proc.kill()
            self.proc.wait()
            return {"run": "hang"}
        if not line:
            code = self.proc.wait()
            return {"run": f"crash (exit {code})"}
        return json.loads(line)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.alive:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


def export_models(directory: Path) -> dict[str, Path]:
    import torch

    import tt_torch
    from tests.helpers import MLP, SmallCNN

    class Embed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(50, 16)
            self.fc = torch.nn.Linear(16, 4)

        def forward(self, ids):
            return self.fc(self.emb(ids)).sum(1)

    torch.manual_seed(0)
    cnn_x = torch.randn(2, 3, 16, 16)
    models = {
        "mlp": (MLP().eval(), (torch.randn(4, 32),), {}),
        "cnn_side_file": (SmallCNN().eval(), (cnn_x,), {"embed_limit": 1024}),
        "cnn_consteval": (SmallCNN().eval(), (cnn_x,), {"embed_limit": 1024, "consteval_programs": True}),
        "embedding": (Embed().eval(), (torch.randint(0, 50, (2, 8)),), {}),
    }
    paths = {}
    for name, (model, inputs, options) in models.items():
        (directory / name).mkdir(parents=True, exist_ok=True)
        path = directory / name / "model.ttnn"
        tt_torch.export(model, inputs, path, **options)
        torch._dynamo.reset()
        paths[name] = path
    return paths


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=10_000, help="mutated files in all (default 10000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per file before it counts as a hang")
    p.add_argument("--out", help="write the counts as JSON to this file")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker()

    from tests.export.mutate_ttnn import mutants

    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="tt-fuzz-") as tmp:
        models = export_models(Path(tmp))
        rng = random.Random(args.seed)
        per_model = [args.n // len(models) + (i < args.n % len(models)) for i in range(len(models))]
        outcomes: collections.Counter = collections.Counter()
        by_kind: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        check_vs_run: collections.Counter = collections.Counter()
        findings: list[dict] = []
        missed: list[str] = []  # files check called runnable that failed: what check does not see
        strict: list[str] = []  # files check refused that ran: corrupt parts the run did not touch
        w = Worker()
        done = 0
        for (name, good_path), count in zip(models.items(), per_model):
            good = good_path.read_bytes()
            target = good_path.with_name("mutant.ttnn")  # beside the side file the model references
            for kind, data in mutants(good, count, rng):
                target.write_bytes(data)
                if not w.alive:
                    w = Worker()
                r = w.ask(str(target), args.timeout)
                if r["run"] == "hang" or r["run"].startswith("crash"):
                    w = Worker()
                outcomes[r["run"]] += 1
                by_kind[f"{name}: {kind}"][r["run"]] += 1
                check_vs_run[f"check {r.get('check', 'n/a')}, run {r['run']}"] += 1
                if r["run"].startswith(("unexpected", "crash", "hang", "error")) or "leak" in r:
                    kept = Path(tmp).parent / f"tt-fuzz-finding-{len(findings)}.ttnn"
                    kept.write_bytes(data)
                    findings.append({"model": name, "kind": kind, "file": str(kept), **r})
                if r.get("check") == "ok" and r["run"] != "ran" and len(missed) < 10:
                    missed.append(f"{name} {kind}: {r.get('detail', r['run'])}")
                if r.get("check") == "cannot run" and r["run"] == "ran" and len(strict) < 10:
                    strict.append(f"{name} {kind}: {r.get('check_detail', '')}")
                done += 1
                if done % 500 == 0:
                    print(f"{done}/{args.n} files, {time.time() - t0:.0f} s: {dict(outcomes)}", flush=True)
        w.close()
    summary = {
        "files": done,
        "seconds": round(time.time() - t0, 1),
        "outcomes": dict(outcomes.most_common()),
        "check_vs_run": dict(check_vs_run.most_common()),
        "by_model_and_mutation": {k: dict(v.most_common()) for k, v in sorted(by_kind.items())},
        "check_missed_examples": missed,
        "check_refused_but_ran_examples": strict,
        "findings": findings,
    }
    print(json.dumps(summary, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=1) + "\n")
    defects = sum(v for k, v in outcomes.items() if k.startswith(("unexpected", "crash", "hang", "error")))
    defects += sum(v for k, v in check_vs_run.items() if k.startswith("check exit"))
    return 1 if defects else 0


if __name__ == "__main__":
    sys.exit(main())
