// The emulated Tenstorrent device: a system description (built in for n150, n300
// and p150, or taken from a binary) plus accounting of the device memory that live
// tensors occupy, so that a program that would not fit on silicon fails here too.
#pragma once

#include <c10/core/StorageImpl.h>
#include <c10/util/intrusive_ptr.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "common.h"
#include "numerics.h"

namespace tt::runtime {

class Binary;

// A mesh spread over processes (tt_torch.distributed): this process runs chips
// [first_chip, first_chip + local_chips) of a program's mesh (every process the same
// count, in rank order), and a collective whose lines hold chips of several processes
// gets the other chips' tensors from `exchange`. Every process calls it for the same op
// in the same order with `what` naming the op; it takes this process's chips' tensors in
// chip order and returns every chip's, in chip order.
struct MeshTransport {
  size_t first_chip = 0;
  size_t local_chips = 1;
  std::function<std::vector<at::Tensor>(const std::string& what, const std::vector<at::Tensor>& local)> exchange;

  size_t owner(size_t chip) const { return chip / local_chips; }
  bool isLocal(size_t chip) const { return chip >= first_chip && chip < first_chip + local_chips; }
};

struct SystemInfo {
  std::string name;  // "n150", "n300", "p150", or the name in a binary's system desc
  fb::Arch arch = fb::Arch::WormholeB0;
  std::vector<int32_t> mesh_shape{1, 1};
  int32_t grid_rows = 8;
  int32_t grid_cols = 8;
  uint64_t l1_bytes_per_core = 0;
  uint32_t num_dram_channels = 0;
  uint64_t dram_channel_bytes = 0;
  float dram_bandwidth_gbps = 0;
  uint32_t clock_mhz = 0;
  std::vector<fb::DataType> supported_data_types;
  uint32_t num_cores = 0;
  std::vector<std::pair<fb::DataType, float>> peak_tflops;  // at LoFi, per format

  // Programs run on one chip of the mesh, so budgets are those of one chip.
  uint64_t dramBytes() const { return uint64_t{num_dram_channels} * dram_channel_bytes; }
  uint64_t l1Bytes() const { return uint64_t(grid_rows) * uint64_t(grid_cols) * l1_bytes_per_core; }
  int numChips() const;
};

// The built-in descriptions; an unknown name is an error listing the known ones.
SystemInfo builtinSystem(const std::string& name);
std::vector<std::string> builtinSystemNames();
// The description embedded in a binary (chip 0 of its system desc).
SystemInfo systemFromDesc(const fb::SystemDesc& desc);

class Device {
 public:
  explicit Device(SystemInfo info, Numerics numerics = Numerics::Emulated)
      : info_(std::move(info)), numerics_(numerics) {}
  static std::shared_ptr<Device> open(const std::string& name, Numerics numerics = Numerics::Emulated) {
    return std::make_shared<Device>(builtinSystem(name), numerics);
  }
  static std::shared_ptr<Device> open(const Binary& binary, Numerics numerics = Numerics::Emulated);

  // Whether ops reproduce the chip's numerics (formats, registers, fidelity) or skip that.
  Numerics numerics() const { return numerics_; }

  // What an int32 result out of range does (see IntegerOverflow); settable at any time.
  IntegerOverflow integerOverflow() const { return integer_overflow_.load(); }
  void setIntegerOverflow(IntegerOverflow mode) { integer_overflow_.store(mode); }
  // In Wrap mode: how many op results wrapped since the device opened, and the last one
  // ("<op> at <location>: values in [lo, hi]").
  void noteIntegerWrap(std::string what);
  uint64_t integerWraps() const;
  std::string lastIntegerWrap() const;

  // A value computed from a persistent tensor (a weight): `make()` the first time, then
  // the cached result for as long as `source` is alive and unmodified (same storage,
  // view and version; an inference tensor, which has no version counter, by storage and
  // view). `tag` names the derivation ("tf32", "bfp8"...).
  at::Tensor derived(const at::Tensor& source, const std::string& tag, const std::function<at::Tensor()>& make);

  const SystemInfo& info() const { return info_; }
  const std::string& name() const { return info_.name; }
  fb::Arch arch() const { return info_.arch; }

  // Chip `index` of this device's mesh, for SPMD programs: chip 0 is this device, the
  // others are opened on first use with the same description, numerics and overflow mode,
  // and account their own memory (each chip has its own DRAM and L1). Defined in ccl.cpp.
  Device& chip(size_t index);

  // The processes this device's meshes span (none: every chip runs here).
  void setTransport(std::shared_ptr<const MeshTransport> transport) {
    std::lock_guard<std::mutex> lock(mutex_);
    transport_ = std::move(transport);
  }
  std::shared_ptr<const MeshTransport> transport() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return transport_;
  }

  void close();
  bool isOpen() const;
  void checkOpen() const;

  // Device memory held by one live tensor; released when destroyed.
  class Allocation {
   public:
    Allocation() = default;
    Allocation(Device* device, fb::BufferType buffer, uint64_t bytes)
        : device_(device), buffer_(buffer), bytes_(bytes) {}
    Allocation(Allocation&& other) noexcept { *this = std::move(other); }
    Allocation& operator=(Allocation&& other) noexcept;
    Allocation(const Allocation&) = delete;
    Allocation& operator=(const Allocation&) = delete;
    ~Allocation() { reset(); }
    void reset();

   private:
    Device* device_ = nullptr;
    fb::BufferType buffer_ = fb::BufferType::SystemMemory;
    uint64_t bytes_ = 0;
  };

  // Accounts `tensor` at its padded size in its buffer (DRAM or L1); host tensors
  // take nothing. Throws, naming the tensor, its size and the budget, when it does
  // not fit.
  Allocation allocate(const TensorInfo& tensor);
  // The same check without allocating, for ops that would build a huge output.
  void checkFits(const TensorInfo& tensor) const;

  uint64_t bytesInUse(fb::BufferType buffer) const;
  uint64_t peakBytes(fb::BufferType buffer) const;
  uint64_t budget(fb::BufferType buffer) const;
  // Starts a new peak measurement: peaks become the bytes in use now.
  void resetPeaks();

 private:
  void checkFitsLocked(const TensorInfo& tensor, uint64_t bytes) const;
  void release(fb::BufferType buffer, uint64_t bytes);
  static size_t slot(fb::BufferType buffer);

  SystemInfo info_;
  Numerics numerics_ = Numerics::Emulated;
  std::atomic<IntegerOverflow> integer_overflow_{IntegerOverflow::Error};
  uint64_t integer_wraps_ = 0;  // guarded by mutex_
  std::string last_integer_wrap_;
  mutable std::mutex mutex_;
  struct Derived {
    c10::weak_intrusive_ptr<c10::StorageImpl> storage;
    bool inference = false;  // an inference tensor: no version counter (see derived())
    uint32_t version = 0;
    at::Tensor value;
  };
  using DerivedKey = std::tuple<const void*, int64_t, std::vector<int64_t>, std::vector<int64_t>, int, std::string>;
  std::mutex derived_mutex_;
  std::map<DerivedKey, Derived> derived_;
  bool open_ = true;
  std::mutex chips_mutex_;
  std::vector<std::shared_ptr<Device>> chips_;  // chips 1.. of the mesh (see chip())
  std::shared_ptr<const MeshTransport> transport_;  // guarded by mutex_
  uint64_t in_use_[3] = {0, 0, 0};  // indexed by BufferType
  uint64_t peak_[3] = {0, 0, 0};
};

}  // namespace tt::runtime
