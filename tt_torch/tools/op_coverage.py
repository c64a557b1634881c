"""PyTorch's OpInfo database through the "tt" backend: which ops compile and run correctly.

Each OpInfo op that supports float32 on the CPU is called on its first sample
inputs, compiled with ``torch.compile(backend="tt")`` with the CPU fallback on or
off, and compared with eager. Per op and mode the status is one of:

- ``device``: correct, every op of every graph on the device;
- ``fallback``: correct, some ops on the CPU (``report["cpu_fallback"]``);
- ``wrong``: the outputs differ from eager (rtol = atol = 1e-2);
- ``error``: the compiled call raised (the exception's type and first line are kept);
- ``skipped``: no sample could be checked (eager itself fails, is not deterministic,
  or no graph reached the backend);
- ``crash`` / ``timeout``: the worker process running the op died or hung
  (:func:`run_isolated`; in-process runs never give these).

:func:`run_op` is the in-process harness (``tests/ops/test_op_coverage.py``);
:func:`run_isolated` runs ops in a worker process that is replaced after a crash
or hang (``benchmarks/op_coverage.py``, which also writes the JSON and the page).
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import multiprocessing
import os
import platform
import time
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.utils import _pytree as pytree

from tt_torch.config import CompilerConfig
from tt_torch.dynamo import BackendOptions, CompileArtifacts

log = logging.getLogger(__name__)

FAMILIES = ("nn.functional", "linalg", "fft", "special")
STATUSES = ("device", "fallback", "wrong", "error", "skipped", "crash", "timeout")
RTOL = ATOL = 1e-2
# mode -> CompilerConfig options: the CPU fallback on (the default), off (strict), and the real
# tt-mlir's program imported and run on the emulated device (needs jax-tt-plugin; no fallback)
MODES = {
    "on": {"enable_cpu_fallback": True},
    "off": {"enable_cpu_fallback": False},
    "tt-mlir": {"enable_cpu_fallback": False, "compiler": "tt-mlir"},
}


def mode_name(fallback: bool | str) -> str:
    """A job's mode: True / False (the CPU fallback on / off) or a name of ``MODES``."""
    if isinstance(fallback, str):
        if fallback not in MODES:
            raise ValueError(f"unknown op coverage mode {fallback!r}; one of {', '.join(MODES)}")
        return fallback
    return "on" if fallback else "off"


SAMPLES = 2
_REASON_CHARS = 300


@functools.cache
def op_db() -> list:
    """The OpInfo ops that support float32 on the CPU."""
    from torch.testing._internal.common_methods_invocations import op_db as db  # lazy: ~10 s, tests-only module

    return [op for op in db if torch.float32 in op.supported_dtypes("cpu")]


def op_id(op) -> str:
    """The op's name, with its variant (``max.reduction_with_dim``): unique in the database."""
    return f"{op.name}.{op.variant_test_name}" if op.variant_test_name else op.name


def family(name: str) -> str:
    return next((f for f in FAMILIES if name.startswith(f + ".")), "core")


def find_ops(names: Iterable[str]) -> list:
    """OpInfo ops by :func:`op_id`; an unknown name is a KeyError naming it."""
    by_id = {op_id(op): op for op in op_db()}
    missing = [n for n in names if n not in by_id]
    if missing:
        raise KeyError(f"not in the float32 OpInfo database: {', '.join(missing)}")
    return [by_id[n] for n in names]


def _detached(value: Any) -> Any:
    return pytree.tree_map(lambda v: v.detach().clone() if isinstance(v, torch.Tensor) else v, value)


def _first_line(text: str) -> str:
    line = next((s.strip() for s in str(text).splitlines() if s.strip()), "")
    return line[:_REASON_CHARS]


def _error(e: BaseException) -> str:
    inner = getattr(e, "inner_exception", None)  # dynamo's BackendCompilerFailed wraps the backend's error
    e = inner if isinstance(inner, BaseException) else e
    lines = [s.strip() for s in str(e).splitlines() if s.strip()]
    detail = next((s for s in lines[1:] if s.startswith("aten ops in the graph") or " error: " in s), "")
    return f"{type(e).__name__}: {_first_line(e)}" + (f" ({detail})" if detail else "")[:_REASON_CHARS]


