#include "context.h"

namespace tt::runtime {

namespace {

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

void ProgramContext::set(const TensorInfo& info, at::Tensor value, bool formatted) {
  checkShape(value.sizes(), info);
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
