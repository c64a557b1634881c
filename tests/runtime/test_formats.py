"""Block-float host formats (tt_torch.formats), bit-exact against hand-worked tiles.

Every expected byte / value below is worked out by hand in the comments, not computed by the
module under test. Notation: bf8 code = sign << 7 | q (W = 7, S = 24 - W = 17), bf4 code =
sign << 3 | q (W = 3, S = 21), bf2 code = sign << 1 | q (W = 1, S = 23); decoded value =
q * 2**(E - 127 - (W - 1)). In one bf8 tile: exponent of face f, face row r at byte 16f + r;
code of face f, face row r, face col c at byte 64 + 256f + 16r + c.
"""

from __future__ import annotations

import struct
import time

import pytest
import torch

from tt_torch import formats

INF = float("inf")
NAN = float("nan")


def f32(bits: int) -> float:
    return struct.unpack("<f", struct.pack("<I", bits))[0]


def bits_of(t: torch.Tensor) -> list[int]:
    return [b & 0xFFFFFFFF for b in t.contiguous().view(torch.int32).reshape(-1).tolist()]


def tile_with_row0(values, rows: int = 32, cols: int = 32) -> torch.Tensor:
    t = torch.zeros(rows, cols)
    t[0, : len(values)] = torch.tensor(values, dtype=torch.float32)
    return t


def assert_same_bits(a: torch.Tensor, b: torch.Tensor) -> None:
    assert a.shape == b.shape and a.dtype == b.dtype == torch.float32
    assert torch.equal(a.view(torch.int32), b.view(torch.int32))


# ---------------------------------------------------------------- sizes, names, errors


def test_sizes_and_aliases():
    # 64 exponent bytes + 1024 codes of 8 / 4 / 2 bits
    assert [formats.tile_bytes(f) for f in ("bfp_bf8", "bfp_bf4", "bfp_bf2")] == [1088, 576, 320]
    assert [formats.tile_bytes(f) for f in ("bfloat8_b", "bfloat4_b", "bfloat2_b")] == [1088, 576, 320]
    # [3, 37, 50] pads to [3, 64, 64]: 3 * 2 * 2 = 12 tiles
    assert formats.tensor_bytes([3, 37, 50], "bfp_bf8") == 12 * 1088
    assert formats.tensor_bytes(torch.Size([32, 33]), "bfp_bf4") == 2 * 576
    assert formats.tensor_bytes([5], "bfp_bf2") == 320  # rank 1: one row, one tile
    assert formats.tensor_bytes([0, 5], "bfp_bf8") == 0


def test_errors_name_format_and_shape():
    with pytest.raises(ValueError, match="unknown block-float format 'bfp_bf16'"):
        formats.pack(torch.zeros(4), "bfp_bf16")
    with pytest.raises(ValueError, match=r"bfp_bf8: expected a floating-point tensor, got dtype torch.int32"):
        formats.pack(torch.zeros(4, dtype=torch.int32), "bfloat8_b")
    with pytest.raises(ValueError, match=r"bfp_bf4: 100 bytes do not hold a tensor of shape \[2, 40\]: expected 1152"):
        formats.unpack(bytes(100), [2, 40], "bfp_bf4")
    with pytest.raises(ValueError, match="unknown rounding mode 'nearest'"):
        formats.round_to_bfp(torch.zeros(4), "bfp_bf8", rounding="nearest")


# ---------------------------------------------------------------- exact bytes


@pytest.mark.parametrize("fmt,size", [("bfp_bf8", 1088), ("bfp_bf4", 576), ("bfp_bf2", 320)])
def test_all_zero_tile(fmt, size):
    # 64 zero exponents + all-zero codes; -0.0 drops its sign (q == 0)
    assert formats.pack(torch.zeros(32, 32), fmt) == bytes(size)
    assert formats.pack(torch.full((32, 32), -0.0), fmt) == bytes(size)
    assert_same_bits(formats.unpack(bytes(size), (32, 32), fmt), torch.zeros(32, 32))