# ops whose values PyTorch leaves uninitialized: only their dtype and shape are compared
UNSPECIFIED_VALUES = {"empty", "empty_like", "new_empty", "new_empty_strided", "empty_strided", "empty_permuted"}


def _mismatch(expected: Any, actual: Any, values: bool = True) -> str | None:
    """None when ``actual`` matches ``expected`` (values too, unless ``values`` is False), else a
    one-line description."""
    exp_leaves, exp_spec = pytree.tree_flatten(expected)
    act_leaves, act_spec = pytree.tree_flatten(actual)
    if exp_spec != act_spec:
        return f"output structure differs: eager {exp_spec}, compiled {act_spec}"[:_REASON_CHARS]
    for k, (e, a) in enumerate(zip(exp_leaves, act_leaves)):
        where = f"output {k}: " if len(exp_leaves) > 1 else ""
        if not values and isinstance(e, torch.Tensor) and isinstance(a, torch.Tensor):
            if (e.dtype, e.shape) != (a.dtype, a.shape):
                return f"{where}{a.dtype}{tuple(a.shape)} != eager {e.dtype}{tuple(e.shape)}"
            continue
        if isinstance(e, torch.Tensor) or isinstance(a, torch.Tensor):
            try:
                torch.testing.assert_close(a, e, rtol=RTOL, atol=ATOL, equal_nan=True)
            except AssertionError as err:
                lines = [s.strip() for s in str(err).splitlines() if s.strip()]
                keep = [lines[0]] + [s for s in lines[1:] if s.startswith(("Mismatched", "Greatest absolute"))]
                return (where + " ".join(keep))[:_REASON_CHARS]
        elif isinstance(e, float) and isinstance(a, (int, float)):
            if not (math.isclose(a, e, rel_tol=RTOL, abs_tol=ATOL) or (math.isnan(a) and math.isnan(e))):
                return f"{where}{a!r} != {e!r}"
        elif a != e:
            return f"{where}{a!r} != {e!r}"[:_REASON_CHARS]
    return None


def _call(op, sample) -> Any:
    with torch.no_grad():
        return op(_detached(sample.input), *_detached(sample.args), **_detached(sample.kwargs))


def _run_sample(op, sample, fallback: bool | str) -> dict[str, Any]:
    """One sample: {"status", "reason", "cpu_ops", "graphs"}; status as the op's, or "skipped"."""
    try:
        expected = _call(op, sample)
    except Exception as e:
        return {"status": "skipped", "reason": f"eager fails: {_error(e)}"}
    try:
        again = _call(op, sample)
    except Exception as e:
        return {"status": "skipped", "reason": f"eager fails on a second call: {_error(e)}"}
    if op.name not in UNSPECIFIED_VALUES and _mismatch(expected, again) is not None:
        return {"status": "skipped", "reason": "eager is not deterministic (random op)"}

    def fn(x, *args, **kwargs):
        return op(x, *args, **kwargs)

    artifacts = CompileArtifacts()
    config = CompilerConfig(numerics="fast", **MODES[mode_name(fallback)])
    compiled = torch.compile(
        fn, backend="tt", dynamic=False, options=BackendOptions(compiler_config=config, artifacts=artifacts)
    )
    try:
        with torch.no_grad():
            actual = compiled(_detached(sample.input), *_detached(sample.args), **_detached(sample.kwargs))
    except Exception as e:
        return {"status": "error", "reason": _error(e), "graphs": len(artifacts.graphs)}
    if not artifacts.graphs:
        return {"status": "skipped", "reason": "no graph reached the backend (dynamo ran the call itself)"}
    cpu_ops = sorted(
        {o["op"] for g in artifacts.graphs for o in g.report.get("cpu_fallback", {}).get("ops", [])}
        | {"(graph)" for g in artifacts.graphs if "cpu_fallback" in g.report and not g.report["cpu_fallback"]["ops"]}
    )
    wrong = _mismatch(expected, actual, values=op.name not in UNSPECIFIED_VALUES)
    if wrong is not None:
        return {"status": "wrong", "reason": wrong, "cpu_ops": cpu_ops, "graphs": len(artifacts.graphs)}
    status = "fallback" if cpu_ops else "device"
    reason = f"on the CPU: {', '.join(cpu_ops)}" if cpu_ops else ""
    return {"status": status, "reason": reason, "cpu_ops": cpu_ops, "graphs": len(artifacts.graphs)}


