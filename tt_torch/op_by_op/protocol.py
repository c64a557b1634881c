"""How the op-by-op parent and its worker process talk (stdlib only: both sides import it).

Framing: 8-byte big-endian length, then a pickle. The parent's first message
is ``{"sys_path": [...]}``; the worker answers ``{"ready": pid}``. Each request
then gets zero or more ``{"stage": int, "ir": {...}}`` messages (the furthest
stage reached so far, so a crash later still counts it) and one final message
with ``"done": True``.
"""

from __future__ import annotations

import pickle
import struct
from typing import Any, BinaryIO

# True inside the worker process. Test-only ops read it to crash or hang only here.
IN_WORKER = False

_HEADER = struct.Struct(">Q")


def send(stream: BinaryIO, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def read_exact(read, n: int) -> bytes | None:
    """Reads n bytes with ``read(k)``; None at end of stream."""
    chunks, got = [], 0
    while got < n:
        chunk = read(n - got)
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def recv(read) -> Any:
    header = read_exact(read, _HEADER.size)
    if header is None:
        return None
    data = read_exact(read, _HEADER.unpack(header)[0])
    if data is None:
        return None
    return pickle.loads(data)
