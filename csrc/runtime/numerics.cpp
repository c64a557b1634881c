#include "numerics.h"

#include <ATen/TensorIterator.h>

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>

#include "threads.h"

namespace tt::runtime {

std::string numericsName(Numerics numerics) { return numerics == Numerics::Fast ? "fast" : "emulated"; }

std::string integerOverflowName(IntegerOverflow mode) { return mode == IntegerOverflow::Wrap ? "wrap" : "error"; }

IntegerOverflow parseIntegerOverflow(const std::string& name) {
  if (name == "error") return IntegerOverflow::Error;
  if (name == "wrap") return IntegerOverflow::Wrap;
  fail("unknown integer overflow mode '", name, "': expected 'error' (an int32 result out of range fails the op) or "
       "'wrap' (the hardware's wrapped value, counted on the device)");
}

Numerics parseNumerics(const std::string& name) {
  if (name == "emulated") return Numerics::Emulated;
  if (name == "fast") return Numerics::Fast;
  fail("unknown numerics mode '", name, "': expected 'emulated' (the chip's formats and math fidelity) or 'fast' "
       "(no emulation)");
}

namespace {

constexpr int kBfp8Width = 7;  // magnitude bits of a bfloat8_b code, leading one included
constexpr int64_t kBlock = 16;  // values per block-float block (a face row)

int magnitudeWidth(fb::DataType dtype) {
  switch (dtype) {
    case fb::DataType::BFP_BFloat8: return 7;
    case fb::DataType::BFP_BFloat4: return 3;
    case fb::DataType::BFP_BFloat2: return 1;
    default: fail("data type ", dtypeName(dtype), " is not a block-float format of the emulated device");
  }
}

inline float floatOf(uint32_t u) { return std::bit_cast<float>(u); }
inline uint32_t bitsOf(float f) { return std::bit_cast<uint32_t>(f); }

// 2**e as fp32 for -149 <= e <= 128 (a denormal below -126, inf at 128).
inline float pow2(int e) {
  return e >= -126 ? floatOf(static_cast<uint32_t>(e + 127) << 23) : floatOf(1u << (e + 149));
}

// One block of values (N of them, or n <= 16 where N is 0): shared exponent, then each
// value's code, decoded. Branch free per value in 32-bit lanes, so that a block of 16 is
// a few vector instructions.
template <int64_t N>
__attribute__((always_inline)) inline void roundBlock(const float* __restrict in, float* __restrict out, int64_t n,
                                                      int width) {
  const int64_t len = N > 0 ? N : n;
  int32_t shared = 0;
  for (int64_t i = 0; i < len; ++i) {
    // zeros and denormals (e == 0) never raise it
    shared = std::max(shared, static_cast<int32_t>((bitsOf(in[i]) >> 23) & 0xFF));
  }
  if (shared == 0) {  // zeros and denormals only: all flushed
    for (int64_t i = 0; i < len; ++i) out[i] = 0.0f;
    return;
  }
  // A value is q * 2**scale (q has `width` bits). With shared == 255 (an inf or NaN in the
  // block) an inf's q overflows the product to inf, as the packer's exponent 255 decodes
  // (bfloat2_b: the scale itself, 2**128, is inf).
  const float scale = pow2(shared - 127 - (width - 1));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  constexpr int kShift = 24 - kBfp8Width;
  constexpr int32_t kTie = 1 << (kShift - 1);
  const int32_t narrow = kBfp8Width - width;
  for (int64_t i = 0; i < len; ++i) {
    const uint32_t bits = bitsOf(in[i]);
    const int32_t e = static_cast<int32_t>((bits >> 23) & 0xFF);
    const uint32_t mant = bits & 0x7FFFFF;
    // aligned to the shared exponent; 24 places or more shift every bit out
    const int32_t shifted = static_cast<int32_t>(((1u << 23) | mant) >> std::min(shared - e, 31));
    // The packer rounds to bfloat8_b (nearest, ties to even, saturating) ...
    int32_t q = shifted >> kShift;
    const int32_t rest = shifted & ((1 << kShift) - 1);
    q += static_cast<int32_t>((rest > kTie) | ((rest == kTie) & ((q & 1) != 0)));
    q = std::min(q, (1 << kBfp8Width) - 1);
    // ... and the narrower formats keep the top bits of that code.
    q >>= narrow;
    float v = static_cast<float>(q) * scale;  // exact, or inf past the range (shared == 255)
    v = v < FLT_MIN ? 0.0f : v;               // below the normal range: flushed
    v = (bits >> 31) != 0 ? -v : v;
    // a zero code (and a zero or denormal input) is +0: a zero magnitude drops the sign
    v = (q == 0 || e == 0) ? 0.0f : v;
    out[i] = (e == 255 && mant != 0) ? nan : v;
  }
}

// A whole block of 16 in GCC's vector types: one AVX-512 register per quantity (two with
// AVX2), the same arithmetic as roundBlock.
using V16i = int32_t __attribute__((vector_size(64)));
using V16f = float __attribute__((vector_size(64)));

__attribute__((always_inline)) inline void roundBlock16(const float* __restrict in, float* __restrict out, int width) {
  V16i bits;
  std::memcpy(&bits, in, sizeof bits);
  const V16i e = (bits >> 23) & 0xFF;  // (bits is signed: the mask drops the sign's copies)
  // the shared exponent: the lanes' maximum, by halves
  V16i m = e, t;
  t = __builtin_shuffle(m, V16i{8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7});
  m = m > t ? m : t;
  t = __builtin_shuffle(m, V16i{4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11});
  m = m > t ? m : t;
  t = __builtin_shuffle(m, V16i{2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13});
  m = m > t ? m : t;
  t = __builtin_shuffle(m, V16i{1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14});
  m = m > t ? m : t;
  const int32_t shared = m[0];
  if (shared == 0) {  // zeros and denormals only: all flushed
    std::memset(out, 0, sizeof(V16f));
    return;
  }
  const float scale = pow2(shared - 127 - (width - 1));
  constexpr int kShift = 24 - kBfp8Width;
  constexpr int32_t kTie = 1 << (kShift - 1);
  const V16i mant = bits & 0x7FFFFF;
  V16i diff = shared - e;
  diff = diff < 31 ? diff : 31;
  const V16i shifted = (mant | (1 << 23)) >> diff;
  V16i q = shifted >> kShift;
  const V16i rest = shifted & ((1 << kShift) - 1);
  q -= (rest > kTie) | ((rest == kTie) & ((q & 1) != 0));  // a true comparison is -1
  q = q < (1 << kBfp8Width) - 1 ? q : (1 << kBfp8Width) - 1;
  q >>= kBfp8Width - width;
  const V16f zero = {};
  V16f v = __builtin_convertvector(q, V16f) * scale;
  v = v < FLT_MIN ? zero : v;
  v = bits < 0 ? -v : v;
  v = (q == 0) | (e == 0) ? zero : v;
  v = (e == 255) & (mant != 0) ? zero + std::numeric_limits<float>::quiet_NaN() : v;
  std::memcpy(out, &v, sizeof v);
}

// `count` blocks `stride` bytes apart (of 16 values, or of `len` < 16: the partial block
// that ends each row). Compiled for AVX-512, AVX2 and plain x86-64; the loader picks what
// the CPU has.
__attribute__((target_clones("avx512f", "avx2", "default"), optimize("O3"))) void roundBlockRun(
    const char* in, char* out, int64_t count, int64_t in_stride, int64_t out_stride, int64_t len, int width) {
  for (int64_t k = 0; k < count; ++k) {
    const auto* src = reinterpret_cast<const float*>(in + k * in_stride);
    auto* dst = reinterpret_cast<float*>(out + k * out_stride);
    if (len == kBlock) {
      roundBlock16(src, dst, width);
    } else {
      roundBlock<0>(src, dst, len, width);
    }
  }
}

// `count` blocks of `len` values in each row of a [rows, cols] fp32 tensor, from column
// `first` (full blocks of 16, or the partial block that ends each row), one block per
// element of a TensorIterator, so that libtorch's thread pool shares them out (from
// kSerialElements values up).
void roundBlocks(const at::Tensor& x, at::Tensor& out, int64_t first, int64_t count, int64_t len, int width) {
  const int64_t rows = x.size(0), cols = x.size(1);
  at::Tensor in_blocks = x.as_strided({rows, count}, {cols, kBlock}, x.storage_offset() + first);
  at::Tensor out_blocks = out.as_strided({rows, count}, {cols, kBlock}, out.storage_offset() + first);
  at::TensorIterator iter = at::TensorIteratorConfig()
                                .add_output(out_blocks)
                                .add_const_input(in_blocks)
                                .resize_outputs(false)
                                .check_all_same_dtype(true)
                                .build();
  iter.for_each(
      [=](char** data, const int64_t* strides, int64_t n) {
        roundBlockRun(data[1], data[0], n, strides[1], strides[0], len, width);
      },
      /*grain_size=*/kernels::kSerialElements / kBlock);
}

// out = f(value) elementwise over the fp32 bits, the output laid out as `value` (a
// channels-last activation stays channels-last); shared out over libtorch's thread pool
// as ATen's elementwise ops are (from GRAIN_SIZE values up: an MLP's [64, 784] activation
// measured 1.06x fast with it, 1.06-1.10x on the calling thread alone). `contiguous` takes
// a whole chunk of contiguous data, `one` a single value.
template <typename Contiguous, typename One>
at::Tensor mapBits(const at::Tensor& value, const char* what, Contiguous contiguous, One one) {
  if (value.scalar_type() != at::kFloat) {
    fail(what, " takes an fp32 tensor, got ", c10::toString(value.scalar_type()), " (an internal error)");
  }
  at::Tensor out;
  at::TensorIterator iter = at::TensorIteratorConfig().add_output(out).add_const_input(value).build();
  iter.for_each([=](char** data, const int64_t* strides, int64_t n) {
    constexpr int64_t f = sizeof(float);
    if (strides[0] == f && strides[1] == f) {
      contiguous(reinterpret_cast<const float*>(data[1]), reinterpret_cast<float*>(data[0]), n);
      return;
    }
    for (int64_t k = 0; k < n; ++k) {
      *reinterpret_cast<float*>(data[0] + k * strides[0]) =
          floatOf(one(bitsOf(*reinterpret_cast<const float*>(data[1] + k * strides[1]))));
    }
  }, at::internal::GRAIN_SIZE);
  return iter.output();
}

inline uint32_t bf16Bits(uint32_t u) {
  // round to nearest, ties to even, on the bits (c10::BFloat16's rule); any NaN becomes the
  // quiet NaN
  const uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
  return (u & 0x7FFFFFFFu) > 0x7F800000u ? 0x7FC00000u : rounded;
}

__attribute__((target_clones("avx512f", "avx2", "default"), optimize("O3"))) void maskLoop(
    const float* __restrict in, float* __restrict out, int64_t n, uint32_t mask) {
  for (int64_t k = 0; k < n; ++k) out[k] = floatOf(bitsOf(in[k]) & mask);
}

__attribute__((target_clones("avx512f", "avx2", "default"), optimize("O3"))) void bf16Loop(
    const float* __restrict in, float* __restrict out, int64_t n) {
  for (int64_t k = 0; k < n; ++k) out[k] = floatOf(bf16Bits(bitsOf(in[k])));
}

}  // namespace

at::Tensor roundToBlockFloat(const at::Tensor& value, fb::DataType dtype) {
  const int width = magnitudeWidth(dtype);
  at::Tensor x = value.to(at::kFloat).contiguous();
  at::Tensor out = at::empty_like(x, at::MemoryFormat::Contiguous);
  if (x.numel() == 0) return out;
  const int64_t cols = x.dim() == 0 ? 1 : x.size(-1);
  const int64_t rows = x.numel() / cols;
  at::Tensor x2 = x.view({rows, cols}), out2 = out.view({rows, cols});
  const int64_t full = cols / kBlock, tail = cols % kBlock;
  if (full > 0) roundBlocks(x2, out2, 0, full, kBlock, width);
  if (tail > 0) roundBlocks(x2, out2, full * kBlock, 1, tail, width);
  return out;
}

at::Tensor truncateMantissa(const at::Tensor& value, int bits) {
  if (bits >= 23) return value;
  const uint32_t mask = mantissaMask(bits);
  return mapBits(
      value, "truncateMantissa", [mask](const float* in, float* out, int64_t n) { maskLoop(in, out, n, mask); },
      [mask](uint32_t u) { return u & mask; });
}

at::Tensor roundToBFloat16(const at::Tensor& value) {
  return mapBits(value.to(at::kFloat), "roundToBFloat16", bf16Loop, bf16Bits);
}

MathConfig mathConfig(const fb::ComputeConfig* config, Numerics numerics) {
  MathConfig m;
  m.emulate = numerics == Numerics::Emulated;
  if (config != nullptr) {
    m.fidelity = config->math_fidelity();
    m.fp32_dest_acc = config->fp32_dest_acc_en();
    if (m.fidelity > fb::MathFidelity::MAX) {
      fail("unknown math fidelity ", static_cast<int>(m.fidelity), " (corrupt binary?)");
    }
  }
  return m;
}

int registerBits(at::ScalarType container) { return container == at::kFloat ? 10 : 7; }

uint32_t registerMask(at::ScalarType container) {
  return container == at::kFloat ? mantissaMask(registerBits(container)) : ~uint32_t{0};
}

at::Tensor fidelityProduct(const RegisterValue& src_a, const RegisterValue& src_b, at::ScalarType a_container,
                           at::ScalarType b_container, fb::MathFidelity fidelity,
                           const std::function<at::Tensor(const at::Tensor&, const at::Tensor&)>& op) {
  const int a_bits = registerBits(a_container);
  const int b_bits = registerBits(b_container);
  switch (fidelity) {
    case fb::MathFidelity::LoFi: return op(src_a(kSrcAHighBits), src_b(kSrcBHighBits));
    case fb::MathFidelity::HiFi2: return op(src_a(a_bits), src_b(kSrcBHighBits));
    case fb::MathFidelity::HiFi3: {
      at::Tensor b_high = src_b(kSrcBHighBits);
      at::Tensor out = op(src_a(a_bits), b_high);
      return at::add(out, op(src_a(kSrcAHighBits), at::sub(src_b(b_bits), b_high)));
    }
    case fb::MathFidelity::HiFi4: return op(src_a(a_bits), src_b(b_bits));
  }
  fail("unknown math fidelity ", static_cast<int>(fidelity));
}

}  // namespace tt::runtime
