// Reductions over dim_arg (all dims when empty), with keep_dim.
#include <algorithm>
#include <cmath>

#include <ATen/Parallel.h>

#include "kernels.h"
#include "threads.h"

namespace tt::runtime::kernels {

namespace {

std::vector<int64_t> reducedDims(const ttnn::ReductionOp& op, int64_t rank) {
  std::vector<int64_t> dims = toVector(op.dim_arg());
  if (dims.empty()) {
    for (int64_t d = 0; d < rank; ++d) dims.push_back(d);
  }
  for (int64_t& d : dims) d = normalizeDim(d, std::max<int64_t>(rank, 1), "dim_arg");
  std::sort(dims.begin(), dims.end());
  if (std::adjacent_find(dims.begin(), dims.end()) != dims.end()) fail("dim_arg repeats a dim: ", shapeStr(dims));
  return dims;
}

}  // namespace

void run(const ttnn::ReductionOp& op, ProgramContext& ctx) {
  const at::Tensor& in = ctx.get(op.in(), "in");
  OnCallingThreadIfSmall serial(in.numel());
  std::vector<int64_t> dims = in.dim() == 0 ? std::vector<int64_t>{} : reducedDims(op, in.dim());
  bool keep = op.keep_dim();
  bool integer = isInt(in);
  at::Tensor x = integer ? i64(in) : f32(in);  // integers exactly; set() checks the int32 range
  if (in.dim() == 0) {  // a scalar reduces to itself (indices to 0)
    bool is_arg = op.type() == ttnn::ReductionOpType::ArgMax || op.type() == ttnn::ReductionOpType::ArgMin;
    ctx.set(op.out(), is_arg ? at::zeros({}, at::kInt) : x);
    return;
  }
  switch (op.type()) {
    case ttnn::ReductionOpType::Sum: x = at::sum(x, dims, keep); break;
    case ttnn::ReductionOpType::Mean: x = at::mean(f32(x), dims, keep); break;
    case ttnn::ReductionOpType::Max: x = at::amax(x, dims, keep); break;
    case ttnn::ReductionOpType::Min: x = at::amin(x, dims, keep); break;
    case ttnn::ReductionOpType::Prod:
      // One dim at a time, last first, so that the remaining indices stay valid.
      {
        at::Tensor magnitude = integer ? x.to(at::kDouble) : at::Tensor();
        for (auto it = dims.rbegin(); it != dims.rend(); ++it) {
          x = at::prod(x, *it, keep);
          if (integer) magnitude = at::prod(magnitude, *it, keep);
        }
        if (integer) x = checkedInt64(ctx, x, magnitude);  // an int64 product can pass 64 bits
      }
      break;
    case ttnn::ReductionOpType::ArgMax:
    case ttnn::ReductionOpType::ArgMin: {
      if (dims.size() != 1 || (op.dim_arg() == nullptr || op.dim_arg()->size() != 1)) {
        fail("ArgMax/ArgMin take exactly one dim, got dim_arg ", shapeStr(toVector(op.dim_arg())));
      }
      bool max = op.type() == ttnn::ReductionOpType::ArgMax;
      x = max ? at::argmax(x, dims[0], keep) : at::argmin(x, dims[0], keep);
      break;
    }
    default: fail("no kernel for reduction <invalid ", static_cast<int>(op.type()), ">");
  }
  ctx.set(op.out(), x);
}

void run(const ttnn::SoftmaxOp& op, ProgramContext& ctx) {
  const at::Tensor& in = ctx.get(op.in(), "in");
  int64_t dim = normalizeDim(op.dimension(), std::max<int64_t>(in.dim(), 1), "dimension");
  OnCallingThreadIfSmall serial(in.numel());
  ctx.set(op.out(), in.dim() == 0 ? at::ones_like(f32(in)) : at::softmax(f32(in), dim));
}

namespace {

// weight and bias of a normalization: optional, one value per element of the last dim
std::optional<at::Tensor> lastDimParam(ProgramContext& ctx, const fb::TensorRef* ref, const char* field,
                                       int64_t size) {
  if (ref == nullptr) return std::nullopt;
  at::Tensor t = f32(ctx.get(ref, field));
  if (t.numel() != size) {
    fail(field, " has ", t.numel(), " elements (", shapeStr(t.sizes()), "), but the normalized last dim has ", size);
  }
  return t.reshape({size});
}

template <typename Op>
std::tuple<at::Tensor, std::optional<at::Tensor>, std::optional<at::Tensor>> normOperands(const Op& op,
                                                                                          ProgramContext& ctx) {
  const at::Tensor& in = ctx.get(op.in(), "in");
  if (in.dim() == 0) fail("the input must have rank >= 1, got a scalar");
  int64_t size = in.size(-1);
  return {f32(in), lastDimParam(ctx, op.weight(), "weight", size), lastDimParam(ctx, op.bias(), "bias", size)};
}

}  // namespace

void run(const ttnn::LayerNormOp& op, ProgramContext& ctx) {
  auto [x, weight, bias] = normOperands(op, ctx);
  OnCallingThreadIfSmall serial(x.numel());
  ctx.set(op.out(), at::layer_norm(x, {x.size(-1)}, weight, bias, op.epsilon()));
}

void run(const ttnn::RmsNormOp& op, ProgramContext& ctx) {
  auto [x, weight, bias] = normOperands(op, ctx);
  OnCallingThreadIfSmall serial(x.numel());
  if (x.numel() > 0 && x.size(-1) > 0) {
    // One pass per row instead of six ATen ops (square, mean, add, rsqrt, scale, weight): a
    // decode step's [1, 768] row 50 -> ~3 us. The sum of squares is accumulated in double
    // and rounded once to float, then the same float steps as the composite.
    at::Tensor in = x.contiguous();
    at::Tensor w = weight ? weight->contiguous() : at::Tensor();
    at::Tensor b = bias ? bias->contiguous() : at::Tensor();
    at::Tensor y = at::empty_like(in);
    int64_t n = in.size(-1), rows = in.numel() / n;
    const float* px = in.const_data_ptr<float>();
    const float* pw = w.defined() ? w.const_data_ptr<float>() : nullptr;
    const float* pb = b.defined() ? b.const_data_ptr<float>() : nullptr;
    float* py = y.mutable_data_ptr<float>();
    float eps = static_cast<float>(op.epsilon());
    at::parallel_for(0, rows, std::max<int64_t>(1, kSerialElements / n), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const float* row = px + r * n;
        float* out = py + r * n;
        double squares = 0;
        for (int64_t i = 0; i < n; ++i) squares += static_cast<double>(row[i]) * row[i];
        float scale = 1.0f / std::sqrt(static_cast<float>(squares / static_cast<double>(n)) + eps);
        for (int64_t i = 0; i < n; ++i) {
          float v = row[i] * scale;
          if (pw != nullptr) v *= pw[i];
          if (pb != nullptr) v += pb[i];
          out[i] = v;
        }
      }
    });
    ctx.set(op.out(), y);
    return;
  }
  at::Tensor y = x * at::rsqrt(at::mean(x * x, {-1}, true) + static_cast<double>(op.epsilon()));
  if (weight) y = y * *weight;
  if (bias) y = y + *bias;
  ctx.set(op.out(), y);
}

}  // namespace tt::runtime::kernels
