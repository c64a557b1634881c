// The state of one program run: the tensor pool, keyed by TensorRef global_id,
// and the device whose memory the live device tensors occupy.
#pragma once

#include <unordered_map>
#include <vector>

#include "common.h"
#include "device.h"

namespace tt::runtime {

// `value` as a tensor of `dtype` holds it: cast to the container type, rounded to the
// block-float format in Emulated mode, wrapped for uint16.
at::Tensor toContainer(const at::Tensor& value, fb::DataType dtype, Numerics numerics);

class ProgramContext {
 public:
  explicit ProgramContext(Device& device) : device_(device) {}

  Device& device() { return device_; }

  // An SPMD program on a mesh runs one context per chip; a collective reads and writes
  // the other chips' tensors through its peers (see ccl.cpp). A one-chip run is a mesh of
  // one context.
  // When the mesh spans processes, `mesh` holds nullptr for the chips of other processes
  // and `transport` says how to reach them.
  void setMesh(const std::vector<ProgramContext*>* mesh, size_t chip, std::vector<int64_t> mesh_shape,
               const MeshTransport* transport = nullptr) {
    mesh_ = mesh;
    chip_ = chip;
    mesh_shape_ = std::move(mesh_shape);
    transport_ = transport;
  }
  // The program's logical mesh ([rows, cols]; [1, 1] for one chip).
  const std::vector<int64_t>& meshShape() const { return mesh_shape_; }
  size_t numChips() const { return mesh_ ? mesh_->size() : 1; }
  size_t chipIndex() const { return chip_; }
  ProgramContext& peer(size_t chip) {
    if (!mesh_) return *this;
    if (!(*mesh_)[chip]) fail("chip ", chip, " of the mesh runs in another process");
    return *(*mesh_)[chip];
  }
  bool isLocal(size_t chip) const { return !mesh_ || (*mesh_)[chip] != nullptr; }
  const MeshTransport* transport() const { return transport_; }

  // The live value of `ref` (its ATen container), or an error naming the tensor.
  const at::Tensor& get(const fb::TensorRef* ref, const char* field);
  // Where and how the live value of `ref` is held.
  const TensorInfo& info(const fb::TensorRef* ref, const char* field);

  // Makes `value` the live tensor described by `info` (or by `ref`): checks its shape,
  // casts it to the container type of the described data type and accounts its
  // device memory. Replaces an existing tensor with the same id. `formatted`: `value`
  // already is the container of info's data type (see toContainer).
  void set(const TensorInfo& info, at::Tensor value, bool formatted = false);
  void set(const fb::TensorRef* ref, at::Tensor value, const char* field = "out") {
    set(describe(ref, field), std::move(value));
  }

  // The id of the tensor the last set() stored (the output of the op that ran last),
  // or none; the executor clears it before each op for its post-op hook.
  bool hasLastSet() const { return has_last_set_; }
  uint32_t lastSet() const { return last_set_; }
  void clearLastSet() { has_last_set_ = false; }
  // The live tensor with this id, or nullptr.
  const at::Tensor* find(uint32_t global_id) const {
    auto it = pool_.find(global_id);
    return it == pool_.end() ? nullptr : &it->second.value;
  }

  // The op running now (set by the executor), named in integer-overflow reports.
  void setCurrentOp(const ttnn::Operation* op, size_t index) {
    current_op_ = op;
    current_index_ = index;
  }
  // An integer result holds values in [lo, hi], outside its 32-bit type `dtype` (Int32 or
  // UInt32): in the device's Error mode this throws (the executor adds the op and its
  // location); in Wrap mode it is counted on the device and the caller stores the wrapped value.
  void integerOverflow(double lo, double hi, fb::DataType dtype = fb::DataType::Int32);

  // Frees the tensor of `ref` and its device memory.
  void erase(const fb::TensorRef* ref, const char* field);

  // Throws unless `ref` is declared with `shape`: ops whose output size comes from
  // attributes check it before building the output.
  void expectShape(const fb::TensorRef* ref, const std::vector<int64_t>& shape, const char* field = "out");

  // Throws if a tensor described by `ref` would not fit in device memory now; ops
  // whose output size comes from attributes call this before building it.
  void checkFits(const fb::TensorRef* ref, const char* field = "out") { device_.checkFits(describe(ref, field)); }

 private:
  struct Entry {
    at::Tensor value;
    TensorInfo info;
    Device::Allocation allocation;
  };
  Entry& entry(const fb::TensorRef* ref, const char* field);

  // `value` checked to fit the int32 it is about to be stored as; in Wrap mode the
  // wrapped (integers) or saturated (floats) int32 values.
  at::Tensor checkedInt32(at::Tensor value);

  Device& device_;
  const std::vector<ProgramContext*>* mesh_ = nullptr;
  size_t chip_ = 0;
  std::vector<int64_t> mesh_shape_{1, 1};
  const MeshTransport* transport_ = nullptr;
  const ttnn::Operation* current_op_ = nullptr;
  size_t current_index_ = 0;
  std::unordered_map<uint32_t, Entry> pool_;
  bool has_last_set_ = false;
  uint32_t last_set_ = 0;
};

}  // namespace tt::runtime
