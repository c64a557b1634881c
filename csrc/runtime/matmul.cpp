// Matmul and linear: torch.matmul batching and broadcasting after the optional
// transposes of the last two dims, accumulated in fp32 (int32 when every operand
// and the output are integers).
#include "kernels.h"

namespace tt::runtime::kernels {

namespace {

at::Tensor operand(const at::Tensor& t, bool integer, bool transpose) {
  at::Tensor x = integer ? i32(t) : f32(t);
  return transpose && x.dim() >= 2 ? x.transpose(-1, -2) : x;
}

template <typename Op>
at::Tensor product(const Op& op, ProgramContext& ctx, bool integer) {
  at::Tensor a = operand(ctx.get(op.a(), "a"), integer, op.transpose_a());
  at::Tensor b = operand(ctx.get(op.b(), "b"), integer, op.transpose_b());
  if (a.dim() == 0 || b.dim() == 0) {
    fail("matmul operands must have rank >= 1, got ", shapeStr(a.sizes()), " and ", shapeStr(b.sizes()));
  }
  int64_t k_a = a.size(-1);
  int64_t k_b = b.dim() >= 2 ? b.size(-2) : b.size(0);
  if (k_a != k_b) {
    fail("inner dimensions differ: a is ", shapeStr(a.sizes()), op.transpose_a() ? " (transposed)" : "", ", b is ",
         shapeStr(b.sizes()), op.transpose_b() ? " (transposed)" : "");
  }
  return at::matmul(a, b);
}

template <typename Op>
bool integerMath(const Op& op, ProgramContext& ctx) {
  return isInt(ctx.get(op.a(), "a")) && isInt(ctx.get(op.b(), "b")) && !isFloat(describe(op.out(), "out").dtype);
}

}  // namespace

void run(const ttnn::MatmulOp& op, ProgramContext& ctx) { ctx.set(op.out(), product(op, ctx, integerMath(op, ctx))); }

void run(const ttnn::LinearOp& op, ProgramContext& ctx) {
  bool integer = integerMath(op, ctx) && (op.bias() == nullptr || isInt(ctx.get(op.bias(), "bias")));
  at::Tensor out = product(op, ctx, integer);
  if (op.bias() != nullptr) {
    const at::Tensor& bias = ctx.get(op.bias(), "bias");
    out = at::add(out, integer ? i32(bias) : f32(bias));
  }
  ctx.set(op.out(), out);
}

}  // namespace tt::runtime::kernels
