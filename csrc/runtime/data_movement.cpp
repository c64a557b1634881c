// Reshape, permute, slice, concat, repeat, pad, embedding, scatter and sort: data is moved,
// never computed, so every op keeps its operands' values exactly (but a Sum scatter,
// which adds in fp32 or exact int64 and rounds once to the output's format).
#include <c10/core/InferenceMode.h>

#include "kernels.h"
#include "threads.h"

namespace tt::runtime::kernels {

int64_t normalizeDim(int64_t dim, int64_t rank, const char* what) {
  if (dim < -rank || dim >= rank) fail(what, " ", dim, " is out of range for rank ", rank);
  return dim < 0 ? dim + rank : dim;
}

std::vector<int64_t> sized(std::vector<int64_t> values, size_t size, const char* name) {
  if (values.size() != size) fail(name, " has ", values.size(), " entries, expected ", size, ": ", shapeStr(values));
  return values;
}

void run(const ttnn::ReshapeOp& op, ProgramContext& ctx) {
  const at::Tensor& in = ctx.get(op.in(), "in");
  std::vector<int64_t> shape = op.shape() ? toVector(op.shape()) : describe(op.out(), "out").shape;
  OnCallingThreadIfSmall serial(in.numel());  // a reshape of a strided view copies
  ctx.set(op.out(), in.reshape(shape));
}

void run(const ttnn::PermuteOp& op, ProgramContext& ctx) {
  const at::Tensor& in = ctx.get(op.in(), "in");
  ctx.set(op.out(), in.permute(sized(toVector(op.permutation()), in.dim(), "permutation")));
}

void run(const ttnn::SliceOp& op, ProgramContext& ctx) {
  at::Tensor x = ctx.get(op.in(), "in");
  size_t rank = x.dim();
  std::vector<int64_t> begins = sized(toVector(op.begins()), rank, "begins");
  std::vector<int64_t> ends = sized(toVector(op.ends()), rank, "ends");
  std::vector<int64_t> steps = op.step() && op.step()->size() ? sized(toVector(op.step()), rank, "step")
                                                               : std::vector<int64_t>(rank, 1);
  for (size_t d = 0; d < rank; ++d) {
    if (steps[d] <= 0) fail("step must be positive, got ", shapeStr(steps));
    x = x.slice(d, begins[d], ends[d], steps[d]);
  }
  ctx.set(op.out(), x);
}

void run(const ttnn::ConcatOp& op, ProgramContext& ctx) {
  if (op.inputs() == nullptr || op.inputs()->size() == 0) fail("concat has no inputs");
  at::ScalarType dtype = containerType(describe(op.out(), "out").dtype);
  std::vector<at::Tensor> parts;
  for (const fb::TensorRef* ref : *op.inputs()) parts.push_back(ctx.get(ref, "inputs").to(dtype));
  ctx.set(op.out(), at::cat(parts, normalizeDim(op.dim(), parts[0].dim())));
}

void run(const ttnn::RepeatOp& op, ProgramContext& ctx) {
  const at::Tensor& in = ctx.get(op.in(), "in");
  std::vector<int64_t> repeats = sized(toVector(op.repeat_dims()), in.dim(), "repeat_dims");
  int64_t copied = in.numel();
  for (int64_t r : repeats) copied *= std::max<int64_t>(r, 1);
  OnCallingThreadIfSmall serial(copied);
  std::vector<int64_t> shape = in.sizes().vec();
  for (size_t d = 0; d < shape.size(); ++d) shape[d] *= repeats[d];
  ctx.expectShape(op.out(), shape);
  ctx.checkFits(op.out());
  ctx.set(op.out(), in.repeat(repeats));
}

void run(const ttnn::PadOp& op, ProgramContext& ctx) {
  const at::Tensor& in = ctx.get(op.in(), "in");
  std::vector<int64_t> padding = sized(toVector(op.padding()), 2 * in.dim(), "padding ([low_0, high_0, ...])");
  std::vector<int64_t> torch_pad;  // ATen lists the last dim first
  std::vector<int64_t> shape = in.sizes().vec();
  for (int64_t d = in.dim() - 1; d >= 0; --d) {
    torch_pad.push_back(padding[2 * d]);
    torch_pad.push_back(padding[2 * d + 1]);
    shape[d] += padding[2 * d] + padding[2 * d + 1];
  }
  ctx.expectShape(op.out(), shape);
  ctx.checkFits(op.out());
  ctx.set(op.out(), at::constant_pad_nd(in, torch_pad, op.value()));
}

void run(const ttnn::EmbeddingOp& op, ProgramContext& ctx) {
  at::Tensor indices = ctx.get(op.input(), "input").to(at::kLong);
  const at::Tensor& weight = ctx.get(op.weight(), "weight");
  if (weight.dim() != 2) fail("weight must be [num_embeddings, D], got ", shapeStr(weight.sizes()));
  OnCallingThreadIfSmall serial(indices.numel() * weight.size(1));  // the rows gathered
  if (indices.numel() > 0) {
    int64_t lo = indices.min().item<int64_t>(), hi = indices.max().item<int64_t>();
    if (lo < 0 || hi >= weight.size(0)) {
      fail("index ", lo < 0 ? lo : hi, " is out of range for an embedding table of ", weight.size(0), " rows");
    }
  }
  ctx.set(op.out(), at::embedding(weight, indices));
}

void run(const ttnn::ScatterOp& op, ProgramContext& ctx) {
  const at::Tensor& input = ctx.get(op.input(), "input");
  at::Tensor index = ctx.get(op.index(), "index").to(at::kLong);
  const at::Tensor& source = ctx.get(op.source(), "source");
  int64_t dim = normalizeDim(op.dim(), input.dim());
  if (index.sizes() != source.sizes()) {
    fail("index ", shapeStr(index.sizes()), " and source ", shapeStr(source.sizes()), " must have the same shape");
  }
  if (index.dim() != input.dim()) fail("index has rank ", index.dim(), ", input ", input.dim());
  for (int64_t d = 0; d < index.dim(); ++d) {
    if (d != dim && index.size(d) > input.size(d)) {
      fail("index ", shapeStr(index.sizes()), " is larger than input ", shapeStr(input.sizes()), " along dim ", d);
    }
  }
  if (index.numel() > 0) {
    int64_t lo = index.min().item<int64_t>(), hi = index.max().item<int64_t>();
    if (lo < 0 || hi >= input.size(dim)) {
      fail("index ", lo < 0 ? lo : hi, " is out of range for dim ", dim, " of size ", input.size(dim));
    }
  }
  ctx.expectShape(op.out(), input.sizes().vec());
  ctx.checkFits(op.out());
  if (op.reduce_type() == ttnn::ScatterReduceType::Sum) {
    bool integer = isInt(input);
    at::Tensor acc = integer ? i64(input) : f32(input);
    ctx.set(op.out(), acc.scatter_add(dim, index, integer ? i64(source) : f32(source)));
    return;
  }
  ctx.set(op.out(), input.scatter(dim, index, source.to(input.scalar_type())));
}

// A KV cache's new row, written into the cache's own buffer: a program input passed as it
// is, that is the caller's tensor (the write is the program's only effect on it).
void run(const ttnn::UpdateCacheOp& op, ProgramContext& ctx) {
  const at::Tensor& cache = ctx.get(op.cache(), "cache");
  const at::Tensor& input = ctx.get(op.input(), "input");
  const at::Tensor& index = ctx.get(op.update_index(), "update_index");
  if (cache.dim() != 4 || input.dim() != 4) {
    fail("cache ", shapeStr(cache.sizes()), " and input ", shapeStr(input.sizes()), " must both be [B, H, S, D]");
  }
  int64_t offset = op.batch_offset();
  if (input.size(2) != 1 || input.size(1) != cache.size(1) || input.size(3) != cache.size(3) ||
      offset + input.size(0) > cache.size(0)) {
    fail("input ", shapeStr(input.sizes()), " is not one position of cache ", shapeStr(cache.sizes()),
         " at batch offset ", offset, " (expected [B <= ", cache.size(0) - offset, ", ", cache.size(1), ", 1, ",
         cache.size(3), "])");
  }
  if (input.scalar_type() != cache.scalar_type()) {
    fail("input ", c10::toString(input.scalar_type()), " and cache ", c10::toString(cache.scalar_type()),
         " must have the same data type");
  }
  if (index.numel() != 1) fail("update_index must hold one position, got ", shapeStr(index.sizes()));
  int64_t position = index.reshape({1}).to(at::kLong).item<int64_t>();
  if (position < 0 || position >= cache.size(2)) {
    fail("update_index ", position, " is out of range for a cache of ", cache.size(2), " positions");
  }
  c10::InferenceMode guard;  // the caller's cache may be an inference tensor
  OnCallingThreadIfSmall serial(input.numel());
  cache.narrow(0, offset, input.size(0)).narrow(2, position, 1).copy_(input);
}

void run(const ttnn::SortOp& op, ProgramContext& ctx) {
  const at::Tensor& input = ctx.get(op.input(), "input");
  int64_t dim = normalizeDim(op.dim(), input.dim());
  ctx.checkFits(op.values(), "values");
  ctx.checkFits(op.indices(), "indices");
  // a stable sort is also a valid unstable one: ties keep their order either way
  auto [values, indices] = input.sort(/*stable=*/true, dim, op.descending());
  ctx.set(op.values(), values, "values");
  ctx.set(op.indices(), indices, "indices");
}

}  // namespace tt::runtime::kernels
