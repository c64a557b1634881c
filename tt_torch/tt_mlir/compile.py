"""Compile StableHLO with the real tt-mlir, compile-only, in a worker process.

The plugin runs in ``_worker.py``'s process, in a scratch working directory (removed
afterwards), at optimization level 0: a plugin abort, crash or hang becomes a recorded
failure and nothing is left in the repository or the user's working directory.
"""

from __future__ import annotations

import collections
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import plugin, ttsys

WORKER = Path(__file__).with_name("_worker.py")
# The first compile of a fresh worker also loads the plugin (and, the first time on a
# machine, unpacks its runtime assets): allowed on top of the per-module timeout.
STARTUP_SECONDS = 120.0
# ok: compiled; rejected: tt-mlir refused the module (its message is the error); crash / timeout:
# its process died or hung on the module; unavailable: plugin absent, or descriptor refused.
STATUSES = ("ok", "rejected", "crash", "timeout", "unavailable")


@dataclass
class TTMlirResult:
    """What the real tt-mlir made of one StableHLO module."""

    status: str  # one of STATUSES
    error: str = ""
    irs: dict[str, str] = field(default_factory=dict)  # stage -> text: vhlo, shlo, ..., ttir, ttnn, ttnn_runtime
    flatbuffer: bytes | None = None  # the .ttnn tt-mlir wrote
    seconds: float = 0.0
    target: str = "n150"

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def ttir(self) -> str | None:
        return self.irs.get("ttir")

    @property
    def ttnn(self) -> str | None:
        return self.irs.get("ttnn")

    def ttnn_ops(self) -> collections.Counter:
        return ttnn_op_counts(self.ttnn or "")

    def summary(self) -> dict:
        """JSON-able: status, error, TTNN op counts (no IR text)."""
        return {
            "status": self.status,
            "error": self.error,
            "target": self.target,
            "seconds": round(self.seconds, 4),
            "ttnn_ops": dict(sorted(self.ttnn_ops().items())),
        }


_OP = re.compile(r'"(ttnn\.\w+)"\(|\b(ttcore\.load_cached)\(')


def ttnn_op_counts(text: str) -> collections.Counter:
    """Op name -> count over every function of a TTNN module's text (generic or pretty form)."""
    return collections.Counter(a or b for a, b in _OP.findall(text))


# an op's attributes: tt-mlir prints them as properties, <{...}>; tt-torch's IR as {...}
_FUSED = re.compile(r'"(ttnn\.\w+)"\([^)]*\)\s*<?\{([^\n]*?)\}>?')
_ACTIVATION = re.compile(r"op_type = (\w+)")


def fused_activations(text: str) -> collections.Counter:
    """ "op+activation" -> count: activations fused into an op (``activations``,
    ``input_tensor_a_activations``, ``input_tensor_b_activations``, linear/conv ``activation``)."""
    counts: collections.Counter = collections.Counter()
    for name, attrs in _FUSED.findall(text):
        for key in ("activations = [", "input_tensor_a_activations = [", "input_tensor_b_activations = ["):
            start = attrs.find(key) if not key.startswith("activations") else _own_key(attrs)
            if start < 0:
                continue
            body = attrs[start + len(key) : attrs.find("]", start)]
            counts.update(f"{name}+{a}" for a in _ACTIVATION.findall(body))
        m = re.search(r'\bactivation = "(\w+)"', attrs)
        if m:
            counts[f"{name}+{m.group(1)}"] += 1
    return counts


def _own_key(attrs: str) -> int:
    """Position of the plain ``activations = [`` key (not the input_tensor_*_activations ones)."""
    m = re.search(r"(?<![_\w])activations = \[", attrs)
    return m.start() if m else -1


_ARITH_CONSTANT = re.compile(
    r'(?<![\w.])(arith\.constant)(?=\s+dense<)|"arith\.constant"(?=\(\)\s*<\{value\s*=\s*dense<)'
)


def prepare(module) -> str:
    """StableHLO text the JAX client accepts: torch-mlir's tensor ``arith.constant`` ops become
    ``stablehlo.constant`` (same value attribute); the client refuses mixed dialects."""
    text = module if isinstance(module, str) else module.operation.get_asm(enable_debug_info=True)
    return _ARITH_CONSTANT.sub(lambda m: "stablehlo.constant" if m.group(1) else '"stablehlo.constant"', text)


def compile_stablehlo(module, target: str = "n150", timeout: float = 60.0) -> TTMlirResult:
    """Compiles one StableHLO module (``ir.Module`` or text) with the real tt-mlir."""
    return compile_many([module], target, timeout)[0]


