"""Host-side block-float data formats of the emulated device, bit-exact.

Pure numpy/torch (no C++); this module is the reference the C++ runtime must match.

Formats (tt-mlir names, with the TTNN aliases): ``"bfp_bf8"`` (``"bfloat8_b"``),
``"bfp_bf4"`` (``"bfloat4_b"``), ``"bfp_bf2"`` (``"bfloat2_b"``). A value is a sign bit plus
a W-bit magnitude, W = 7 / 3 / 1, with an explicit leading one (no hidden bit).

Blocks
    A tensor ``[..., H, W]`` in TILE layout is padded with zeros to multiples of 32 in its
    last two dims (a rank-1 tensor is one row; a rank-0 tensor is one row of one value).
    A block is one row ``r`` and columns ``[16k, 16k + 16)``: one row of a 16x16 face.
    Each block has one shared 8-bit exponent. Padding zeros never raise it.

Encoding (per fp32 value ``bits``; other float dtypes are first converted to fp32)
    ``exp = bits >> 23 & 0xFF``, ``mant = bits & 0x7FFFFF``, ``sign = bits >> 31``.
    Zeros and denormals (``exp == 0``) are flushed: they count as 0 for the shared exponent and
    encode as code 0. The shared exponent ``E`` is the max ``exp`` of the block (0 if all zero;
    an inf or NaN makes it 255).
    For a nonzero value: ``m24 = 1 << 23 | mant``; ``shifted = m24 >> (E - exp)`` (truncating; a
    shift of 24 or more gives 0); with ``S = 24 - W``: ``q = shifted >> S``, ``r = shifted &
    (2**S - 1)``, ``tie = 2**(S - 1)``; ``q += 1`` if ``r > tie or (r == tie and q is odd)``
    (round to nearest, ties to even); ``q = min(q, 2**W - 1)`` (saturate). If ``q == 0`` the
    sign is dropped. ``code = sign << W | q``.

Rounding modes
    ``"host"``: the rule above, for every format (tt-metal's host packer).
    ``"device"``: the device packer. bfp_bf8 is identical to host; bfp_bf4 / bfp_bf2 are
    truncations of the bfp_bf8 result: ``q4 = q8 >> 4``, ``q2 = q8 >> 6`` (sign kept unless the
    magnitude becomes 0). Same shared exponent.

Decoding
    ``value = (-1)**sign * q * 2**(E - 127 - (W - 1))``, exact in fp32. A nonzero result below the
    fp32 normal range (< 2**-126) flushes to a zero of the code's sign; a result >= 2**128 is
    ``±inf``.

NaN / inf policy (both :func:`unpack` of :func:`pack` and :func:`round_to_bfp` follow it; they
share one encoder and one decoder, so they agree bit for bit on every input)
    * A NaN input (``exp == 255``, ``mant != 0``) sets ``E = 255`` and encodes as the code that no
      other value can produce: sign bit set, magnitude 0 (``1 << W``, "negative zero").
      Decoding that code gives a quiet NaN (``0x7FC00000``; the NaN's sign is not kept),
      whatever ``E`` is. (The all-ones magnitude cannot be the NaN code: in bfp_bf2 it is the
      only nonzero magnitude, which inf needs.)
    * ``±inf`` (``exp == 255``, ``mant == 0``) sets ``E = 255`` and follows the formula:
      ``q = 2**(W - 1)``, which decodes to ``2**128`` -> ``±inf``.
    * Finite values in a block with ``E == 255`` follow the formula: they are shifted by
      ``255 - exp >= 1`` so ``q <= 2**(W - 1)``; they decode to a finite value
      ``q * 2**(129 - W)`` for ``q < 2**(W - 1)``, to 0 when ``q == 0``, and to ``±inf`` when they
      round up to ``q == 2**(W - 1)``.
    * Every other code decodes to a finite value or 0.

Byte layout of one tile (:func:`pack`)
    64 exponent bytes (face 0 = top-left, 1 = top-right, 2 = bottom-left, 3 = bottom-right;
    16 per face, one per face row), then the codes of faces 0..3, each face row-major, packed
    into little-endian uint32 words: bfp_bf8 code j of a word in bits ``[8j, 8j + 8)`` (4 per
    word), bfp_bf4 ``[4j, 4j + 4)`` (8 per word), bfp_bf2 ``[2j, 2j + 2)`` (16 per word). Tile
    bytes: 1088 / 576 / 320. The tiles of a tensor are ordered row-major over
    ``(leading dims..., H/32, W/32)``.

    >>> import torch
    >>> from tt_torch import formats
    >>> data = formats.pack(torch.randn(64, 64), "bfp_bf8")
    >>> len(data) == formats.tensor_bytes((64, 64), "bfp_bf8") == 4 * 1088
    True
    >>> y = formats.unpack(data, (64, 64), "bfp_bf8")
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

__all__ = [
    "FORMATS",
    "canonical_format",
    "magnitude_bits",
    "pack",
    "round_to_bfp",
    "tensor_bytes",
    "tile_bytes",
    "unpack",
]

# canonical name -> magnitude bits W
FORMATS: dict[str, int] = {"bfp_bf8": 7, "bfp_bf4": 3, "bfp_bf2": 1}
_ALIASES: dict[str, str] = {"bfloat8_b": "bfp_bf8", "bfloat4_b": "bfp_bf4", "bfloat2_b": "bfp_bf2"}
ROUNDING_MODES = ("host", "device")

TILE = 32
FACE = 16
_EXP_BYTES_PER_TILE = 64
_VALUES_PER_TILE = TILE * TILE

_NAN = np.array([0x7FC00000], np.uint32).view(np.float32)[0]  # quiet NaN
_MIN_NORMAL = 2.0**-126
_OVERFLOW = 2.0**128


def canonical_format(fmt: str) -> str:
    """``"bfp_bf8"`` for ``"bfp_bf8"`` or ``"bfloat8_b"`` (likewise bf4, bf2); ValueError otherwise."""
    if isinstance(fmt, str):
        if fmt in FORMATS:
            return fmt
        if fmt in _ALIASES:
            return _ALIASES[fmt]
    known = ", ".join([*FORMATS, *_ALIASES])
    raise ValueError(f"unknown block-float format {fmt!r}; known formats: {known}")


def magnitude_bits(fmt: str) -> int:
    """W: magnitude bits per value (7 / 3 / 1), explicit leading one included."""
    return FORMATS[canonical_format(fmt)]


def tile_bytes(fmt: str) -> int:
    """Bytes of one 32x32 tile: 64 exponent bytes + 1024 codes of (W + 1) bits: 1088 / 576 / 320."""
    w = magnitude_bits(fmt)
    return _EXP_BYTES_PER_TILE + _VALUES_PER_TILE * (w + 1) // 8


def _check_shape(shape: Sequence[int], fmt: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in shape)
    except TypeError:
        raise ValueError(f"{fmt}: shape must be a sequence of ints, got {shape!r}") from None
    if any(d < 0 for d in dims):
        raise ValueError(f"{fmt}: negative dimension in shape {list(dims)}")
    return dims if dims else (1,)


def _num_tiles(dims: tuple[int, ...]) -> int:
    if len(dims) == 1:
        dims = (1, *dims)
    lead = math.prod(dims[:-2])
    return lead * (-(-dims[-2] // TILE)) * (-(-dims[-1] // TILE))


def tensor_bytes(shape: Sequence[int], fmt: str) -> int:
    """Padded device size of a TILE-layout tensor: number of 32x32 tiles x :func:`tile_bytes`."""
    fmt = canonical_format(fmt)
    return _num_tiles(_check_shape(shape, fmt)) * tile_bytes(fmt)


def _check_rounding(rounding: str) -> str:
    if rounding not in ROUNDING_MODES:
        raise ValueError(f"unknown rounding mode {rounding!r}; expected one of {', '.join(ROUNDING_MODES)}")
    return rounding


def _to_fp32_numpy(t: torch.Tensor, fmt: str) -> np.ndarray:
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{fmt}: expected a torch.Tensor, got {type(t).__name__}")
    if not t.dtype.is_floating_point:
        raise ValueError(f"{fmt}: expected a floating-point tensor, got dtype {t.dtype} (shape {list(t.shape)})")
    return t.detach().to(device="cpu", dtype=torch.float32).contiguous().numpy()


def _encode(x: np.ndarray, w: int, rounding: str) -> tuple[np.ndarray, np.ndarray]:
    """fp32 array ``[..., n * 16]`` -> (shared exponents ``[..., n]`` uint8, codes ``[..., n * 16]`` uint8)."""
    blocks = x.reshape(*x.shape[:-1], x.shape[-1] // FACE, FACE)
    bits = blocks.view(np.uint32).astype(np.int64)
    sign = bits >> 31
    exp = (bits >> 23) & 0xFF
    mant = bits & 0x7FFFFF
    # zeros and denormals are flushed: exp 0 contributes nothing to E and encodes as 0
    nonzero = exp != 0
    nan = (exp == 0xFF) & (mant != 0)
    shared = exp.max(axis=-1, keepdims=True)  # the reduced axis always has 16 entries
    shift = shared - exp
    m24 = np.where(nonzero, (1 << 23) | mant, 0)
    shifted = np.where(shift >= 24, 0, m24 >> np.minimum(shift, 24))

    # "device" rounding of bf4 / bf2 truncates the bf8 result
    rw = 7 if rounding == "device" else w
    s = 24 - rw
    q = shifted >> s
    r = shifted & ((1 << s) - 1)
    tie = 1 << (s - 1)
    q = q + ((r > tie) | ((r == tie) & ((q & 1) == 1)))
    q = np.minimum(q, (1 << rw) - 1)
    if rw != w:
        q = q >> (rw - w)

    code = np.where(q == 0, 0, (sign << w) | q)
    code = np.where(nan, 1 << w, code)  # NaN: sign set, magnitude 0 (never produced otherwise)
    return shared[..., 0].astype(np.uint8), code.reshape(x.shape).astype(np.uint8)


def _decode(shared: np.ndarray, codes: np.ndarray, w: int) -> np.ndarray:
    """Shared exponents ``[..., n]`` and codes ``[..., n * 16]`` -> fp32 values ``[..., n * 16]``."""
    c = codes.reshape(*codes.shape[:-1], codes.shape[-1] // FACE, FACE).astype(np.int64)
    e = shared.astype(np.int64)[..., None]
    sign = (c >> w) & 1
    q = c & ((1 << w) - 1)
    mag = np.ldexp(q.astype(np.float64), (e - 127 - (w - 1)).astype(np.int32))  # exact in float64
    mag = np.where(mag < _MIN_NORMAL, 0.0, mag)  # flush results below the fp32 normal range
    mag = np.where(mag >= _OVERFLOW, np.inf, mag)
    val = np.where(sign == 1, -mag, mag).astype(np.float32)  # exact: q has <= 7 significant bits
    nan = (sign == 1) & (q == 0)
    val = np.where(nan, _NAN, val)
    return val.reshape(codes.shape)


def round_to_bfp(t: torch.Tensor, fmt: str, rounding: str = "host") -> torch.Tensor:
    """The fp32 values ``unpack(pack(t, fmt, rounding), t.shape, fmt)`` gives, without building bytes.

    Same shape as ``t``, dtype float32 (on the CPU).
    """
    fmt = canonical_format(fmt)
    _check_rounding(rounding)
    w = FORMATS[fmt]
    x = _to_fp32_numpy(t, fmt)
    shape = x.shape
    x = x.reshape(-1) if x.ndim == 0 else x
    n = x.shape[-1]
    pad = -n % FACE
    if pad:
        x = np.concatenate([x, np.zeros((*x.shape[:-1], pad), np.float32)], axis=-1)
    shared, codes = _encode(x, w, rounding)
    y = _decode(shared, codes, w)[..., :n]
    return torch.from_numpy(np.ascontiguousarray(y).reshape(shape))


def _to_tiles(x: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int]]:
    """``[..., H, W]`` -> ``[tiles, 4 faces, 16, 16]`` (zero padded), plus (lead, Hp, Wp)."""
    x = x.reshape(1, *x.shape) if x.ndim == 1 else x
    lead = math.prod(x.shape[:-2])
    h, wd = x.shape[-2:]
    hp, wp = -(-h // TILE) * TILE, -(-wd // TILE) * TILE
    padded = np.zeros((lead, hp, wp), np.float32)
    padded[:, :h, :wd] = x.reshape(lead, h, wd)
    ht, wt = hp // TILE, wp // TILE
    # [lead, ht, fr, 16, wt, fc, 16] -> [lead, ht, wt, fr, fc, 16, 16]
    faces = padded.reshape(lead, ht, 2, FACE, wt, 2, FACE).transpose(0, 1, 4, 2, 5, 3, 6)
    return faces.reshape(lead * ht * wt, 4, FACE, FACE), (lead, hp, wp)


def pack(t: torch.Tensor, fmt: str, rounding: str = "host") -> bytes:
    """Encode a float tensor ``[..., H, W]`` as the device's TILE-layout block-float bytes.

    Length :func:`tensor_bytes` ``(t.shape, fmt)``; see the module docstring for the layout.
    """
    fmt = canonical_format(fmt)
    _check_rounding(rounding)
    w = FORMATS[fmt]
    x = _to_fp32_numpy(t, fmt)
    x = x.reshape(1) if x.ndim == 0 else x
    faces, _ = _to_tiles(x)
    ntiles = faces.shape[0]
    shared, codes = _encode(faces, w, rounding)  # [T, 4, 16], [T, 4, 16, 16]
    codes = codes.reshape(ntiles, _VALUES_PER_TILE)
    per_byte = 8 // (w + 1)
    if per_byte > 1:  # code j of a little-endian word at bits [(w+1)j, ...): low bits first within each byte
        codes = codes.reshape(ntiles, _VALUES_PER_TILE // per_byte, per_byte)
        shifts = (np.arange(per_byte, dtype=np.uint8) * (w + 1)).astype(np.uint8)
        codes = np.bitwise_or.reduce(codes << shifts, axis=-1).astype(np.uint8)
    out = np.concatenate([shared.reshape(ntiles, _EXP_BYTES_PER_TILE), codes], axis=1)
    return out.tobytes()


def unpack(data: bytes | bytearray | memoryview, shape: Sequence[int], fmt: str) -> torch.Tensor:
    """Decode :func:`pack`'s bytes back to a float32 tensor of ``shape`` (padding dropped)."""
    fmt = canonical_format(fmt)
    w = FORMATS[fmt]
    dims = _check_shape(shape, fmt)
    expected = tensor_bytes(dims, fmt)
    buf = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
    if buf.size != expected:
        raise ValueError(
            f"{fmt}: {buf.size} bytes do not hold a tensor of shape {list(shape)}: expected {expected} "
            f"({_num_tiles(dims)} tiles x {tile_bytes(fmt)} B)"
        )
    ntiles = expected // tile_bytes(fmt)
    tiles = buf.reshape(ntiles, tile_bytes(fmt))
    shared = tiles[:, :_EXP_BYTES_PER_TILE].reshape(ntiles, 4, FACE)
    packed = tiles[:, _EXP_BYTES_PER_TILE:]
    per_byte = 8 // (w + 1)
    if per_byte > 1:
        shifts = (np.arange(per_byte, dtype=np.uint8) * (w + 1)).astype(np.uint8)
        codes = (packed[:, :, None] >> shifts) & ((1 << (w + 1)) - 1)
    else:
        codes = packed
    codes = codes.reshape(ntiles, 4, FACE, FACE)
    vals = _decode(shared[..., None], codes, w)  # [T, 4, 16, 16], one block per face row

    d2 = (1, *dims) if len(dims) == 1 else dims
    lead = math.prod(d2[:-2])
    h, wd = d2[-2:]
    ht, wt = -(-h // TILE), -(-wd // TILE)
    # [lead, ht, wt, fr, fc, 16, 16] -> [lead, ht, fr, 16, wt, fc, 16]
    full = vals.reshape(lead, ht, wt, 2, 2, FACE, FACE).transpose(0, 1, 3, 5, 2, 4, 6)
    full = full.reshape(lead, ht * TILE, wt * TILE)[:, :h, :wd]
    out_shape = tuple(int(d) for d in shape)
    return torch.from_numpy(np.ascontiguousarray(full).reshape(out_shape))
