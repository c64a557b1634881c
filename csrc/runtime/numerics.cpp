#include "numerics.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>

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

int magnitudeWidth(fb::DataType dtype) {
  switch (dtype) {
    case fb::DataType::BFP_BFloat8: return 7;
    case fb::DataType::BFP_BFloat4: return 3;
    case fb::DataType::BFP_BFloat2: return 1;
    default: fail("data type ", dtypeName(dtype), " is not a block-float format of the emulated device");
  }
}

inline uint32_t bitsOf(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

// One block of n <= 16 values: shared exponent, then each value's code, decoded.
void roundBlock(const float* in, float* out, int64_t n, int width) {
  uint32_t shared = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t e = (bitsOf(in[i]) >> 23) & 0xFF;
    shared = std::max(shared, e);  // zeros and denormals (e == 0) never raise it
  }
  const int scale = static_cast<int>(shared) - 127 - (width - 1);
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits = bitsOf(in[i]);
    uint32_t e = (bits >> 23) & 0xFF;
    uint32_t mant = bits & 0x7FFFFF;
    bool negative = (bits >> 31) != 0;
    if (e == 0) {  // zero, or a denormal: flushed
      out[i] = 0.0f;
      continue;
    }
    if (e == 255 && mant != 0) {
      out[i] = std::numeric_limits<float>::quiet_NaN();
      continue;
    }
    uint32_t diff = shared - e;
    uint32_t shifted = diff >= 24 ? 0 : ((1u << 23) | mant) >> diff;
    // The packer rounds to bfloat8_b (nearest, ties to even, saturating) ...
    constexpr int kShift = 24 - kBfp8Width;
    uint32_t q = shifted >> kShift;
    uint32_t rest = shifted & ((1u << kShift) - 1);
    constexpr uint32_t kTie = 1u << (kShift - 1);
    if (rest > kTie || (rest == kTie && (q & 1))) ++q;
    q = std::min(q, (1u << kBfp8Width) - 1);
    // ... and the narrower formats keep the top bits of that code.
    q >>= (kBfp8Width - width);
    if (q == 0) {
      out[i] = 0.0f;
      continue;
    }
    float v = std::ldexp(static_cast<float>(q), scale);
    if (v < FLT_MIN) v = 0.0f;  // below the normal range: flushed
    out[i] = negative ? -v : v;
  }
}

}  // namespace

at::Tensor roundToBlockFloat(const at::Tensor& value, fb::DataType dtype) {
  const int width = magnitudeWidth(dtype);
  at::Tensor x = value.to(at::kFloat).contiguous();
  at::Tensor out = at::empty_like(x);
  if (x.numel() == 0) return out;
  const int64_t cols = x.dim() == 0 ? 1 : x.size(-1);
  const int64_t rows = x.numel() / cols;
  const float* in = x.data_ptr<float>();
  float* o = out.data_ptr<float>();
  // One thread: at::parallel_for would be serial here anyway (this library is built without
  // OpenMP), and the results for weights are cached on the device.
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; c += 16) {
      roundBlock(in + r * cols + c, o + r * cols + c, std::min<int64_t>(16, cols - c), width);
    }
  }
  return out;
}

at::Tensor truncateMantissa(const at::Tensor& value, int bits) {
  if (bits >= 23) return value;
  const auto mask = static_cast<int32_t>(mantissaMask(bits));
  // same strides as `value` (a channels-last activation stays channels-last)
  return at::bitwise_and(value.view(at::kInt), mask).view(at::kFloat);
}

at::Tensor roundToBFloat16(const at::Tensor& value) { return value.to(at::kBFloat16).to(at::kFloat); }

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
