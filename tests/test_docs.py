"""README.md and docs/ stay true: every shell command they show is either run here, as
written, from a fresh folder (the cheap ones), or listed below with the reason it is not;
and a committed generated table matches what its generator writes (the cheap rows).

A new command in a doc fails `test_every_documented_command_is_classified` until it is
added to CHEAP (run) or NOT_RUN (with its reason).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# Run as written, in this order per doc, in a fresh folder holding the files they name
# (model.ttnn, x.bin, model.mlir, ...: a small MLP stands in for the docs' models).
CHEAP = {
    "tt-torch --help",
    "tt-torch cache info",
    "tt-torch --version",
    "tt-torch read model.ttnn --section inputs",
    "build/demos/cpp_runner/run_ttnn model.ttnn --out out/ x.bin",
    "python -m tt_torch.compiler.opt --pass stablehlo-to-ttir ir/resnet50_graph0_0.stablehlo.mlir -o model.ttir.mlir",
    "python -m tt_torch.compiler.opt --pipeline ttir-to-ttnn-pipeline --verify-each model.ttir.mlir -o model.ttnn.mlir",
    "python -m tt_torch.compiler.opt --to-flatbuffer model.ttnn.mlir -o model.ttnn",
    "python -m tt_torch.compiler.opt model.stablehlo.mlir --pipeline stablehlo-to-ttir-pipeline -o model.ttir.mlir",
    "python -m tt_torch.compiler.opt model.ttir.mlir --pipeline ttir-to-ttnn-pipeline -o model.ttnn.mlir",
    "python -m tt_torch.compiler.target.cost_model model.ttnn.mlir --target n150",
    "python -m tt_torch.compiler.target.cost_model model.ttnn.mlir --target p150 --json",
    "tt-torch query",
    "tt-torch check model.ttnn",
    "build/tt_run resnet50.ttnn --device n150",
}
# Run as written; expected to fail with this text on stderr (the doc shows the error).
EXPECTED_ERRORS = {
    'python -c "from tt_torch.tools.utils import CompilerConfig; CompilerConfig().dump_binary = True"': (
        "ConfigError: CompilerConfig.dump_binary"
    ),
}
# Not run here, by the start of the command: why.
NOT_RUN = {
    "source env/activate": "sets up the environment from a fresh clone (minutes); CI's own first step",
    "ruff ": "CI runs the linters over the tree (.ci/run)",
    "pytest -q tests": "the whole suite: this file is part of it",
    "python -m pytest -q tests/frontend/test_robustness.py": "a test file of the suite",
    "python demos/resnet/resnet50_demo.py": "ResNet-50 compile and runs (minutes); tt-torch's tests cover each step",
    "TT_TORCH_IR_DUMP_DIR=ir python demos/resnet/resnet50_demo.py": "the demo again (minutes); the IR dump and "
    "its file name are checked here on a small model",
    "python -m tt_torch.tools.report results/": "needs op-by-op results (tests/op_by_op makes and reports them)",
    "tt-torch tt-mlir": "the real tt-mlir (optional dependency, tens of seconds); tests/tt_mlir runs it",
    "ls tt_mlir_out/": "lists the output of the tt-mlir command above",
    "tt-torch read model.ttnn [": "a synopsis of the command's options",
    "tt-torch run model.ttnn [": "a synopsis of the command's options",
    "tt-torch perf model.ttnn [": "a synopsis of the command's options",
    "tt-torch report ...": "a synopsis (the report command's own --help)",
    "python benchmarks/": "a benchmark (minutes to hours; through flock and nice)",
    "nice -n 10 python benchmarks/": "a benchmark (minutes)",
    "torchrun ": "a multi-process launch of the doc's own script (tests/multichip covers the library side)",
}


def documented_commands() -> list[tuple[str, int, str]]:
    """(doc, line, command) of every line of every ```bash / ```sh block, continuation lines joined
    and trailing comments dropped."""
    found = []
    for doc in DOCS:
        text = doc.read_text()
        for block in re.finditer(r"^```(?:bash|sh|shell)\n(.*?)^```", text, re.S | re.M):
            first = text[: block.start()].count("\n") + 2
            pending, start = "", 0
            for k, raw in enumerate(block.group(1).splitlines()):
                line = re.sub(r"\s+#\s.*$", "", raw).rstrip() if not raw.lstrip().startswith("#") else ""
                if not line and not pending:
                    continue
                start = start if pending else first + k
                if line.endswith("\\"):
                    pending += line[:-1].rstrip() + " "
                    continue
                command = re.sub(r"\s+", " ", pending + line).strip()
                pending = ""
                if command:
                    found.append((doc.relative_to(ROOT).as_posix(), start, command))
    return found


def test_every_documented_command_is_classified():
    unknown = [
        f"{doc}:{line}: {command}"
        for doc, line, command in documented_commands()
        if command not in CHEAP and command not in EXPECTED_ERRORS and not command.startswith(tuple(NOT_RUN))
    ]
    assert unknown == [], "commands in the docs that this test neither runs nor explains:\n" + "\n".join(unknown)


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory) -> Path:
    """The files the docs' commands name, made from a small MLP (compiled once, IR dumped)."""
    import tt_torch
    from tests.helpers import MLP
    from tt_torch.dynamo import BackendOptions, CompileArtifacts
    from tt_torch.tools.utils import CompilerConfig

    d = tmp_path_factory.mktemp("stand_ins")
    torch.manual_seed(0)
    model, x = MLP().eval(), torch.randn(4, 32)
    artifacts = CompileArtifacts()
    # model_name as the README's demo sets it: the IR dump's file names are what the README shows
    config = CompilerConfig(model_name="resnet50", ir_dump_dir=str(d / "ir"))
    compiled = torch.compile(model, backend="tt", options=BackendOptions(compiler_config=config, artifacts=artifacts))
    with torch.no_grad():
        compiled(x)
    tt_torch.export_artifacts(artifacts, d / "model.ttnn")
    torch._dynamo.reset()
    shutil.copy(d / "model.ttnn", d / "resnet50.ttnn")
    (d / "x.bin").write_bytes(x.numpy().tobytes())
    shutil.copy(d / "ir" / "resnet50_graph0_0.stablehlo.mlir", d / "model.stablehlo.mlir")
    shutil.copy(d / "ir" / "resnet50_graph0_0.stablehlo.mlir", d / "model.mlir")
    return d


