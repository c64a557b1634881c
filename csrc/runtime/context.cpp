#include "context.h"

#include <cmath>
#include <limits>

#include "executor.h"

namespace tt::runtime {

namespace {

constexpr double kInt32Min = std::numeric_limits<int32_t>::min();
constexpr double kInt32Max = std::numeric_limits<int32_t>::max();

std::string rangeText(double lo, double hi) {
  auto one = [](double v) {
    return std::abs(v) < 9.0e15 ? std::to_string(static_cast<int64_t>(v)) : cat(v);
  };
  return cat("[", one(lo), ", ", one(hi), "]");
}

}  // namespace

at::Tensor toContainer(const at::Tensor& value, fb::DataType dtype, Numerics numerics) {
  if (isBlockFloatB(dtype) && numerics == Numerics::Emulated && value.scalar_type() != at::kBool) {
    return roundToBlockFloat(value, dtype).to(at::kBFloat16);
  }
  at::Tensor out = value.to(containerType(dtype));
  if (dtype == fb::DataType::UInt16) out = at::bitwise_and(out, 0xFFFF);  // wrap like a uint16
  return out;
}

namespace {

}  // namespace

ProgramContext::Entry& ProgramContext::entry(const fb::TensorRef* ref, const char* field) {
  need(ref, field);
  auto it = pool_.find(ref->global_id());
  if (it == pool_.end()) {
    fail("tensor '", field, "' (%", ref->global_id(),
         ") is not live: it was never produced or was already deallocated");
  }
  return it->second;
}

const at::Tensor& ProgramContext::get(const fb::TensorRef* ref, const char* field) {
  return entry(ref, field).value;
}

const TensorInfo& ProgramContext::info(const fb::TensorRef* ref, const char* field) {
  return entry(ref, field).info;
}

namespace {

void checkShape(at::IntArrayRef actual, const TensorInfo& declared) {
  if (actual != at::IntArrayRef(declared.shape)) {
    fail("the result has shape ", shapeStr(actual), " but its output %", declared.global_id, " is declared as ",
         shapeStr(declared.shape));
  }
}

}  // namespace

void ProgramContext::expectShape(const fb::TensorRef* ref, const std::vector<int64_t>& shape, const char* field) {
  checkShape(shape, describe(ref, field));
}

void ProgramContext::integerOverflow(double lo, double hi) {
  std::string range = rangeText(lo, hi);
  if (device_.integerOverflow() == IntegerOverflow::Error) {
    fail("integer overflow: the result holds values in ", range, ", outside the device's int32 range [-2147483648, ",
         "2147483647] (the device has no 64-bit integers; eager PyTorch computes in int64). Keep the values within "
         "int32, or compile with CompilerConfig(narrowing=\"wrap\") (or device.integer_overflow = \"wrap\") "
         "for the hardware's wrapped result");
  }
  std::string where = current_op_ == nullptr ? std::string("an op") : describeOp(current_op_, current_index_);
  device_.noteIntegerWrap(cat(where, ": values in ", range, " wrapped to int32"));
}

at::Tensor ProgramContext::checkedInt32(at::Tensor value) {
  at::ScalarType type = value.scalar_type();
  if (value.numel() == 0 || type == at::kInt || type == at::kBool || type == at::kByte || type == at::kChar ||
      type == at::kShort) {
    return value;
  }
  auto [lo_t, hi_t] = at::aminmax(type == at::kLong ? value : value.to(at::kDouble));
  double lo = lo_t.item<double>(), hi = hi_t.item<double>();
  if (type == at::kLong) {
    int64_t l = lo_t.item<int64_t>(), h = hi_t.item<int64_t>();
    if (l >= INT32_MIN && h <= INT32_MAX) return value;
    integerOverflow(static_cast<double>(l), static_cast<double>(h));
    return value.to(at::kInt);  // two's complement: the low 32 bits
  }
  // a float becoming an int32 truncates toward zero
  if (lo > kInt32Min - 1.0 && hi < kInt32Max + 1.0) return value;
  // Only values eager's int64 would hold count: inf, NaN and floats past int64 have no defined
  // integer in PyTorch (models discard them, e.g. a log(0) lane that a where() does not select).
  at::Tensor d = value.to(at::kDouble);
  at::Tensor held = at::where(at::isfinite(d) & (at::abs(d) < 9.2233720368547758e18), d, at::zeros_like(d));
  auto [held_lo, held_hi] = at::aminmax(held);
  lo = held_lo.item<double>();
  hi = held_hi.item<double>();
  if (lo <= kInt32Min - 1.0 || hi >= kInt32Max + 1.0) integerOverflow(lo, hi);
  return at::nan_to_num(d, 0.0).clamp(kInt32Min, kInt32Max).to(at::kInt);  // saturated
}

void ProgramContext::set(const TensorInfo& info, at::Tensor value, bool formatted) {
  checkShape(value.sizes(), info);
  if (!formatted && info.dtype == fb::DataType::Int32) value = checkedInt32(std::move(value));
  at::Tensor container = formatted ? std::move(value) : toContainer(value, info.dtype, device_.numerics());
  // Free the tensor this one replaces before allocating, as the device would.
  pool_.erase(info.global_id);
  Device::Allocation allocation = device_.allocate(info);
  Entry entry{std::move(container), info, std::move(allocation)};
  pool_.insert_or_assign(info.global_id, std::move(entry));
  has_last_set_ = true;
  last_set_ = info.global_id;
}

void ProgramContext::erase(const fb::TensorRef* ref, const char* field) {
  entry(ref, field);  // an error if it is not live
  pool_.erase(ref->global_id());
}

}  // namespace tt::runtime
