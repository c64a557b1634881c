// Matmul and linear: torch.matmul batching and broadcasting after the optional
// transposes of the last two dims, accumulated in fp32.
#include "kernels.h"

namespace tt::runtime::kernels {

namespace {

at::Tensor operand(const at::Tensor& t, bool transpose) {
  at::Tensor x = f32(t);
  return transpose && x.dim() >= 2 ? x.transpose(-1, -2) : x;
}

template <typename Op>
at::Tensor product(const Op& op, ProgramContext& ctx) {
  at::Tensor a = operand(ctx.get(op.a(), "a"), op.transpose_a());
  at::Tensor b = operand(ctx.get(op.b(), "b"), op.transpose_b());
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

}  // namespace

void run(const ttnn::MatmulOp& op, ProgramContext& ctx) { ctx.set(op.out(), product(op, ctx)); }

void run(const ttnn::LinearOp& op, ProgramContext& ctx) {
  at::Tensor out = product(op, ctx);
  if (op.bias() != nullptr) out = at::add(out, f32(ctx.get(op.bias(), "bias")));
  ctx.set(op.out(), out);
}

}  // namespace tt::runtime::kernels