# the op's status is its worst sample's (skipped samples do not count unless all are skipped)
_RANK = {"error": 0, "wrong": 1, "fallback": 2, "device": 3}


def run_op(op, fallback: bool | str = True, samples: int = SAMPLES) -> dict[str, Any]:
    """The op's record for one mode (``fallback``: see :func:`mode_name`): status, reason,
    family, per-sample results, seconds."""
    t = time.perf_counter()
    torch._dynamo.reset()
    record: dict[str, Any] = {"op": op_id(op), "family": family(op.name), "mode": mode_name(fallback)}
    try:
        inputs = list(itertools.islice(op.sample_inputs("cpu", torch.float32), samples))
    except Exception as e:
        inputs, record["reason"] = [], f"sample inputs fail: {_error(e)}"
    results = []
    for sample in inputs:
        torch.manual_seed(0)
        results.append(_run_sample(op, sample, fallback))
    torch._dynamo.reset()
    checked = [r for r in results if r["status"] != "skipped"]
    if checked:
        worst = min(checked, key=lambda r: _RANK[r["status"]])
        record["status"], record["reason"] = worst["status"], worst["reason"]
        record["cpu_ops"] = sorted({o for r in checked for o in r.get("cpu_ops", [])})
    else:
        record["status"] = "skipped"
        record.setdefault("reason", results[0]["reason"] if results else "no sample inputs")
    record["samples"] = [{"status": r["status"], "reason": r["reason"]} for r in results]
    record["seconds"] = round(time.perf_counter() - t, 2)
    return record


# --- isolated runs: a worker process per op sequence, replaced after a crash or hang ----------


def _worker_main(conn) -> None:
    logging.getLogger("tt_torch").setLevel(logging.ERROR)  # the fallback's per-graph warning is in the record
    ops = {op_id(op): op for op in op_db()}
    conn.send("ready")
    while True:
        try:
            name, fallback, samples = conn.recv()
        except EOFError:
            return
        try:
            conn.send(run_op(ops[name], fallback, samples))
        except Exception as e:  # the harness itself failed on this op: an error, not a dead worker
            conn.send({"op": name, "status": "error", "reason": f"harness: {_error(e)}"})


