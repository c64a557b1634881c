// Constant, full and arange: tensors built from attributes alone.
#include <cstring>
#include <map>
#include <tuple>

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

namespace {

// A small full (a Python scalar of the model: `x + 0.5`) is built once per thread and shared by
// every later run: the key is its whole content (type, value, shape), so an entry is never
// stale, whatever program asks. Kernels never write into their inputs unless the compiler
// marked the input's buffer dead and fresh (in-place results), which a full never is, and a
// shared value is not one the pool alone holds, so an output that is a full is copied.
constexpr int64_t kSharedFullElements = 4096;
constexpr size_t kSharedFulls = 512;

at::Tensor sharedFull(const std::vector<int64_t>& shape, double value, at::ScalarType type) {
  using Key = std::tuple<int, uint64_t, std::vector<int64_t>>;
  thread_local std::map<Key, at::Tensor> fulls;
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  Key key{static_cast<int>(type), bits, shape};
  auto it = fulls.find(key);
  if (it != fulls.end()) return it->second;
  if (fulls.size() >= kSharedFulls) fulls.clear();
  at::Tensor made = at::full(shape, value, at::TensorOptions().dtype(type));
  fulls.emplace(std::move(key), made);
  return made;
}

}  // namespace

void run(const ttnn::FullOp& op, ProgramContext& ctx) {
  TensorInfo info = describe(op.out(), "out");
  ctx.checkFits(op.out());
  at::ScalarType type = containerType(info.dtype);
  if (info.numel() <= kSharedFullElements) {
    ctx.set(info, sharedFull(info.shape, op.fill_value(), type));
    return;
  }
  ctx.set(info, at::full(info.shape, op.fill_value(), at::TensorOptions().dtype(type)));
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
