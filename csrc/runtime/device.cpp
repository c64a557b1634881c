#include "device.h"

#include "binary.h"

namespace tt::runtime {

namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30;

std::vector<fb::DataType> allDataTypes() {
  std::vector<fb::DataType> out;
  for (int t = static_cast<int>(fb::DataType::MIN); t <= static_cast<int>(fb::DataType::MAX); ++t) {
    out.push_back(static_cast<fb::DataType>(t));
  }
  return out;
}

// Facts from /work/shared/design/TT_HARDWARE.md (tt-mlir mock system descs and
// docs.tenstorrent.com specifications).
SystemInfo wormhole(const std::string& name, std::vector<int32_t> mesh, int32_t cores, float lofi_tflops) {
  SystemInfo s;
  s.name = name;
  s.arch = fb::Arch::WormholeB0;
  s.mesh_shape = std::move(mesh);
  s.grid_rows = 8;
  s.grid_cols = 8;
  s.l1_bytes_per_core = 1'499'136;
  s.num_dram_channels = 12;
  s.dram_channel_bytes = kGiB;
  s.dram_bandwidth_gbps = 288;
  s.clock_mhz = 1000;
  s.supported_data_types = allDataTypes();
  // Per chip: an n150 has 72 Tensix cores and 262 TFLOPS FP8 at LoFi (148 BLOCKFP8 and 74
  // FP16 are the same matrix unit at HiFi2 and HiFi4); an n300's chips (and so the T3K's and
  // Galaxy's) have 64 cores each and 466 / 2 TFLOPS, as system_desc.py's chips.
  s.num_cores = cores;
  s.peak_tflops = {{fb::DataType::BFP_BFloat8, lofi_tflops}, {fb::DataType::BFloat16, lofi_tflops}};
  return s;
}

SystemInfo blackhole(const std::string& name, std::vector<int32_t> mesh) {
  SystemInfo s;
  s.name = name;
  s.arch = fb::Arch::Blackhole;
  s.mesh_shape = std::move(mesh);
  s.grid_rows = 10;
  s.grid_cols = 13;
  s.l1_bytes_per_core = 1'572'864;
  s.num_dram_channels = 8;
  s.dram_channel_bytes = 4 * kGiB;
  s.dram_bandwidth_gbps = 512;
  s.clock_mhz = 1350;
  s.supported_data_types = allDataTypes();
  s.num_cores = 140;
  s.peak_tflops = {{fb::DataType::BFP_BFloat8, 1548.f}, {fb::DataType::BFloat16, 1488.f}};
  return s;
}

}  // namespace

int SystemInfo::numChips() const {
  int n = 1;
  for (int32_t d : mesh_shape) n *= d;
  return n;
}

// The systems of tt_torch/compiler/target/system_desc.py (a program runs on one chip of
// them; links between chips are the compiler's and the executor's business).
std::vector<std::string> builtinSystemNames() { return {"n150", "n300", "t3k", "galaxy", "p150", "p150x4", "p150x8"}; }

SystemInfo builtinSystem(const std::string& name) {
  if (name == "n150") return wormhole(name, {1, 1}, 72, 262.f);
  if (name == "n300") return wormhole(name, {1, 2}, 64, 233.f);
  if (name == "t3k") return wormhole(name, {2, 4}, 64, 233.f);
  if (name == "galaxy") return wormhole(name, {4, 8}, 64, 233.f);
  if (name == "p150") return blackhole(name, {1, 1});
  if (name == "p150x4") return blackhole(name, {2, 2});
  if (name == "p150x8") return blackhole(name, {2, 4});
  fail("unknown system '", name, "': expected one of n150, n300, t3k, galaxy, p150, p150x4, p150x8");
}

SystemInfo systemFromDesc(const fb::SystemDesc& desc) {
  if (desc.chip_descs() == nullptr || desc.chip_descs()->size() == 0 || desc.chip_descs()->Get(0) == nullptr) {
    fail("the binary's system description has no chip");
  }
  const fb::ChipDesc& chip = *desc.chip_descs()->Get(0);
  if (chip.arch() > fb::Arch::MAX) fail("the binary's system description has an unknown arch ", archName(chip.arch()));
  SystemInfo s;
  s.name = text(desc.name(), "custom");
  s.arch = chip.arch();
  if (desc.mesh_shape() && desc.mesh_shape()->size() > 0) {
    s.mesh_shape.assign(desc.mesh_shape()->begin(), desc.mesh_shape()->end());
  }
  if (chip.grid_size() && chip.grid_size()->size() == 2) {
    s.grid_rows = chip.grid_size()->Get(0);
    s.grid_cols = chip.grid_size()->Get(1);
  }
  s.l1_bytes_per_core = chip.l1_size();
  s.num_dram_channels = chip.num_dram_channels();
  s.dram_channel_bytes = chip.dram_channel_size();
  s.dram_bandwidth_gbps = chip.dram_bandwidth_gbps();
  s.clock_mhz = chip.clock_mhz();
  if (chip.supported_data_types()) {
    for (auto t : *chip.supported_data_types()) s.supported_data_types.push_back(static_cast<fb::DataType>(t));
  }
  s.num_cores = chip.num_cores();
  if (chip.peak_throughput()) {
    for (const fb::PeakThroughput* p : *chip.peak_throughput()) s.peak_tflops.emplace_back(p->data_type(), p->tflops());
  }
  return s;
}

std::shared_ptr<Device> Device::open(const Binary& binary, Numerics numerics) {
  if (binary.systemDesc() == nullptr) fail("the binary has no system description to open a device from");
  return std::make_shared<Device>(systemFromDesc(*binary.systemDesc()), numerics);
}