def test_bf8_mixed_exponents_rounding():
    row = [3.0, 1.0, 0.5, -2.0, 1.015625, 1.046875, 0.75, 2.0**-10, -(2.0**-10), 1e-40, 0.0]
    data = formats.pack(tile_with_row0(row), "bfp_bf8")
    # E = exp(3.0) = 128 = 0x80 (3.0 = 1.5 * 2**1); quantum 2**(128 - 133) = 1/32
    #  3.0:      m24 0xC00000, shift 0, q = 0xC00000 >> 17 = 96            -> 0x60
    #  1.0:      m24 0x800000 >> 1 = 0x400000, q = 32                     -> 0x20
    #  0.5:      0x800000 >> 2 = 0x200000, q = 16                         -> 0x10
    # -2.0:      q = 64, sign                                             -> 0xC0
    #  1.015625 = 1 + 1/64: mant 0x020000, m24 0x820000 >> 1 = 0x410000,
    #            q = 32, r = 0x10000 = tie, q even -> stays 32 (down)      -> 0x20
    #  1.046875 = 1 + 3/64: m24 0x860000 >> 1 = 0x430000, q = 33,
    #            r = 0x10000 = tie, q odd -> 34 (up)                      -> 0x22
    #  0.75:     m24 0xC00000 >> 2 = 0x300000, q = 24                     -> 0x18
    #  2**-10:   exp 117, shift 11: 0x800000 >> 11 = 0x1000, q = 0        -> 0x00
    # -2**-10:   q = 0 -> sign dropped                                    -> 0x00
    #  1e-40:    denormal, flushed                                        -> 0x00
    assert data[0] == 0x80 and data[1:64] == bytes(63)
    assert list(data[64:75]) == [0x60, 0x20, 0x10, 0xC0, 0x20, 0x22, 0x18, 0, 0, 0, 0]
    assert data[75:] == bytes(1088 - 75)
    out = formats.unpack(data, (32, 32), "bfp_bf8")
    # decoded q / 32
    assert out[0, :11].tolist() == [3.0, 1.0, 0.5, -2.0, 1.0, 1.0625, 0.75, 0.0, 0.0, 0.0, 0.0]
    assert bits_of(out[0, 8:9]) == [0]  # +0, not -0


def test_bf8_saturation():
    # 1.9999f = 1 + 0x7FFCB9 / 2**23, exp 127 (block max, E = 127 = 0x7F):
    # m24 = 0xFFFCB9, q = 0xFFFCB9 >> 17 = 127, r = 0x1FCB9 > tie -> 128 -> saturated to 127 = 0x7F
    # 1.0 in the same block: q = 64 = 0x40
    assert bits_of(torch.tensor([1.9999])) == [0x3FFFFCB9]
    data = formats.pack(tile_with_row0([1.9999, 1.0]), "bfp_bf8")
    assert data[0] == 0x7F and list(data[64:67]) == [0x7F, 0x40, 0x00]
    # decoded 127 * 2**(127 - 133) = 127 / 64
    assert formats.unpack(data, (32, 32), "bfp_bf8")[0, :2].tolist() == [1.984375, 1.0]


def test_denormals_flush_and_do_not_set_exponent():
    # a block holding only denormals: E = 0, codes 0
    data = formats.pack(tile_with_row0([1e-40, -1e-40, f32(0x007FFFFF)]), "bfp_bf8")
    assert data == bytes(1088)
    # [1.0, denormal]: E = 127 from 1.0 alone; the denormal encodes as 0
    data = formats.pack(tile_with_row0([1.0, -1e-40]), "bfp_bf8")
    assert data[0] == 0x7F and list(data[64:66]) == [0x40, 0x00]


def test_decode_flushes_results_below_normal_range():
    tile = bytearray(1088)
    tile[0] = 0x01  # E = 1: value = q * 2**(1 - 133)
    tile[64] = 0x01  # 2**-132: below 2**-126 -> +0
    tile[65] = 0x81  # -2**-132 -> -0
    tile[66] = 0x40  # 64 * 2**-132 = 2**-126: smallest normal, kept
    tile[1] = 0x85  # row 1: E = 133: value = q * 2**0
    tile[80] = 0x03  # 3.0
    tile[81] = 0x80  # sign set, q = 0: the NaN code, whatever E is
    out = formats.unpack(bytes(tile), (32, 32), "bfp_bf8")
    assert bits_of(out[0, :3]) == [0x00000000, 0x80000000, 0x00800000]
    assert out[1, 0].item() == 3.0 and bits_of(out[1, 1:2]) == [0x7FC00000]