def compile_many(modules: list, target: str = "n150", timeout: float = 60.0) -> list[TTMlirResult]:
    """Compiles several modules in one worker (restarted after a crash or a hang)."""
    reason = plugin.unavailable_reason()
    if reason is not None:
        return [TTMlirResult("unavailable", reason, target=target) for _ in modules]
    texts = [prepare(m) for m in modules]
    with tempfile.TemporaryDirectory(prefix="tt-torch-tt-mlir-") as scratch:
        return _Session(Path(scratch), target, timeout).run(texts)


class _Session:
    def __init__(self, scratch: Path, target: str, timeout: float):
        self.scratch, self.target, self.timeout = scratch, target, timeout
        self.ttsys = scratch / f"{target}.ttsys"
        self.ttsys.write_bytes(ttsys.build(target))
        self.cwd = scratch / "cwd"
        self.cwd.mkdir()

    def item_dir(self, i: int) -> Path:
        return self.scratch / f"m{i}"

    def run(self, texts: list[str]) -> list[TTMlirResult]:
        results: list[TTMlirResult | None] = [None] * len(texts)
        start = 0
        while start < len(texts):
            start = self._spawn(texts, start, results)
        return results  # type: ignore[return-value]

    def _spawn(self, texts: list[str], start: int, results: list) -> int:
        items = [
            {"name": f"m{i}", "out_dir": str(self.item_dir(i)), "text": texts[i]} for i in range(start, len(texts))
        ]
        request = self.scratch / f"request{start}.json"
        request.write_text(json.dumps({"ttsys": str(self.ttsys), "items": items}))
        log = self.scratch / f"worker{start}.log"
        env = {k: v for k, v in os.environ.items() if k != "TTXLA_CODEGEN_EXPORT_DIR"}
        with open(log, "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, str(WORKER), str(request)],
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                env=env,
                start_new_session=True,
            )
            i, t0 = start, time.monotonic()
            allowance = STARTUP_SECONDS + self.timeout
            try:
                while i < len(texts):
                    done = self.item_dir(i) / "result.json"
                    if done.exists():
                        results[i] = self._collect(i, json.loads(done.read_text()), time.monotonic() - t0)
                        i, t0, allowance = i + 1, time.monotonic(), self.timeout
                        continue
                    rc = proc.poll()
                    if rc is not None and not done.exists():
                        results[i] = self._failure("crash", self._crash_text(rc, log), t0)
                        return i + 1
                    if time.monotonic() - t0 > allowance:
                        results[i] = self._failure(
                            "timeout",
                            f"tt-mlir did not finish compiling within {allowance:.0f} s and was stopped; "
                            "raise the timeout if the module is large",
                            t0,
                        )
                        return i + 1
                    time.sleep(0.01)
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        return i

    def _failure(self, status: str, error: str, t0: float) -> TTMlirResult:
        return TTMlirResult(status, error, seconds=time.monotonic() - t0, target=self.target)

    def _crash_text(self, rc: int, log: Path) -> str:
        tail = log.read_text(errors="replace")[-3000:]
        if plugin.SCHEMA_MISMATCH_TEXT in tail:
            return plugin.schema_mismatch_message(str(self.ttsys))
        how = f"signal {signal.Signals(-rc).name}" if rc < 0 else f"exit code {rc}"
        lines = [ln for ln in tail.splitlines() if ln.strip() and "is experimental" not in ln]
        return f"tt-mlir's process died ({how}) while compiling the module; its last output:\n" + "\n".join(lines[-15:])

    def _collect(self, i: int, result: dict, seconds: float) -> TTMlirResult:
        out = self.item_dir(i)
        irs = {}
        for path in sorted((out / "irs").glob("*.mlir")):
            stem = path.stem
            stage = stem.split(f"_m{i}_", 1)[0] if f"_m{i}_" in stem else stem.rsplit("_", 1)[0]
            irs[stage] = path.read_text()
        flatbuffers = sorted(out.glob("*.ttnn"))
        status = "ok" if result["ok"] else "rejected"
        if plugin.SCHEMA_MISMATCH_TEXT in result["error"]:  # not the module's fault: the descriptor's
            status, result["error"] = "unavailable", plugin.schema_mismatch_message(str(self.ttsys))
        return TTMlirResult(
            status,
            _clean_error(result["error"]),
            irs,
            flatbuffers[0].read_bytes() if flatbuffers else None,
            seconds,
            self.target,
        )


def _clean_error(text: str) -> str:
    """The plugin's diagnostics without the module-text echo of each note."""
    return text.strip().removeprefix("UNKNOWN: ").strip()