at::Tensor Device::derived(const at::Tensor& source, const std::string& tag, const std::function<at::Tensor()>& make) {
  c10::weak_intrusive_ptr<c10::StorageImpl> storage = source.storage().getWeakStorageImpl();
  // A normal tensor is keyed by its storage and view, and its version counter tells an
  // in-place update (optimizer step, load_state_dict, copy_) from the value cached.
  // An inference tensor (made under torch.inference_mode) has no version counter:
  // reading it throws. It can be written in place only inside inference_mode, never
  // outside, so a weight made there is modified only by code that runs under
  // inference_mode itself; the cache keys it by storage and view alone and cannot see
  // such a write. Replacing the tensor (a new Parameter, load_state_dict(assign=True))
  // gives it a new storage and a new entry.
  const bool inference = source.is_inference();
  uint32_t version = inference ? 0 : source.unsafeGetTensorImpl()->version_counter().current_version();
  DerivedKey key{source.storage().unsafeGetStorageImpl(), source.storage_offset(), source.sizes().vec(), source.strides().vec(),
                 static_cast<int>(source.scalar_type()), tag};
  {
    std::lock_guard<std::mutex> lock(derived_mutex_);
    auto it = derived_.find(key);
    if (it != derived_.end()) {
      const Derived& hit = it->second;
      if (!hit.storage.expired() && hit.inference == inference && hit.version == version) return hit.value;
      derived_.erase(it);
    }
  }
  at::Tensor value = make();
  std::lock_guard<std::mutex> lock(derived_mutex_);
  for (auto it = derived_.begin(); it != derived_.end();) {  // drop what belongs to freed weights
    it = it->second.storage.expired() ? derived_.erase(it) : std::next(it);
  }
  derived_.insert_or_assign(std::move(key), Derived{std::move(storage), inference, version, value});
  return value;
}

void Device::close() {
  std::lock_guard<std::mutex> lock(mutex_);
  open_ = false;
}

bool Device::isOpen() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return open_;
}

void Device::noteIntegerWrap(std::string what) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++integer_wraps_;
  last_integer_wrap_ = std::move(what);
}

uint64_t Device::integerWraps() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return integer_wraps_;
}

std::string Device::lastIntegerWrap() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return last_integer_wrap_;
}

void Device::checkOpen() const {
  if (!isOpen()) fail("device '", info_.name, "' is closed: open a new one with open_device()");
}

size_t Device::slot(fb::BufferType buffer) {
  auto index = static_cast<size_t>(buffer);
  if (index > 2) fail("unknown buffer type ", bufferName(buffer));
  return index;
}

uint64_t Device::budget(fb::BufferType buffer) const {
  switch (buffer) {
    case fb::BufferType::DRAM: return info_.dramBytes();
    case fb::BufferType::L1: return info_.l1Bytes();
    default: return UINT64_MAX;
  }
}

void Device::resetPeaks() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (size_t i = 0; i < 3; ++i) peak_[i] = in_use_[i];
}

uint64_t Device::bytesInUse(fb::BufferType buffer) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return in_use_[slot(buffer)];
}

uint64_t Device::peakBytes(fb::BufferType buffer) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return peak_[slot(buffer)];
}

void Device::checkFitsLocked(const TensorInfo& tensor, uint64_t bytes) const {
  uint64_t used = in_use_[slot(tensor.buffer)];
  uint64_t limit = budget(tensor.buffer);
  if (bytes > limit || used > limit - bytes) {
    fail("out of ", bufferName(tensor.buffer), " on device '", info_.name, "': tensor ", tensor.str(), " needs ",
         bytes, " bytes (padded to tiles), ", used, " of ", limit, " bytes are already in use; "
         "use a smaller batch or model, or a device with more memory");
  }
}

void Device::checkFits(const TensorInfo& tensor) const {
  if (!tensor.onDevice()) {
    // A host tensor comes from or goes to the device, so it cannot be larger than its DRAM.
    uint64_t bytes = static_cast<uint64_t>(tensor.numel()) * 4;
    if (bytes > info_.dramBytes()) {
      fail("host tensor ", tensor.str(), " (", bytes, " bytes) is larger than the DRAM of device '", info_.name, "' (",
           info_.dramBytes(), " bytes)");
    }
    return;
  }
  uint64_t bytes = static_cast<uint64_t>(tensor.paddedBytes());
  std::lock_guard<std::mutex> lock(mutex_);
  checkFitsLocked(tensor, bytes);
}

Device::Allocation Device::allocate(const TensorInfo& tensor) {
  if (!tensor.onDevice()) return {};
  uint64_t bytes = static_cast<uint64_t>(tensor.paddedBytes());
  std::lock_guard<std::mutex> lock(mutex_);
  checkFitsLocked(tensor, bytes);
  size_t i = slot(tensor.buffer);
  in_use_[i] += bytes;
  peak_[i] = std::max(peak_[i], in_use_[i]);
  return Allocation(this, tensor.buffer, bytes);
}

void Device::release(fb::BufferType buffer, uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  in_use_[slot(buffer)] -= bytes;
}

Device::Allocation& Device::Allocation::operator=(Allocation&& other) noexcept {
  if (this != &other) {
    reset();
    device_ = other.device_;
    buffer_ = other.buffer_;
    bytes_ = other.bytes_;
    other.device_ = nullptr;
    other.bytes_ = 0;
  }
  return *this;
}

void Device::Allocation::reset() {
  if (device_ != nullptr && bytes_ > 0) device_->release(buffer_, bytes_);
  device_ = nullptr;
  bytes_ = 0;
}

}  // namespace tt::runtime
