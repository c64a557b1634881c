"""Mutates a valid exported .ttnn many times; every load must fail with a tt-torch error or
succeed verified (and then its sections, weights, goldens and its run must work or fail
the same way). Run as a script by test_robustness.py so that a crash or a hang shows up
as an exit status instead of killing pytest:

    python tests/export/mutate_ttnn.py MODEL.ttnn ITERATIONS SEED
"""

from __future__ import annotations

import collections
import random
import sys

import torch

from tt_torch import runtime
from tt_torch._generated import binary_generated as fb
from tt_torch.errors import BinaryError, TTRuntimeError


def rebuilt(good: bytes, version=None, identifier=b"TTNB") -> bytes:
    binary = fb.BinaryT.InitFromPackedBuf(good, 4)
    if version is not None:
        binary.version = fb.VersionT(major=version[0], minor=version[1], patch=version[2])
    builder = fb.flatbuffers.Builder(1 << 16)
    builder.FinishSizePrefixed(binary.Pack(builder), identifier)
    return bytes(builder.Output())


def mutants(good: bytes, n: int, rng: random.Random):
    major, minor, patch = runtime.schema_version()
    fixed = [
        ("identifier", rebuilt(good, identifier=b"TTNN")),
        ("identifier", good[:8] + b"XXXX" + good[12:]),
        ("version", rebuilt(good, version=(major, minor - 1, 0))),
        ("version", rebuilt(good, version=(major, minor + 1, 0))),
        ("version", rebuilt(good, version=(major + 1, 0, 0))),
        ("truncate", b""),
        ("truncate", good[:11]),
    ]
    yield from fixed
    for _ in range(n - len(fixed)):
        kind = rng.choice(["flip", "flip", "truncate", "bytes"])
        data = bytearray(good)
        if kind == "flip":
            for _ in range(rng.choice([1, 1, 2, 4, 8])):
                i = rng.randrange(len(data))
                data[i] ^= 1 << rng.randrange(8)
        elif kind == "truncate":
            data = data[: rng.randrange(len(data))]
        else:  # overwrite a run of bytes with random ones
            i = rng.randrange(len(data))
            for k in range(i, min(len(data), i + rng.randrange(1, 16))):
                data[k] = rng.randrange(256)
        yield kind, bytes(data)


def main(path: str, iterations: int, seed: int) -> int:
    good = open(path, "rb").read()
    base_dir = path.rsplit("/", 1)[0]
    model = runtime.load(path)
    inputs = [torch.randn(d["shape"]) for d in model.user_inputs(0)]
    expected = model(*inputs)
    outcomes = collections.Counter()
    with runtime.open_device() as device:
        for kind, data in mutants(good, iterations, random.Random(seed)):
            try:
                binary = runtime.load_binary(data, base_dir=base_dir)
            except BinaryError as e:
                assert str(e), "an error without a message"
                outcomes[f"{kind}: refused"] += 1
                continue
            try:
                runtime.binary_json(binary)
                loaded = runtime.LoadedModel(binary, device)
                loaded.goldens()
                loaded(*inputs)
                outcomes[f"{kind}: ran"] += 1
            except (BinaryError, TTRuntimeError) as e:
                assert str(e), "an error without a message"
                outcomes[f"{kind}: failed cleanly"] += 1
            assert device.dram_bytes_in_use == 0
    assert torch.equal(model(*inputs)[0], expected[0])
    print(dict(sorted(outcomes.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
