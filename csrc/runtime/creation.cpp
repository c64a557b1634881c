// Constant, full and arange: tensors built from attributes alone.
#include <cstring>

#include "kernels.h"

namespace tt::runtime::kernels {

void run(const ttnn::ConstantOp& op, ProgramContext& ctx) {
  TensorInfo info = describe(op.out(), "out");
  at::ScalarType stored = hostType(info.dtype);  // the serialized elements
  size_t expected = static_cast<size_t>(info.numel()) * c10::elementSize(stored);
  size_t got = op.data() ? op.data()->size() : 0;
  if (got != expected) {
    fail("constant data holds ", got, " bytes, but ", shapeStr(info.shape), " ", dtypeName(info.dtype), " needs ",
         expected);
  }
  at::Tensor value = at::empty(info.shape, stored);
  if (expected > 0) std::memcpy(value.data_ptr(), op.data()->data(), expected);
  ctx.set(info, value);
}

void run(const ttnn::FullOp& op, ProgramContext& ctx) {
  TensorInfo info = describe(op.out(), "out");
  ctx.checkFits(op.out());
  ctx.set(info, at::full(info.shape, op.fill_value(), at::TensorOptions().dtype(containerType(info.dtype))));
}

void run(const ttnn::ArangeOp& op, ProgramContext& ctx) {
  TensorInfo info = describe(op.out(), "out");
  ctx.checkFits(op.out());
  int64_t rank = static_cast<int64_t>(info.shape.size());
  if (rank == 0) fail("arange needs an output of rank >= 1");
  int64_t dim = normalizeDim(op.dim(), rank);
  at::Tensor values = at::arange(info.shape[dim], at::kDouble) * op.step() + op.start();
  std::vector<int64_t> view(rank, 1);
  view[dim] = info.shape[dim];
  ctx.set(info, values.view(view).expand(info.shape).contiguous());
}

}  // namespace tt::runtime::kernels