def test_max_finite():
    # ±3.4028235e38 = ±(2 - 2**-23) * 2**127: exp 254 = 0xFE, m24 = 0xFFFFFF,
    # q = 127, r = 0x1FFFF > tie -> 128 -> saturated 127: codes 0x7F, 0xFF
    # 2**127: q = 64 = 0x40
    fmax = f32(0x7F7FFFFF)
    data = formats.pack(tile_with_row0([fmax, -fmax, 2.0**127]), "bfp_bf8")
    assert data[0] == 0xFE and list(data[64:67]) == [0x7F, 0xFF, 0x40]
    # decoded ±127 * 2**(254 - 133) = ±127 * 2**121
    assert formats.unpack(data, (32, 32), "bfp_bf8")[0, :3].tolist() == [127 * 2.0**121, -127 * 2.0**121, 2.0**127]


def test_nan_inf_policy_bf8():
    fmax = f32(0x7F7FFFFF)
    row = [INF, -INF, NAN, 1.0, 1.5 * 2.0**127, fmax, f32(0xFFC00001)]
    data = formats.pack(tile_with_row0(row), "bfp_bf8")
    # E = 255 (0xFF): set by inf / NaN
    #  inf:  m24 0x800000, shift 0, q = 64                        -> 0x40 (decodes 64 * 2**122 = 2**128 = inf)
    # -inf:                                                       -> 0xC0
    #  NaN:  sign set, magnitude 0 (the code nothing else makes)   -> 0x80
    #  1.0:  shift 128 >= 24 -> 0                                 -> 0x00
    #  1.5 * 2**127: exp 254, 0xC00000 >> 1 = 0x600000, q = 48    -> 0x30 (decodes 48 * 2**122 exactly)
    #  max finite: 0xFFFFFF >> 1 = 0x7FFFFF, q = 63, r = 0x1FFFF > tie -> 64 -> 0x40 (decodes to inf)
    #  negative NaN (0xFFC00001): same NaN code                    -> 0x80
    assert data[0] == 0xFF
    assert list(data[64:71]) == [0x40, 0xC0, 0x80, 0x00, 0x30, 0x40, 0x80]
    out = formats.unpack(data, (32, 32), "bfp_bf8")
    assert bits_of(out[0, :7]) == [0x7F800000, 0xFF800000, 0x7FC00000, 0, 0x7F400000, 0x7F800000, 0x7FC00000]
    for rounding in ("host", "device"):
        assert_same_bits(formats.round_to_bfp(tile_with_row0(row), "bfp_bf8", rounding), out)


def test_nan_inf_policy_bf2():
    # bf2 has one magnitude bit: inf is q = 1 (2**(255 - 127) = 2**128 -> inf), so NaN must be
    # the sign-only code 0b10. Codes: inf 0b01, NaN 0b10, -inf 0b11, 0.0 0b00
    # byte 64 = c0 | c1 << 2 | c2 << 4 | c3 << 6 = 1 | 2 << 2 | 3 << 4 = 0x39
    row = [INF, NAN, -INF, 0.0]
    data = formats.pack(tile_with_row0(row), "bfp_bf2")
    assert data[0] == 0xFF and data[64] == 0x39 and data[65:] == bytes(320 - 65)
    out = formats.unpack(data, (32, 32), "bfp_bf2")
    assert bits_of(out[0, :4]) == [0x7F800000, 0x7FC00000, 0xFF800000, 0]
    assert_same_bits(formats.round_to_bfp(tile_with_row0(row), "bfp_bf2"), out)


