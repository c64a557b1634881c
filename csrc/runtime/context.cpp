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
  at::ScalarType container = containerType(dtype);
  // most values already are their container (every data move, every float kernel's result)
  bool masked = dtype == fb::DataType::UInt16 || dtype == fb::DataType::UInt32;
  if (value.scalar_type() == container && !masked) return value;
  at::Tensor out = value.to(container);
  // unsigned types hold the low bits of the value, as the hardware's registers do
  if (dtype == fb::DataType::UInt16) out = at::bitwise_and(out, 0xFFFF);
  if (dtype == fb::DataType::UInt32) out = at::bitwise_and(out, int64_t{0xFFFFFFFF});
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

void ProgramContext::integerOverflow(double lo, double hi, fb::DataType dtype) {
  std::string range = rangeText(lo, hi);
  const bool u32 = dtype == fb::DataType::UInt32;
  const char* type = u32 ? "uint32" : "int32";
  if (device_.integerOverflow() == IntegerOverflow::Error) {
    fail("integer overflow: the result holds values in ", range, ", outside the device's ", type, " range ",
         u32 ? "[0, 4294967295]" : "[-2147483648, 2147483647]",
         " (the device has no 64-bit integers; eager PyTorch and ONNX compute 64-bit types in 64 bits). Keep the "
         "values within ", type, ", or compile with CompilerConfig(narrowing=\"wrap\") (or "
         "device.integer_overflow = \"wrap\") for the hardware's wrapped result");
  }
  std::string where = current_op_ == nullptr ? std::string("an op") : describeOp(current_op_, current_index_);
  device_.noteIntegerWrap(cat(where, ": values in ", range, " wrapped to ", type));
}

namespace {

// Results of up to this many values (int64, or a float becoming an integer) are range-checked
// by a loop over their data
constexpr int64_t kDirectScan = 4096;

// Whether every value truncates toward zero into [min, max] (false for NaN; an integer
// fits exactly when it lies in the range).
template <typename T>
bool fitsDirectly(const T* p, int64_t n, double min, double max) {
  for (int64_t i = 0; i < n; ++i) {
    const double x = static_cast<double>(p[i]);
    if (!(x > min - 1.0 && x < max + 1.0)) return false;
  }
  return true;
}

// `value` checked to fit the 32-bit integer type `dtype` (Int32 or UInt32) it is about to be
// stored as: an integer result out of range, or a float whose truncation toward zero is, is
// an integer overflow (ProgramContext::integerOverflow). In Wrap mode, integers keep their
// low 32 bits (two's complement) and floats saturate.
at::Tensor checkedInt(ProgramContext& ctx, at::Tensor value, fb::DataType dtype) {
  const bool u32 = dtype == fb::DataType::UInt32;
  const double min = u32 ? 0.0 : kInt32Min, max = u32 ? 4294967295.0 : kInt32Max;
  at::ScalarType type = value.scalar_type();
  if (value.numel() == 0 || type == at::kBool || type == at::kByte || type == at::kUInt16 ||
      (type == at::kUInt32 && u32) || (!u32 && (type == at::kInt || type == at::kChar || type == at::kShort))) {
    return value;
  }
  // A few values (a decode step's positions and counters, an arange) read directly: the
  // reductions below and their reads through the dispatcher take microseconds per op. Values
  // out of range, and NaN, take the full path.
  if (value.is_contiguous() && value.numel() <= kDirectScan) {
    const int64_t n = value.numel();
    if ((type == at::kLong && fitsDirectly(value.const_data_ptr<int64_t>(), n, min, max)) ||
        (type == at::kFloat && fitsDirectly(value.const_data_ptr<float>(), n, min, max)) ||
        (type == at::kDouble && fitsDirectly(value.const_data_ptr<double>(), n, min, max))) {
      return value;
    }
  }
  if (!at::isFloatingType(type)) {
    at::Tensor wide = value.to(at::kLong);  // exact for every integer type but uint64 past int64
    auto [lo_t, hi_t] = at::aminmax(wide);
    int64_t l = lo_t.item<int64_t>(), h = hi_t.item<int64_t>();
    if (type != at::kUInt64 && l >= static_cast<int64_t>(min) && h <= static_cast<int64_t>(max)) return value;
    if (type == at::kUInt64) {  // its values past int64 read as negative
      auto [ulo, uhi] = at::aminmax(value.to(at::kDouble));
      double dl = ulo.item<double>(), dh = uhi.item<double>();
      if (dl >= min && dh <= max) return value;
      ctx.integerOverflow(dl, dh, dtype);
    } else {
      ctx.integerOverflow(static_cast<double>(l), static_cast<double>(h), dtype);
    }
    // the low 32 bits
    return u32 ? at::bitwise_and(wide, int64_t{0xFFFFFFFF}) : wide.to(at::kInt);
  }
  auto [lo_t, hi_t] = at::aminmax(value.to(at::kDouble));
  double lo = lo_t.item<double>(), hi = hi_t.item<double>();
  // a float becoming an integer truncates toward zero
  if (lo > min - 1.0 && hi < max + 1.0) return value;
  // Only values eager's int64 would hold count: inf, NaN and floats past int64 have no defined
  // integer in PyTorch (models discard them, e.g. a log(0) lane that a where() does not select).
  at::Tensor d = value.to(at::kDouble);
  at::Tensor held = at::where(at::isfinite(d) & (at::abs(d) < 9.2233720368547758e18), d, at::zeros_like(d));
  auto [held_lo, held_hi] = at::aminmax(held);
  lo = held_lo.item<double>();
  hi = held_hi.item<double>();
  if (lo <= min - 1.0 || hi >= max + 1.0) ctx.integerOverflow(lo, hi, dtype);
  return at::nan_to_num(d, 0.0).clamp(min, max).trunc().to(at::kLong);  // saturated
}

}  // namespace

at::Tensor ProgramContext::checkedInt32(at::Tensor value) {
  return checkedInt(*this, std::move(value), fb::DataType::Int32);
}

void ProgramContext::set(const TensorInfo& info, at::Tensor value, bool formatted) {
  checkShape(value.sizes(), info);
  if (!formatted && info.dtype == fb::DataType::Int32) value = checkedInt32(std::move(value));
  if (!formatted && info.dtype == fb::DataType::UInt32) value = checkedInt(*this, std::move(value), info.dtype);
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
