// Elementwise unary, binary and ternary ops. Each op kind is one table entry:
// its ATen function and whether it also runs on integers.
#include <ATen/TensorIterator.h>
#include <ATen/native/cpu/Loops.h>

#include <array>
#include <bit>

#include "kernels.h"
#include "threads.h"

namespace tt::runtime::kernels {

namespace {

using Unary = ttnn::EltwiseUnaryOpType;
using Binary = ttnn::EltwiseBinaryOpType;
using at::Tensor;

struct UnaryRule {
  Unary type;
  Tensor (*fn)(const Tensor&);
  bool on_integers;  // computed in int64 when input and output are integers (stored as int32, checked)
};

// clang-format off
constexpr UnaryRule kUnary[] = {
    {Unary::Abs,        [](const Tensor& x) { return at::abs(x); },           true},
    {Unary::Neg,        [](const Tensor& x) { return at::neg(x); },           true},
    {Unary::Exp,        [](const Tensor& x) { return at::exp(x); },           false},
    {Unary::Log,        [](const Tensor& x) { return at::log(x); },           false},
    {Unary::Sqrt,       [](const Tensor& x) { return at::sqrt(x); },          false},
    {Unary::Rsqrt,      [](const Tensor& x) { return at::rsqrt(x); },         false},
    {Unary::Reciprocal, [](const Tensor& x) { return at::reciprocal(x); },    false},
    {Unary::Tanh,       [](const Tensor& x) { return at::tanh(x); },          false},
    {Unary::Sigmoid,    [](const Tensor& x) { return at::sigmoid(x); },       false},
    {Unary::Relu,       [](const Tensor& x) { return at::relu(x); },          true},
    {Unary::Gelu,       [](const Tensor& x) { return at::gelu(x); },          false},
    {Unary::Erf,        [](const Tensor& x) { return at::erf(x); },           false},
    {Unary::Sin,        [](const Tensor& x) { return at::sin(x); },           false},
    {Unary::Cos,        [](const Tensor& x) { return at::cos(x); },           false},
    {Unary::Floor,      [](const Tensor& x) { return at::floor(x); },         true},
    {Unary::Ceil,       [](const Tensor& x) { return at::ceil(x); },          true},
    {Unary::Sign,       [](const Tensor& x) { return at::sign(x); },          true},
    {Unary::LogicalNot, [](const Tensor& x) { return at::logical_not(x); },   true},
    {Unary::Log1p,      [](const Tensor& x) { return at::log1p(x); },         false},
    {Unary::Expm1,      [](const Tensor& x) { return at::expm1(x); },         false},
    {Unary::Silu,       [](const Tensor& x) { return at::silu(x); },          false},
    {Unary::IsFinite,   [](const Tensor& x) { return at::isfinite(x); },      true},
    {Unary::GeluTanh,   [](const Tensor& x) { return at::gelu(x, "tanh"); },  false},
};
// clang-format on

// Integer division truncates toward zero, as StableHLO defines it.
Tensor divide(const Tensor& a, const Tensor& b) { return isInt(a) ? at::div(a, b, "trunc") : at::div(a, b); }

struct BinaryRule {
  Binary type;
  Tensor (*fn)(const Tensor&, const Tensor&);
  bool on_integers;  // computed in int64 when both operands are integers (stored as int32, checked)
  bool predicate;    // writes 1 or 0, whatever the output type
};

// clang-format off
constexpr BinaryRule kBinary[] = {
    {Binary::Add,          [](const Tensor& a, const Tensor& b) { return at::add(a, b); },           true,  false},
    {Binary::Subtract,     [](const Tensor& a, const Tensor& b) { return at::sub(a, b); },           true,  false},
    {Binary::Multiply,     [](const Tensor& a, const Tensor& b) { return at::mul(a, b); },           true,  false},
    {Binary::Divide,       divide,                                                                  true,  false},
    {Binary::Maximum,      [](const Tensor& a, const Tensor& b) { return at::maximum(a, b); },       true,  false},
    {Binary::Minimum,      [](const Tensor& a, const Tensor& b) { return at::minimum(a, b); },       true,  false},
    {Binary::Pow,          [](const Tensor& a, const Tensor& b) { return at::pow(a, b); },           true,  false},
    {Binary::Remainder,    [](const Tensor& a, const Tensor& b) { return at::fmod(a, b); },          true,  false},
    {Binary::Atan2,        [](const Tensor& a, const Tensor& b) { return at::atan2(a, b); },         false, false},
    {Binary::Equal,        [](const Tensor& a, const Tensor& b) { return at::eq(a, b); },            true,  true},
    {Binary::NotEqual,     [](const Tensor& a, const Tensor& b) { return at::ne(a, b); },            true,  true},
    {Binary::LessThan,     [](const Tensor& a, const Tensor& b) { return at::lt(a, b); },            true,  true},
    {Binary::LessEqual,    [](const Tensor& a, const Tensor& b) { return at::le(a, b); },            true,  true},
    {Binary::GreaterThan,  [](const Tensor& a, const Tensor& b) { return at::gt(a, b); },            true,  true},
    {Binary::GreaterEqual, [](const Tensor& a, const Tensor& b) { return at::ge(a, b); },            true,  true},
    {Binary::LogicalAnd,   [](const Tensor& a, const Tensor& b) { return at::logical_and(a, b); },   true,  true},
    {Binary::LogicalOr,    [](const Tensor& a, const Tensor& b) { return at::logical_or(a, b); },    true,  true},
    {Binary::LogicalXor,   [](const Tensor& a, const Tensor& b) { return at::logical_xor(a, b); },   true,  true},
};
// clang-format on

template <typename Rule, typename Type, size_t N>
const Rule& ruleFor(const Rule (&rules)[N], Type type, const char* (*name)(Type)) {
  for (const Rule& rule : rules) {
    if (rule.type == type) return rule;
  }
  const char* known = name(type);
  fail("no kernel for op kind ", known && known[0] ? known : cat("<invalid ", static_cast<int>(type), ">"));
}

bool outputIsInt(const fb::TensorRef* out) { return !isFloat(describe(out, "out").dtype); }

// --- bitwise and shift ops: on the bit pattern of the output's integer type -----------------

// The integer type an op's bits live in: its width, and whether its values read unsigned.
struct Bits {
  int width;
  bool is_unsigned;
};

Bits bitsOf(const fb::TensorRef* out, const char* op) {
  fb::DataType dtype = describe(out, "out").dtype;
  if (!isIntegerType(dtype)) {
    fail(op, " works on integers, but its output is ", dtypeName(dtype),
         " (booleans take the logical ops; floats have no bitwise ops)");
  }
  return {bitWidth(dtype), isUnsigned(dtype)};
}

// int64 `x` as a value of the `bits` type: its low bits, read unsigned or two's complement.
Tensor wrapBits(const Tensor& x, Bits bits) {
  const int64_t mask = (int64_t{1} << bits.width) - 1;
  Tensor low = at::bitwise_and(x, mask);
  if (bits.is_unsigned) return low;
  const int64_t sign = int64_t{1} << (bits.width - 1);
  return at::sub(at::bitwise_xor(low, sign), sign);
}

Tensor zeroLong() { return at::zeros({}, at::kLong); }

// Shift amounts are unsigned: a negative one, or one at or past the width, is out of range.
Tensor inRange(const Tensor& amount, Bits bits) {
  return at::logical_and(at::ge(amount, 0), at::lt(amount, bits.width));
}

Tensor leftShift(const Tensor& x, const Tensor& amount, Bits bits) {
  Tensor ok = inRange(amount, bits);
  Tensor shifted = at::bitwise_left_shift(x, at::where(ok, amount, zeroLong()));
  return at::where(ok, wrapBits(shifted, bits), zeroLong());
}

Tensor logicalRightShift(const Tensor& x, const Tensor& amount, Bits bits) {
  Tensor ok = inRange(amount, bits);
  Tensor pattern = wrapBits(x, {bits.width, true});  // the bits, zero-extended
  Tensor shifted = at::bitwise_right_shift(pattern, at::where(ok, amount, zeroLong()));
  return wrapBits(at::where(ok, shifted, zeroLong()), bits);
}

Tensor arithmeticRightShift(const Tensor& x, const Tensor& amount, Bits bits) {
  Tensor ok = inRange(amount, bits);
  Tensor value = wrapBits(x, {bits.width, false});  // the bits, sign-extended
  // past the width, every bit is the sign: a shift by width - 1
  Tensor by = at::where(ok, amount, at::full({}, bits.width - 1, at::kLong));
  return wrapBits(at::bitwise_right_shift(value, by), bits);
}

struct BitwiseRule {
  Binary type;
  Tensor (*fn)(const Tensor&, const Tensor&, Bits);
};

// clang-format off
constexpr BitwiseRule kBitwise[] = {
    {Binary::BitwiseAnd,        [](const Tensor& a, const Tensor& b, Bits k) { return wrapBits(at::bitwise_and(a, b), k); }},
    {Binary::BitwiseOr,         [](const Tensor& a, const Tensor& b, Bits k) { return wrapBits(at::bitwise_or(a, b), k); }},
    {Binary::BitwiseXor,        [](const Tensor& a, const Tensor& b, Bits k) { return wrapBits(at::bitwise_xor(a, b), k); }},
    {Binary::LogicalLeftShift,  leftShift},
    {Binary::LogicalRightShift, logicalRightShift},
    {Binary::RightShift,        arithmeticRightShift},
};
// clang-format on

const BitwiseRule* bitwiseRuleFor(Binary type) {
  for (const BitwiseRule& rule : kBitwise) {
    if (rule.type == type) return &rule;
  }
  return nullptr;
}

Tensor integerOperand(const Tensor& t, const char* op, const char* field) {
  if (!isInt(t)) fail(op, " works on integers, but its ", field, " holds ", c10::toString(t.scalar_type()), " values");
  return i64(t);
}

inline float keepBits(float x, uint32_t mask) { return std::bit_cast<float>(std::bit_cast<uint32_t>(x) & mask); }

// o[i] = keep(a[i]) * keep(b[i]) over contiguous data (the default multiply: HiFi4, fp32
// Dst), or with a single b (stride 0). Compiled for AVX-512, AVX2 and plain x86-64; the
// loader picks what the CPU has.
__attribute__((target_clones("avx512f", "avx2", "default"), optimize("O3"))) void maskedMultiply(
    const float* __restrict a, const float* __restrict b, float* __restrict o, int64_t n, bool b_scalar,
    uint32_t a_mask, uint32_t b_mask) {
  if (b_scalar) {
    const float y = keepBits(b[0], b_mask);
    for (int64_t k = 0; k < n; ++k) o[k] = keepBits(a[k], a_mask) * y;
    return;
  }
  for (int64_t k = 0; k < n; ++k) o[k] = keepBits(a[k], a_mask) * keepBits(b[k], b_mask);
}

// Multiply on the matrix unit's FPU (lhs in SrcA, rhs in SrcB), per element in one pass:
// the same phases as fidelityProduct, with the operands truncated as the registers hold them.
Tensor emulatedMultiply(const Tensor& lhs, const Tensor& rhs, const MathConfig& config) {
  Tensor a = f32(lhs), b = f32(rhs);
  const uint32_t a_full = registerMask(lhs.scalar_type()), b_full = registerMask(rhs.scalar_type());
  const uint32_t a_high = mantissaMask(kSrcAHighBits), b_high = mantissaMask(kSrcBHighBits);
  const fb::MathFidelity fidelity = config.fidelity;
  const bool bf16_dst = !config.fp32_dest_acc;
  Tensor out;
  at::TensorIterator iter = at::TensorIteratorConfig().add_output(out).add_const_input(a).add_const_input(b).build();
  if (fidelity == fb::MathFidelity::HiFi4 && !bf16_dst) {  // the default: one product of the registers
    // for_each runs in libtorch's thread pool; each chunk takes the vectorized loop when
    // its layout allows
    iter.for_each([=](char** data, const int64_t* strides, int64_t n) {
      auto* o = reinterpret_cast<float*>(data[0]);
      const auto* x = reinterpret_cast<const float*>(data[1]);
      const auto* y = reinterpret_cast<const float*>(data[2]);
      constexpr int64_t f = sizeof(float);
      if (strides[0] == f && strides[1] == f && (strides[2] == f || strides[2] == 0)) {
        maskedMultiply(x, y, o, n, strides[2] == 0, a_full, b_full);
      } else if (strides[0] == f && strides[1] == 0 && strides[2] == f) {
        maskedMultiply(y, x, o, n, true, b_full, a_full);
      } else {
        for (int64_t k = 0; k < n; ++k) {
          float xv = *reinterpret_cast<const float*>(data[1] + k * strides[1]);
          float yv = *reinterpret_cast<const float*>(data[2] + k * strides[2]);
          *reinterpret_cast<float*>(data[0] + k * strides[0]) = keepBits(xv, a_full) * keepBits(yv, b_full);
        }
      }
    });
    return iter.output();
  }
  at::native::cpu_kernel(iter, [=](float x, float y) -> float {
    float xa = keepBits(x, a_full), yb = keepBits(y, b_full);
    float r;
    switch (fidelity) {
      case fb::MathFidelity::LoFi: r = keepBits(x, a_high) * keepBits(y, b_high); break;
      case fb::MathFidelity::HiFi2: r = xa * keepBits(y, b_high); break;
      case fb::MathFidelity::HiFi3: {
        float y_high = keepBits(y, b_high);
        r = xa * y_high + keepBits(x, a_high) * (yb - y_high);
        break;
      }
      default: r = xa * yb; break;
    }
    return bf16_dst ? static_cast<float>(c10::BFloat16(r)) : r;
  });
  return iter.output();
}

}  // namespace

at::Tensor checkedInt64(ProgramContext& ctx, const at::Tensor& exact, const at::Tensor& approx, fb::DataType dtype) {
  constexpr double kBeyond = 4611686018427387904.0;  // 2**62: past int32 whatever double's rounding
  if (approx.numel() == 0) return exact;
  auto [lo_t, hi_t] = at::aminmax(approx);
  double lo = lo_t.item<double>(), hi = hi_t.item<double>();
  if (lo > -kBeyond && hi < kBeyond) return exact;  // NaN cannot come from integers
  ctx.integerOverflow(lo, hi, dtype);
  return dtype == fb::DataType::UInt32 ? at::bitwise_and(exact, int64_t{0xFFFFFFFF}) : exact.to(at::kInt);
}

at::Tensor activate(const at::Tensor& x, fb::Activation activation) {
  switch (activation) {
    case fb::Activation::None: return x;
    case fb::Activation::Relu: return at::relu(x);
    case fb::Activation::Gelu: return at::gelu(x);
    case fb::Activation::GeluTanh: return at::gelu(x, "tanh");
    case fb::Activation::Silu: return at::silu(x);
  }
  fail("unknown fused activation <invalid ", static_cast<int>(activation), ">");
}

void activateInPlace(at::Tensor& x, fb::Activation activation) {
  switch (activation) {
    case fb::Activation::None: return;
    case fb::Activation::Relu: {
      // exact, so its threads do not matter; gelu and silu keep ATen's own split over the
      // pool: its vectorised and scalar loops can differ in the last bit
      OnCallingThreadIfSmall serial(x.numel());
      at::relu_(x);
      return;
    }
    case fb::Activation::Gelu: at::gelu_(x); return;
    case fb::Activation::GeluTanh: at::gelu_(x, "tanh"); return;
    case fb::Activation::Silu: at::silu_(x); return;
  }
  x = activate(x, activation);
}

void run(const ttnn::EltwiseUnaryOp& op, ProgramContext& ctx) {
  OnCallingThreadIfSmall serial(ctx.get(op.in(), "in").numel());
  if (op.type() == Unary::BitwiseNot) {
    Bits bits = bitsOf(op.out(), "BitwiseNot");
    ctx.set(op.out(), wrapBits(at::bitwise_not(integerOperand(ctx.get(op.in(), "in"), "BitwiseNot", "input")), bits));
    return;
  }
  const UnaryRule& rule = ruleFor(kUnary, op.type(), ttnn::EnumNameEltwiseUnaryOpType);
  const Tensor& x = ctx.get(op.in(), "in");
  bool integer = rule.on_integers && isInt(x) && outputIsInt(op.out());
  ctx.set(op.out(), rule.fn(integer ? i64(x) : f32(x)));
}

void run(const ttnn::EltwiseBinaryOp& op, ProgramContext& ctx) {
  if (const BitwiseRule* bitwise = bitwiseRuleFor(op.type())) {
    const char* name = ttnn::EnumNameEltwiseBinaryOpType(op.type());
    Bits bits = bitsOf(op.out(), name);
    Tensor a = integerOperand(ctx.get(op.lhs(), "lhs"), name, "lhs");
    Tensor b = integerOperand(ctx.get(op.rhs(), "rhs"), name, "rhs");
    ctx.set(op.out(), bitwise->fn(a, b, bits));
    return;
  }
  const BinaryRule& rule = ruleFor(kBinary, op.type(), ttnn::EnumNameEltwiseBinaryOpType);
  const Tensor& a = ctx.get(op.lhs(), "lhs");
  const Tensor& b = ctx.get(op.rhs(), "rhs");
  OnCallingThreadIfSmall serial(broadcastNumel(a.sizes(), b.sizes()));
  bool integer = rule.on_integers && isInt(a) && isInt(b) && (rule.predicate || outputIsInt(op.out()));
  if (integer) {
    Tensor exact = rule.fn(i64(a), i64(b));
    // int64 powers can pass 64 bits; the others cannot (int32 operands)
    if (op.type() == Binary::Pow) {
      exact = checkedInt64(ctx, exact, at::pow(a.to(at::kDouble), b.to(at::kDouble)), describe(op.out(), "out").dtype);
    }
    ctx.set(op.out(), exact);
  } else if (op.type() == Binary::Multiply) {  // on the matrix unit's FPU: lhs in SrcA, rhs in SrcB
    MathConfig config = mathConfig(op.compute_config(), ctx.device().numerics());
    ctx.set(op.out(), config.emulate ? emulatedMultiply(a, b, config) : at::mul(f32(a), f32(b)));
  } else {
    ctx.set(op.out(), rule.fn(f32(a), f32(b)));
  }
}

void run(const ttnn::EltwiseTernaryOp& op, ProgramContext& ctx) {
  const Tensor& first = ctx.get(op.first(), "first");
  const Tensor& second = ctx.get(op.second(), "second");
  const Tensor& third = ctx.get(op.third(), "third");
  OnCallingThreadIfSmall serial(broadcastNumel(broadcastShape(first.sizes(), second.sizes()), third.sizes()));
  bool integer = isInt(second) && isInt(third) && outputIsInt(op.out());
  auto value = [&](const Tensor& t) { return integer ? i64(t) : f32(t); };
  switch (op.type()) {
    case ttnn::EltwiseTernaryOpType::Where:
      ctx.set(op.out(), at::where(at::ne(first, 0), value(second), value(third)));
      return;
    case ttnn::EltwiseTernaryOpType::Clamp: {
      bool all_int = integer && isInt(first);
      Tensor x = all_int ? i64(first) : f32(first);
      ctx.set(op.out(), at::clamp(x, all_int ? i64(second) : f32(second), all_int ? i64(third) : f32(third)));
      return;
    }
  }
  fail("no kernel for op kind <invalid ", static_cast<int>(op.type()), ">");
}

}  // namespace tt::runtime::kernels
