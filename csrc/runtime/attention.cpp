// Scaled-dot-product attention (TTNN's fused op) on 4-D [batch, heads, seq, head_dim]
// tensors: softmax(query @ key^T * scale + mask) @ value. In Fast numerics it is one ATen
// kernel (flash attention on CPU), or for one query row per head (a decode step) a loop of
// its own (oneRowAttention). Emulated, both products run as the matrix unit computes
// them (matrixProduct: the key and the value in SrcA), the scores and softmax in fp32, and
// the attention weights are held in the query's format between the two products.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

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

// kLanes floats as one vector (GCC's vector extension: one AVX-512 register, two AVX2 ones,
// four SSE ones, as the clone below is built for).
constexpr int64_t kLanes = 16;
typedef float Lanes __attribute__((vector_size(kLanes * sizeof(float))));
typedef float HalfLanes __attribute__((vector_size(kLanes / 2 * sizeof(float))));
typedef float QuarterLanes __attribute__((vector_size(kLanes / 4 * sizeof(float))));

inline Lanes load(const float* p) {
  Lanes v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline void store(float* p, Lanes v) { std::memcpy(p, &v, sizeof v); }

// The lanes' sum, halves added pairwise.
inline float sum(Lanes x) {
  HalfLanes h = __builtin_shufflevector(x, x, 0, 1, 2, 3, 4, 5, 6, 7) +
                __builtin_shufflevector(x, x, 8, 9, 10, 11, 12, 13, 14, 15);
  QuarterLanes q = __builtin_shufflevector(h, h, 0, 1, 2, 3) + __builtin_shufflevector(h, h, 4, 5, 6, 7);
  return (q[0] + q[2]) + (q[1] + q[3]);
}

// One query row against `keys` keys (a decode step's attention, one head): the scores
// q . k_j * scale + mask_j, their softmax, and its weighted sum of the values, into `out`
// [value_dim]. `scores` is scratch of `keys` floats. A row whose every key is masked out
// (-inf) attends to nothing: zeros, as ATen's kernel; a NaN score makes the row NaN.
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) void attendOneRow(
    const float* __restrict q, const float* __restrict k, const float* __restrict v, const float* mask,
    int64_t mask_stride, int64_t keys, int64_t dim, int64_t value_dim, float scale, float* __restrict scores,
    float* __restrict out) {
  float top = -std::numeric_limits<float>::infinity();
  bool nan = false;
  const int64_t whole = dim - dim % kLanes;
  for (int64_t j = 0; j < keys; ++j) {
    const float* kj = k + j * dim;
    Lanes acc = {};
    for (int64_t i = 0; i < whole; i += kLanes) acc += load(q + i) * load(kj + i);
    float s = sum(acc);
    for (int64_t i = whole; i < dim; ++i) s += q[i] * kj[i];
    s *= scale;
    if (mask != nullptr) s += mask[j * mask_stride];
    nan = nan || std::isnan(s);
    top = std::max(top, s);
    scores[j] = s;
  }
  if (nan || top == -std::numeric_limits<float>::infinity()) {
    for (int64_t d = 0; d < value_dim; ++d) out[d] = nan ? std::numeric_limits<float>::quiet_NaN() : 0.0f;
    return;
  }
  float total = 0.0f;
  for (int64_t j = 0; j < keys; ++j) {
    scores[j] = std::exp(scores[j] - top);
    total += scores[j];
  }
  const float inverse = 1.0f / total;
  // the weighted sum of the values, four vectors of columns at a time held in registers
  int64_t d = 0;
  for (; d + 4 * kLanes <= value_dim; d += 4 * kLanes) {
    Lanes a0 = {}, a1 = {}, a2 = {}, a3 = {};
    for (int64_t j = 0; j < keys; ++j) {
      const float w = scores[j];
      const float* vj = v + j * value_dim + d;
      a0 += w * load(vj);
      a1 += w * load(vj + kLanes);
      a2 += w * load(vj + 2 * kLanes);
      a3 += w * load(vj + 3 * kLanes);
    }
    store(out + d, a0 * inverse);
    store(out + d + kLanes, a1 * inverse);
    store(out + d + 2 * kLanes, a2 * inverse);
    store(out + d + 3 * kLanes, a3 * inverse);
  }
  for (; d + kLanes <= value_dim; d += kLanes) {
    Lanes a = {};
    for (int64_t j = 0; j < keys; ++j) a += scores[j] * load(v + j * value_dim + d);
    store(out + d, a * inverse);
  }
  for (; d < value_dim; ++d) {
    float a = 0.0f;
    for (int64_t j = 0; j < keys; ++j) a += scores[j] * v[j * value_dim + d];
    out[d] = a * inverse;
  }
}

// Fast numerics, one query row per head, fp32: every head's row on the calling thread.
// ATen's flash-attention kernel works in blocks of 32 query rows with scratch set up per
// call; for this shape (Llama-style decode, 12 query heads over 4 key/value heads of 96
// positions, one thread) the op took 21.3 us with it and 11.9 us with the loop above, and
// the 4 attention ops of a decode step 0.22-0.23 -> 0.13-0.15 ms with a timing hook per op.
at::Tensor oneRowAttention(const at::Tensor& query, const at::Tensor& key, const at::Tensor& value,
                           const std::optional<at::Tensor>& mask, float scale) {
  at::Tensor q = query.contiguous(), k = key.contiguous(), v = value.contiguous();
  const int64_t batch = q.size(0), heads = q.size(1), dim = q.size(3);
  const int64_t kv_heads = k.size(1), keys = k.size(2), value_dim = v.size(3), groups = heads / kv_heads;
  at::Tensor out = at::empty({batch, heads, 1, value_dim}, q.options());
  // the mask as the scores see it: [batch, heads, 1, keys], broadcast dims of stride 0
  at::Tensor scores_mask = mask ? mask->expand({batch, heads, 1, keys}) : at::Tensor();
  std::vector<float> scratch(static_cast<size_t>(std::max<int64_t>(keys, 1)));
  const float* pq = q.const_data_ptr<float>();
  const float* pk = k.const_data_ptr<float>();
  const float* pv = v.const_data_ptr<float>();
  float* po = out.mutable_data_ptr<float>();
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t kv = b * kv_heads + h / groups;  // grouped-query: query head h reads key head h / groups
      const float* row_mask = nullptr;
      int64_t mask_stride = 0;
      if (scores_mask.defined()) {
        row_mask = scores_mask.const_data_ptr<float>() + b * scores_mask.stride(0) + h * scores_mask.stride(1);
        mask_stride = scores_mask.stride(3);
      }
      attendOneRow(pq + (b * heads + h) * dim, pk + kv * keys * dim, pv + kv * keys * value_dim, row_mask,
                   mask_stride, keys, dim, value_dim, scale, scratch.data(), po + (b * heads + h) * value_dim);
    }
  }
  return out;
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
  bool fp32 = q.scalar_type() == at::kFloat && k.scalar_type() == at::kFloat && v.scalar_type() == at::kFloat;
  if (!config.emulate && !causal && fp32 && q.size(2) == 1) {
    ctx.set(op.out(), oneRowAttention(q, k, v, mask, op.scale()));
    return;
  }
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
