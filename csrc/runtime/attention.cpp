// Scaled-dot-product attention (TTNN's fused op) on 4-D [batch, heads, seq, head_dim]
// tensors: softmax(query @ key^T * scale + mask) @ value. In Fast numerics it is one ATen
// kernel (flash attention on CPU). Emulated, both products run as the matrix unit computes
// them (matrixProduct: the key and the value in SrcA), the scores and softmax in fp32, and
// the attention weights are held in the query's format between the two products.
#include <cmath>
#include <limits>

#include "kernels.h"
#include "threads.h"

namespace tt::runtime::kernels {

namespace {

void checkShapes(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const std::optional<at::Tensor>& mask) {
  if (q.dim() != 4 || k.dim() != 4 || v.dim() != 4) {
    fail("query, key and value must be 4-D [batch, heads, seq, head_dim], got ", shapeStr(q.sizes()), ", ",
         shapeStr(k.sizes()), " and ", shapeStr(v.sizes()));
  }
  bool heads_ok = k.size(1) == v.size(1) && k.size(1) > 0 && q.size(1) % k.size(1) == 0;
  if (q.size(0) != k.size(0) || k.size(0) != v.size(0) || !heads_ok || k.size(2) != v.size(2) ||
      q.size(3) != k.size(3)) {
    fail("query ", shapeStr(q.sizes()), ", key ", shapeStr(k.sizes()), " and value ", shapeStr(v.sizes()),
         " do not fit: batch must agree, key and value share heads (a divisor of the query's) and sequence "
         "length, query and key share head_dim");
  }
  if (!mask) return;
  std::vector<int64_t> scores = {q.size(0), q.size(1), q.size(2), k.size(2)};
  bool fits = mask->dim() <= 4;
  for (int64_t i = 1; fits && i <= mask->dim(); ++i) {
    int64_t d = mask->size(-i);
    fits = d == 1 || d == scores[4 - i];
  }
  if (!fits) fail("attention_mask ", shapeStr(mask->sizes()), " does not broadcast to the scores ", shapeStr(scores));
}

// The additive mask of `is_causal`: -inf above the diagonal (top-left aligned).
at::Tensor causalMask(int64_t rows, int64_t cols) {
  at::Tensor keep = at::ones({rows, cols}, at::kBool).tril();
  return at::zeros({rows, cols}, at::kFloat).masked_fill(keep.logical_not(), -std::numeric_limits<float>::infinity());
}

// The matrix unit's product `activations @ weights` (weights in SrcA, as matmul.cpp).
at::Tensor unitProduct(const RegisterOperand& activations, const RegisterOperand& weights, const MathConfig& config) {
  return matrixProduct(weights, activations, config, [](const at::Tensor& w, const at::Tensor& a) {
    return at::matmul(a, w);
  });
}

}  // namespace

void run(const ttnn::ScaledDotProductAttentionOp& op, ProgramContext& ctx) {
  const at::Tensor& q = ctx.get(op.query(), "query");
  const at::Tensor& k = ctx.get(op.key(), "key");
  const at::Tensor& v = ctx.get(op.value(), "value");
  std::optional<at::Tensor> mask;
  if (op.attention_mask() != nullptr) mask = f32(ctx.get(op.attention_mask(), "attention_mask"));
  checkShapes(q, k, v, mask);
  if (!isFloat(describe(op.out(), "out").dtype) || isInt(q) || isInt(k) || isInt(v)) {
    fail("query, key, value and out must be floating point");
  }
  if (op.is_causal() && mask) {  // ATen's kernel takes one or the other
    mask = at::add(*mask, causalMask(q.size(2), k.size(2)));
  }
  bool causal = op.is_causal() && !mask;
  int64_t groups = q.size(1) / k.size(1);
  MathConfig config = mathConfig(op.compute_config(), ctx.device().numerics());
  if (!config.emulate) {
    ctx.set(op.out(), at::scaled_dot_product_attention(f32(q), f32(k), f32(v), mask, 0.0, causal, op.scale(),
                                                        /*enable_gqa=*/groups > 1));
    return;
  }
  auto shared = [&](const at::Tensor& t) { return groups > 1 ? t.repeat_interleave(groups, 1) : t; };
  RegisterOperand query{q, q.scalar_type()};
  RegisterOperand key_t{shared(k).transpose(-1, -2), k.scalar_type()};
  RegisterOperand value{shared(v), v.scalar_type()};
  // the product is a fresh tensor: scale and masks update it in place (the mask broadcasts
  // to it, checkShapes)
  at::Tensor scores = unitProduct(query, key_t, config);
  at::Tensor weights;
  {
    OnCallingThreadIfSmall serial(scores.numel());
    scores.mul_(op.scale());
    if (mask) scores.add_(*mask);
    if (causal) scores.add_(causalMask(q.size(2), k.size(2)));
    weights = at::softmax(scores, -1);
    // a row with every score masked out (softmax's 0/0) attends to nothing: zeros, as
    // ATen's kernel (its maximum is -inf; a NaN maximum is not)
    at::Tensor masked_row = at::isneginf(at::amax(scores, -1, /*keepdim=*/true));
    if (at::any(masked_row).item<bool>()) weights.masked_fill_(masked_row, 0.0);
  }
  RegisterOperand held{weights.to(q.scalar_type()), q.scalar_type()};
  ctx.set(op.out(), unitProduct(held, value, config));
}

}  // namespace tt::runtime::kernels
