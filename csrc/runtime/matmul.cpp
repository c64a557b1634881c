// Matmul and linear: torch.matmul batching and broadcasting after the optional
// transposes of the last two dims. Float math runs as the matrix unit does (see
// numerics.h): the weights (b) sit in SrcA, the activations (a) in SrcB, products are
// summed over the math fidelity's phases and accumulated in fp32, or in bf16 per
// 32-wide tile of the inner dimension when fp32_dest_acc_en is off. Integer math
// (every operand and the output integers) runs in int32.
#include "kernels.h"

#include <ATen/Parallel.h>

namespace tt::runtime::kernels {

at::Tensor RegisterOperand::operator()(int bits) const {
  bits = std::min(bits, registerBits(container));
  bool exact = container != at::kFloat && bits >= registerBits(container);  // the register holds it whole
  auto make = [&] { return exact ? f32(value) : truncateMantissa(f32(value), bits); };
  if (persistent && device != nullptr) return device->derived(value, exact ? "fp32" : cat("register ", bits, " bits"), make);
  return make();
}

RegisterOperand registerOperand(ProgramContext& ctx, const fb::TensorRef* ref, const char* field) {
  const at::Tensor& value = ctx.get(ref, field);
  return {value, value.scalar_type(), ctx.info(ref, field).persistent, &ctx.device()};
}

at::Tensor matrixProduct(const RegisterOperand& src_a, const RegisterOperand& src_b, const MathConfig& config,
                         const std::function<at::Tensor(const at::Tensor&, const at::Tensor&)>& op) {
  if (!config.emulate) return op(f32(src_a.value), f32(src_b.value));
  at::Tensor out = fidelityProduct(src_a, src_b, src_a.container, src_b.container, config.fidelity, op);
  return config.fp32_dest_acc ? out : roundToBFloat16(out);
}

namespace {

at::Tensor transposed(const at::Tensor& x, bool transpose) {
  return transpose && x.dim() >= 2 ? x.transpose(-1, -2) : x;
}

void checkShapes(const at::Tensor& a, const at::Tensor& b, bool ta, bool tb) {
  if (a.dim() == 0 || b.dim() == 0) {
    fail("matmul operands must have rank >= 1, got ", shapeStr(a.sizes()), " and ", shapeStr(b.sizes()));
  }
  int64_t k_a = a.size(-1);
  int64_t k_b = b.dim() >= 2 ? b.size(-2) : b.size(0);
  if (k_a != k_b) {
    fail("inner dimensions differ: a is ", shapeStr(a.sizes()), ta ? " (transposed)" : "", ", b is ",
         shapeStr(b.sizes()), tb ? " (transposed)" : "");
  }
}

// matmul(a, b) with the Dst register in 16-bit mode: each 32-wide slice of the inner
// dimension (one tile) is added to a bf16 accumulator.
at::Tensor matmulBf16Accumulate(const at::Tensor& a, const at::Tensor& b) {
  int64_t k = a.size(-1);
  bool vector_b = b.dim() == 1;
  at::Tensor acc;
  for (int64_t start = 0; start < k; start += 32) {
    int64_t end = std::min(k, start + 32);
    at::Tensor bs = vector_b ? b.slice(0, start, end) : b.slice(-2, start, end);
    at::Tensor part = at::matmul(a.slice(-1, start, end), bs);
    acc = roundToBFloat16(acc.defined() ? at::add(acc, part) : part);
  }
  return acc;
}

// What a linear adds to the product. Where the product runs as one oneDNN kernel call
// whose result is final (onePass: no fidelity phases to sum, no 16-bit Dst to round to),
// the kernel adds the bias (`done`), and in Fast numerics applies the activation too
// (`activated`). Emulated numerics keep ATen's activation: oneDNN's differs from it on
// NaN and in gelu's last bits.
struct Epilogue {
  std::optional<at::Tensor> bias;  // [N], fp32
  bool bias_persistent = false;    // the bias is a device weight as stored (cached forms keyed on it)
  fb::Activation activation = fb::Activation::None;
  bool done = false;
  bool activated = false;
};

template <typename Op>
at::Tensor product(const Op& op, ProgramContext& ctx, bool integer, Epilogue* epilogue = nullptr) {
  if (integer) {
    // exactly in int64; set() checks the int32 range (a double product guards 64 bits)
    at::Tensor a = transposed(i64(ctx.get(op.a(), "a")), op.transpose_a());
    at::Tensor b = transposed(i64(ctx.get(op.b(), "b")), op.transpose_b());
    checkShapes(a, b, op.transpose_a(), op.transpose_b());
    return checkedInt64(ctx, at::matmul(a, b), at::matmul(a.to(at::kDouble), b.to(at::kDouble)));
  }
  RegisterOperand a = registerOperand(ctx, op.a(), "a");
  RegisterOperand b = registerOperand(ctx, op.b(), "b");
  checkShapes(transposed(a.value, op.transpose_a()), transposed(b.value, op.transpose_b()), op.transpose_a(),
              op.transpose_b());
  MathConfig config = mathConfig(op.compute_config(), ctx.device().numerics());
  bool bf16_dst = config.emulate && !config.fp32_dest_acc;
  // A weight matrix that lives on the device (a parameter or constant) is reordered
  // once for oneDNN; the register operand passed for it is the weight itself or a
  // cached copy, so the reordered weight is cached against it.
  bool packable = !bf16_dst && b.persistent && b.value.dim() == 2 && a.value.dim() >= 2;
  auto mm = [&](const at::Tensor& src_a, const at::Tensor& src_b) {
    at::Tensor lhs = transposed(src_b, op.transpose_a());
    int64_t rows = lhs.numel() / std::max<int64_t>(lhs.size(-1), 1);
    if (packable && rows == 1) {
      // One row (a decode step): reading the weight is the whole cost. The weight is cached
      // as column panels that each thread streams in order (gemv.cpp), with the bias in the
      // sums. A Llama-style decode step (4 x [768, 768 | 256 | 2048], [2048, 768] and the
      // LM head [768, 32000]) on two threads: 9.7 -> 7.4 ms per program run against MKL's
      // GEMV over column blocks ([2048, 768] 0.37 -> 0.19 ms, the LM head 3.4 -> 2.9 ms); on
      // one thread its products take 11.0 ms against MKL's 13.7.
      at::Tensor panels = ctx.device().derived(src_a, cat("gemv panels ", op.transpose_b()), [&] {
        return gemv::panels(transposed(src_a, op.transpose_b()));
      });
      int64_t n = transposed(src_a, op.transpose_b()).size(1);
      std::optional<at::Tensor> bias;
      if (epilogue != nullptr && epilogue->bias && !config.emulate) {
        epilogue->done = true;
        auto pad = [&] { return gemv::paddedBias(*epilogue->bias, panels); };
        bias = epilogue->bias_persistent ? ctx.device().derived(*epilogue->bias, "gemv bias", pad) : pad();
      }
      std::vector<int64_t> shape(lhs.sizes().begin(), lhs.sizes().end());
      shape.back() = n;
      return gemv::product(lhs, panels, n, bias).view(shape);
    }
    if (packable && onednn::available(src_a, lhs) && onednn::worthIt(rows * src_a.numel())) {
      at::Tensor packed = ctx.device().derived(src_a, cat("onednn linear ", op.transpose_b(), " ", rows), [&] {
        return onednn::packLinearWeight(op.transpose_b() ? src_a : src_a.t(), rows);
      });
      if (epilogue != nullptr && onePass(config)) {
        epilogue->done = true;
        epilogue->activated = !config.emulate;
        return onednn::linear(lhs, packed, epilogue->bias,
                              epilogue->activated ? epilogue->activation : fb::Activation::None);
      }
      return onednn::linear(lhs, packed, std::nullopt, fb::Activation::None);
    }
    at::Tensor rhs = transposed(src_a, op.transpose_b());
    if (packable && !op.transpose_b() && rhs.size(1) % 16 != 0) {
      // A narrow weight [K, N] (N not a multiple of 16: a classifier head) read as [N, K]
      // transposed: MKL's product of that layout is ~2x faster (64x512 by 512x10: 49 -> 25 us),
      // about equal from N = 16 up. The [N, K] copy is made once per weight.
      rhs = ctx.device().derived(src_a, "linear nk", [&] { return src_a.t().contiguous(); }).t();
    }
    if (packable && epilogue != nullptr && epilogue->bias && !config.emulate && lhs.dim() == 2) {
      epilogue->done = true;  // the bias in the product's own pass (as torch's linear does)
      return at::addmm(*epilogue->bias, lhs, rhs);
    }
    return bf16_dst ? matmulBf16Accumulate(lhs, rhs) : at::matmul(lhs, rhs);
  };
  return matrixProduct(b, a, config, mm);  // b (the weights) in SrcA, a in SrcB
}

template <typename Op>
bool integerMath(const Op& op, ProgramContext& ctx) {
  return isInt(ctx.get(op.a(), "a")) && isInt(ctx.get(op.b(), "b")) && !isFloat(describe(op.out(), "out").dtype);
}

}  // namespace

void run(const ttnn::MatmulOp& op, ProgramContext& ctx) { ctx.set(op.out(), product(op, ctx, integerMath(op, ctx))); }

void run(const ttnn::LinearOp& op, ProgramContext& ctx) {
  bool integer = integerMath(op, ctx) && (op.bias() == nullptr || isInt(ctx.get(op.bias(), "bias")));
  std::optional<at::Tensor> bias;
  bool bias_persistent = false;
  if (op.bias() != nullptr) {
    const at::Tensor& stored = ctx.get(op.bias(), "bias");
    bias = integer ? i64(stored) : f32(stored);
    bias_persistent = ctx.info(op.bias(), "bias").persistent && bias->is_same(stored);
  }
  Epilogue epilogue{std::nullopt, bias_persistent, op.activation()};
  // the kernel's bias is one value per output feature
  const at::Tensor& b = ctx.get(op.b(), "b");
  int64_t features = b.dim() < 2 ? 1 : (op.transpose_b() ? b.size(-2) : b.size(-1));
  // (and adds no dims to the product's)
  int64_t rank = std::max<int64_t>(ctx.get(op.a(), "a").dim(), 2);
  bool per_feature = !bias || (bias->numel() == features && bias->dim() <= rank);
  if (per_feature && bias) epilogue.bias = bias->reshape({-1});
  at::Tensor out = product(op, ctx, integer, integer || !per_feature ? nullptr : &epilogue);
  if (integer) {
    if (bias) out = at::add(out, *bias);
    if (op.activation() != fb::Activation::None) {
      out = activate(op.activation() == fb::Activation::Relu ? out : f32(out), op.activation());
    }
  } else {
    // the product is a fresh fp32 tensor: the bias and the activation update it in place
    // (a bias that broadcasts it to a larger shape makes a new one)
    if (bias && !epilogue.done) {
      out = at::infer_size(out.sizes(), bias->sizes()) == out.sizes() ? out.add_(*bias) : at::add(out, *bias);
    }
    if (!epilogue.activated) activateInPlace(out, op.activation());
  }
  ctx.set(op.out(), out);
}

}  // namespace tt::runtime::kernels
