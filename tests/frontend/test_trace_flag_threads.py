"""FX marks "tracing" in one flag for the whole process, and dynamo refuses to run a compiled
function while it is set. While tt-torch traces a graph in one thread, a compiled model called
from another thread must still run; in the tracing thread itself dynamo's refusal stays."""

from __future__ import annotations

import threading

import pytest
import torch
from torch.fx import _symbolic_trace

from tt_torch.frontend import locking


def test_a_compiled_model_runs_in_another_thread_while_tt_torch_traces():
    model = torch.compile(torch.nn.Linear(4, 4).eval(), backend="tt")
    x = torch.randn(2, 4)
    with torch.no_grad():
        expected = model(x)  # compiled before the other thread starts tracing
    started, done = threading.Event(), threading.Event()

    def trace_in_background():
        with locking.tracing():
            _symbolic_trace._is_fx_tracing_flag = True  # as FX's tracer sets it while it runs
            try:
                started.set()
                done.wait(60)
            finally:
                _symbolic_trace._is_fx_tracing_flag = False

    tracer = threading.Thread(target=trace_in_background)
    result, errors = [], []

    def call():
        try:
            with torch.no_grad():
                result.append(model(x))
        except Exception as e:  # the failure this test is about
            errors.append(e)

    tracer.start()
    try:
        assert started.wait(60)
        caller = threading.Thread(target=call)
        caller.start()
        caller.join(60)
    finally:
        done.set()
        tracer.join(60)
    assert not errors, errors
    torch.testing.assert_close(result[0], expected)


def test_the_tracing_thread_keeps_dynamos_refusal():
    model = torch.compile(torch.nn.Linear(4, 4).eval(), backend="tt")
    with locking.tracing():
        _symbolic_trace._is_fx_tracing_flag = True
        try:
            with pytest.raises(RuntimeError, match="symbolically trace a dynamo-optimized function"):
                model(torch.randn(2, 4))
        finally:
            _symbolic_trace._is_fx_tracing_flag = False