class _Worker:
    _START_TIMEOUT = 600.0

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child,), daemon=True)
        self.proc.start()
        child.close()
        try:
            ready = self.conn.poll(self._START_TIMEOUT) and self.conn.recv() == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            self.close()
            raise RuntimeError(f"the op coverage worker did not start (exit code {self.proc.exitcode})")

    def ask(self, name: str, fallback: bool | str, samples: int, timeout: float) -> dict[str, Any] | str:
        """The op's record, or "crash" / "timeout"."""
        try:
            self.conn.send((name, fallback, samples))
            if not self.conn.poll(timeout):
                return "timeout"
            return self.conn.recv()
        except (EOFError, OSError):
            return "crash"

    def close(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join()
        self.conn.close()


def run_isolated(
    jobs: Iterable[tuple[str, str, bool | str]],
    timeout: float,
    samples: int = SAMPLES,
    done: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Runs (op id, family, fallback or mode name) jobs in a worker process; a crash or hang is
    that op's status.

    ``done`` is called with each record as soon as it is known.
    """
    records = []
    worker: _Worker | None = None
    try:
        for name, fam, fallback in jobs:
            worker = worker or _Worker()
            t = time.perf_counter()
            reply = worker.ask(name, fallback, samples, timeout)
            if isinstance(reply, str):
                worker.proc.join(5)  # a crashed worker's pipe closes before its exit status is known
                code = worker.proc.exitcode
                worker.close()
                worker = None
                reason = f"no answer within {timeout:g} s" if reply == "timeout" else f"worker exit code {code}"
                reply = {"op": name, "family": fam, "mode": mode_name(fallback), "status": reply}
                reply.update(reason=reason, seconds=round(time.perf_counter() - t, 2))
            log.info("%s [%s]: %s %s", name, reply.get("mode"), reply["status"], reply.get("reason", ""))
            records.append(reply)
            if done is not None:
                done(reply)
    finally:
        if worker is not None:
            worker.close()
    return records


# --- the page ------------------------------------------------------------------------------------


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, torch {torch.__version__}"


def totals(records: list[dict[str, Any]]) -> str:
    n = len(records)
    if not n:
        return "-"
    counts = {s: sum(1 for r in records if r["status"] == s) for s in STATUSES}
    correct = counts["device"] + counts["fallback"]
    parts = [f"{s} {c}" for s, c in counts.items() if c]
    checked = n - counts["skipped"]
    of_checked = f", {100 * correct / checked:.1f}% of the {checked} checked" if checked else ""
    return (
        f"{n} ops: correct {correct} ({100 * correct / n:.1f}%{of_checked}), "
        f"device {100 * counts['device'] / n:.1f}%; " + ", ".join(parts)
    )


def markdown(records: dict[str, dict[str, dict[str, Any]]], command: str, machine_line: str, modes: list[str]) -> str:
    """The page: ``records`` maps op id -> mode ("on"/"off") -> record."""
    lines = [
        "# OpInfo coverage of the tt backend",
        "",
        "Generated by `" + command + "`; do not edit by hand.",
        "",
        f"Machine: {machine_line}.",
        "",
        "PyTorch's OpInfo database (`torch.testing._internal.common_methods_invocations.op_db`), every op "
        f"that supports float32 on the CPU, its first {SAMPLES} sample inputs, compiled with "
        '`torch.compile(backend="tt", dynamic=False)` and `numerics="fast"`, compared with eager at '
        f"rtol = atol = {RTOL:g} (for ops whose values PyTorch leaves uninitialized, "
        f"{', '.join(f'`{n}`' for n in sorted(UNSPECIFIED_VALUES))}, only dtype and shape). "
        "Mode `on`: CPU fallback on (the default); `off`: strict; `tt-mlir`: the real tt-mlir's "
        'program (`compiler="tt-mlir"`, imported and run on the emulated device, no fallback). '
        "`device`: correct, every op on the device; `fallback`: correct, some ops on the CPU; `wrong`: "
        "differs from eager; `error`: the compiled call raised; `skipped`: no sample could be checked "
        "(eager fails or is random, or dynamo ran the call without a graph); `crash` / `timeout`: the worker running the op died or hung.",
        "",
        "## Totals",
        "",
        "| mode | family | totals |",
        "|---|---|---|",
    ]
    fams = ["core", *FAMILIES]
    for mode in modes:
        recs = [m[mode] for m in records.values() if mode in m]
        lines.append(f"| {mode} | all | {totals(recs)} |")
        for fam in fams:
            lines.append(f"| {mode} | {fam} | {totals([r for r in recs if r.get('family') == fam])} |")
    lines += [
        "",
        "## Ops",
        "",
        "| op | family | " + " | ".join(modes) + " | reason |",
        "|---|---|" + "---|" * len(modes) + "---|",
    ]
    for name in sorted(records):
        per = records[name]
        fam = next(iter(per.values())).get("family", family(name))
        reasons = []
        for mode in modes:
            r = per.get(mode)
            if r and r.get("reason") and r["status"] not in ("device",):
                reasons.append(f"{mode}: {r['reason']}" if len(modes) > 1 else r["reason"])
        cells = [per[m]["status"] if m in per else "-" for m in modes]
        reason = " / ".join(reasons).replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{name}` | {fam} | " + " | ".join(cells) + f" | {reason} |")
    return "\n".join(lines) + "\n"
