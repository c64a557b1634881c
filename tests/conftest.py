import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    """Each test compiles from scratch: no graph cached by dynamo from a previous test."""
    torch._dynamo.reset()
    torch.manual_seed(0)
    yield
    torch._dynamo.reset()


@pytest.fixture(scope="module")
def fast_numerics():
    """Devices opened in the test skip the chip's numerics emulation (TT_TORCH_NUMERICS=fast).

    For tests of plumbing and compiler correctness that compare with eager at fp32
    tolerances or across two paths bit for bit; the emulated numerics (TF32 operands of
    matmul/conv/multiply, fidelity, block floats) have their own tests in
    tests/runtime/test_numerics.py and tests/models/test_zoo.py."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TT_TORCH_NUMERICS", "fast")
        yield


@pytest.fixture
def devices_released():
    """Every test releases the meshes it acquired from DeviceManager; a leak is released here and
    fails the test (so that one test's devices never reach the next)."""
    from tt_torch.tools.device_manager import DeviceManager

    assert not DeviceManager.get_parent_devices(), "a previous test left devices acquired"
    yield
    leaked = list(DeviceManager.get_parent_devices())
    for parent in leaked:
        DeviceManager.release_parent_device(parent, cleanup_sub_devices=True)
    assert not leaked, f"the test left {leaked} acquired"