def _fresh(stand_ins: Path, tmp_path: Path) -> Path:
    """A fresh folder: the stand-in files, and the checkout's build/ and tests/ (commands name them)."""
    work = tmp_path / "work"
    shutil.copytree(stand_ins, work)
    for name in ("build", "tests", "demos", "benchmarks"):
        (work / name).symlink_to(ROOT / name)
    return work


def _run(command: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, TT_TORCH_NUMERICS="fast", TT_TORCH_PROGRESS="0", PYTHONPATH=str(ROOT))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(command, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("doc", sorted({d for d, _, c in documented_commands() if c in CHEAP or c in EXPECTED_ERRORS}))
def test_cheap_commands_run_as_written(doc, stand_ins, tmp_path):
    work = _fresh(stand_ins, tmp_path)
    for _, line, command in [c for c in documented_commands() if c[0] == doc]:
        if command in CHEAP:
            done = _run(command, work)
            assert done.returncode == 0, f"{doc}:{line}: `{command}` exited {done.returncode}:\n{done.stderr[-2000:]}"
        elif command in EXPECTED_ERRORS:
            done = _run(command, work)
            assert done.returncode != 0 and EXPECTED_ERRORS[command] in done.stderr, f"{doc}:{line}: {done.stderr}"


# --- generated files ------------------------------------------------------------------------------


@pytest.mark.usefixtures("fast_numerics")
@pytest.mark.parametrize("model", ["resnet", "unet"])  # about 5 s each
def test_models_md_matches_its_generator(model):
    """docs/models.md's deterministic columns (status, ops before, ops on device, fused) for the
    cheap zoo models; PCC and compile time vary run to run. Regenerate with
    `python benchmarks/model_status.py` (all models) or `... model_status.py resnet unet` (these rows)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from model_status import read_rows, status_of
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    committed = {r["model"]: r for r in read_rows(str(ROOT / "docs" / "models.md"))}[model]
    fresh = {k: str(v) for k, v in status_of(model).items()}
    keys = ("model", "status", "ops_before", "ops_on_device", "fused")
    assert [committed[k] for k in keys] == [fresh[k] for k in keys], (
        "docs/models.md is stale: regenerate it with `python benchmarks/model_status.py`"
    )