def test_face_and_tile_order():
    t = torch.zeros(32, 32)
    t[0, 16] = 1.0  # face 1, face row 0, col 0: exponent byte 16, code byte 64 + 256 = 320
    t[16, 0] = 2.0  # face 2, row 0: exponent byte 32 (E = 128), code byte 64 + 512 = 576, q = 64
    t[17, 18] = -1.0  # face 3, row 1, col 2: exponent byte 48 + 1 = 49, code byte 64 + 768 + 16 + 2 = 850
    data = formats.pack(t, "bfp_bf8")
    nonzero = {i: b for i, b in enumerate(data) if b}
    assert nonzero == {16: 0x7F, 32: 0x80, 49: 0x7F, 320: 0x40, 576: 0x40, 850: 0xC0}

    # [2, 32, 64]: tiles (batch 0, col 0), (0, 1), (1, 0), (1, 1); [1, 0, 32] is tile 3, row 0, col 0
    t = torch.zeros(2, 32, 64)
    t[1, 0, 32] = 1.0
    data = formats.pack(t, "bfp_bf8")
    assert {i: b for i, b in enumerate(data) if b} == {3 * 1088: 0x7F, 3 * 1088 + 64: 0x40}

    # rank 1 and padding: [20] is row 0 of one tile; index 17 is face 1, col 1
    t = torch.zeros(20)
    t[17] = 0.5
    data = formats.pack(t, "bfp_bf8")
    assert {i: b for i, b in enumerate(data) if b} == {16: 0x7E, 64 + 256 + 1: 0x40}
    assert_same_bits(formats.unpack(data, [20], "bfp_bf8"), t)


def test_bf4_nibble_order():
    # E = 127 (0x7F), bf4: q = m24 >> (E - exp) >> 21
    #  1.0 -> 4, 0.5 -> 2, -1.0 -> 8 | 4 = 0xC, 0.25 -> 1, 1.75 (0xE00000) -> 7, 0.0 -> 0
    # code j of a little-endian word in bits [4j, 4j + 4): byte = c[2i] | c[2i + 1] << 4
    data = formats.pack(tile_with_row0([1.0, 0.5, -1.0, 0.25, 1.75, 0.0]), "bfp_bf4")
    assert data[0] == 0x7F and list(data[64:68]) == [0x24, 0x1C, 0x07, 0x00]
    # face 1, row 0 starts at 64 + 1024 / 2 / 4 = 64 + 128
    t = torch.zeros(32, 32)
    t[0, 17] = 1.0
    data = formats.pack(t, "bfp_bf4")
    assert {i: b for i, b in enumerate(data) if b} == {16: 0x7F, 64 + 128: 0x40}


def test_bf2_crumb_order():
    # E = 127, bf2 (S = 23): 1.0 -> q 1 (code 1); -1.0 -> code 3;
    # 0.5: 0x400000 >> 23 = 0, r = 0x400000 = tie, q even -> 0 (code 0);
    # 0.75: 0x600000, q = 0, r > tie -> 1 (code 1)
    # byte = c0 | c1 << 2 | c2 << 4 | c3 << 6 = 1 | 12 | 0 | 64 = 0x4D
    data = formats.pack(tile_with_row0([1.0, -1.0, 0.5, 0.75]), "bfp_bf2")
    assert data[0] == 0x7F and data[64] == 0x4D and data[65:] == bytes(320 - 65)
    assert formats.unpack(data, (32, 32), "bfp_bf2")[0, :4].tolist() == [1.0, -1.0, 0.0, 1.0]


def test_host_vs_device_rounding():
    # 1.375 = 0xB00000 / 2**23 in a block with max exponent 127.
    # host bf4: q = 0xB00000 >> 21 = 5, r = 0x100000 = tie, q odd -> 6 -> 6 / 4 = 1.5
    # device bf4: q8 = 0xB00000 >> 17 = 88 exactly; 88 >> 4 = 5 -> 5 / 4 = 1.25
    # 0.75 (0x600000 after the shift of 1):
    # host bf2: q = 0, r > tie -> 1 -> 1.0; device bf2: q8 = 48, 48 >> 6 = 0 -> 0.0
    # -0.25 with device bf4: q8 = 16 -> 1, sign kept: code 0x9 -> -0.25
    t = tile_with_row0([1.375, 0.75, -0.25])
    h4, d4 = formats.pack(t, "bfp_bf4", "host"), formats.pack(t, "bfp_bf4", "device")
    assert list(h4[64:66]) == [0x6 | 0x3 << 4, 0x9]  # 1.375 -> 6, 0.75 -> 3, -0.25 -> 0x9
    assert list(d4[64:66]) == [0x5 | 0x3 << 4, 0x9]
    assert formats.round_to_bfp(t, "bfp_bf4", "host")[0, :3].tolist() == [1.5, 0.75, -0.25]
    assert formats.round_to_bfp(t, "bfp_bf4", "device")[0, :3].tolist() == [1.25, 0.75, -0.25]
    assert formats.round_to_bfp(t, "bfp_bf2", "host")[0, :2].tolist() == [1.0, 1.0]
    assert formats.round_to_bfp(t, "bfp_bf2", "device")[0, :2].tolist() == [1.0, 0.0]
    # bf8 is the same in both modes
    assert formats.pack(t, "bfp_bf8", "host") == formats.pack(t, "bfp_bf8", "device")


# ---------------------------------------------------------------- properties


def random_with_specials(shape, gen) -> torch.Tensor:
    x = torch.randn(shape, generator=gen) * torch.exp2(torch.randint(-30, 30, shape, generator=gen).float())
    flat = x.view(-1)
    n = flat.numel()
    idx = torch.randperm(n, generator=gen)
    k = max(1, n // 200)
    flat[idx[:k]] = NAN
    flat[idx[k : 2 * k]] = INF
    flat[idx[2 * k : 3 * k]] = -INF
    flat[idx[3 * k : 4 * k]] = 1e-40  # denormal
    flat[idx[4 * k : 5 * k]] = -0.0
    flat[idx[5 * k : 6 * k]] = f32(0x7F7FFFFF)
    return x


@pytest.mark.parametrize("fmt", ["bfp_bf8", "bfp_bf4", "bfp_bf2"])
@pytest.mark.parametrize("rounding", ["host", "device"])
@pytest.mark.parametrize("shape", [(3, 37, 50), (5,), (33, 17), (1, 1, 1), (2, 0, 3)])
def test_round_to_bfp_equals_unpack_pack(fmt, rounding, shape):
    gen = torch.Generator().manual_seed(len(shape) * 7 + sum(shape))
    for x in (torch.randn(shape, generator=gen), random_with_specials(shape, gen) if 0 not in shape else None):
        if x is None:
            continue
        data = formats.pack(x, fmt, rounding)
        assert len(data) == formats.tensor_bytes(shape, fmt)
        assert_same_bits(formats.round_to_bfp(x, fmt, rounding), formats.unpack(data, shape, fmt))


def test_other_float_dtypes_convert_to_fp32_first():
    x = torch.randn(7, 40)
    for dtype in (torch.bfloat16, torch.float16, torch.float64):
        y = x.to(dtype)
        assert formats.pack(y, "bfp_bf8") == formats.pack(y.float(), "bfp_bf8")
        assert_same_bits(formats.round_to_bfp(y, "bfp_bf4"), formats.round_to_bfp(y.float(), "bfp_bf4"))


def test_idempotent():
    x = torch.randn(64, 96)
    for fmt in formats.FORMATS:
        y = formats.round_to_bfp(x, fmt)
        assert_same_bits(formats.round_to_bfp(y, fmt), y)


def test_error_bounds_equal_exponents():
    # every block in [1, 1.99): E = 127, bf8 quantum 2**-6 (bf4 2**-2); round to nearest, no
    # saturation (that starts at 127.5 / 64 > 1.99) -> |error| <= quantum / 2 = 2**-7 <= 2**-7 * block max
    gen = torch.Generator().manual_seed(1)
    x = 1.0 + torch.rand(64, 64, generator=gen) * 0.99  # < 1.99: no saturation
    block_max = x.view(64, 4, 16).amax(-1, keepdim=True).expand(64, 4, 16).reshape(64, 64)
    err8 = (formats.round_to_bfp(x, "bfp_bf8") - x).abs()
    assert (err8 <= 2.0**-7 * block_max).all()
    err4 = (formats.round_to_bfp(x, "bfp_bf4") - x).abs()
    assert (err4 <= 2.0**-3 * block_max).all()
    # device bf4 truncates the bf8 result: error < one bf4 quantum (2**-2) + bf8 half quantum
    err4d = (formats.round_to_bfp(x, "bfp_bf4", "device") - x).abs()
    assert (err4d < 2.0**-2 + 2.0**-7).all()


def test_large_tensor_is_fast():
    x = torch.randn(1024, 1024)
    start = time.perf_counter()
    data = formats.pack(x, "bfp_bf8")
    y = formats.unpack(data, x.shape, "bfp_bf8")
    z = formats.round_to_bfp(x, "bfp_bf8")
    assert time.perf_counter() - start < 2.0  # ~0.3 s measured; generous for loaded machines
    assert_same_bits(y, z)
