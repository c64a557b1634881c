// A loaded, verified .ttnn binary. Loading never trusts the bytes: identifier,
// size, flatbuffer structure, schema version and schema hash are all checked and
// every failure is a BinaryError that says what is wrong.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common.h"

namespace tt::runtime {

class Binary {
 public:
  static Binary fromBytes(const void* data, size_t size);
  static Binary fromFile(const std::string& path);

  const ttnn::Binary& root() const { return *root_; }
  size_t numPrograms() const;
  // The program at `index`, or a RuntimeError naming the programs there are.
  const ttnn::Program& program(size_t index) const;
  std::string programName(size_t index) const;
  // The system the binary was compiled for (may be absent in hand-made binaries).
  const fb::SystemDesc* systemDesc() const { return root_->system_desc(); }
  std::string systemDescName() const;
  // Arch of the first chip of the system desc; throws if the binary has none.
  fb::Arch arch() const;
  bool hasArch() const;
  std::string schemaHash() const;
  std::vector<uint8_t> const& bytes() const { return *data_; }

  // The directory side files (large weights) are read from: the .ttnn's own
  // directory when loaded from a file, the current directory (or as set) otherwise.
  const std::string& baseDir() const { return state_->base_dir; }
  void setBaseDir(const std::string& dir) { state_->base_dir = dir; }

  // Weights carried by the binary (since schema 0.2.0), for the program arguments
  // that are not user inputs.
  bool hasWeight(const std::string& name) const;
  std::vector<std::string> weightNames() const;
  // The weight as a host tensor: embedded bytes, or its side file, read once,
  // size- and CRC-32-checked (a BinaryError says which file and what to do).
  at::Tensor weight(const std::string& name) const;
  // The full input list of a program: `user_inputs` for its Input arguments, in
  // order, and the binary's weights for its Parameter and Constant arguments.
  std::vector<at::Tensor> completeInputs(size_t program_index, const std::vector<at::Tensor>& user_inputs) const;
  // How many of the program's arguments are user inputs.
  size_t numUserInputs(size_t program_index) const;

  struct Golden {
    std::string key;  // "input:<i>", "output:<i>", "op:<location>"
    uint32_t program;
    at::Tensor tensor;
  };
  std::vector<Golden> goldens() const;
  std::string exportInfo() const { return text(root_->export_info()); }

 private:
  struct State {
    std::string base_dir;
    std::mutex mutex;
    std::map<std::string, at::Tensor> weights;  // loaded side-file weights
  };
  Binary(std::shared_ptr<const std::vector<uint8_t>> data, const ttnn::Binary* root)
      : data_(std::move(data)), root_(root), state_(std::make_shared<State>()) {}
  const ttnn::Weight* findWeight(const std::string& name) const;

  std::shared_ptr<const std::vector<uint8_t>> data_;
  const ttnn::Binary* root_;
  std::shared_ptr<State> state_;
};

// A host tensor of `info`'s shape and container type from raw little-endian bytes;
// `what` names the tensor in the error when the byte count does not match.
at::Tensor tensorFromBytes(const TensorInfo& info, const uint8_t* data, size_t size, const std::string& what);

// The byte count a tensor of `info` needs; BinaryError naming `what` for an invalid or absurd shape.
uint64_t tensorBytes(const TensorInfo& info, const std::string& what);

// A file opened for reading only if it is a regular file of at most `max_bytes` (never blocks on
// a FIFO; a directory, device, socket or oversized file is a BinaryError naming `what` and `path`).
class RegularFile {
 public:
  RegularFile(const std::string& path, const std::string& what, uint64_t max_bytes);
  ~RegularFile();
  RegularFile(const RegularFile&) = delete;
  RegularFile& operator=(const RegularFile&) = delete;
  uint64_t size() const { return size_; }
  // `size` bytes from `offset` (which must lie inside the file).
  std::vector<uint8_t> read(uint64_t offset, uint64_t size) const;

 private:
  std::string path_, what_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// A flatbuffer cannot exceed 2 GiB (32-bit offsets), plus its 4-byte size prefix.
constexpr uint64_t kMaxBinaryBytes = (uint64_t{1} << 31) + 4;

// zlib's CRC-32 (the checksum of side-file weights).
uint32_t crc32(const uint8_t* data, size_t size, uint32_t crc = 0);

}  // namespace tt::runtime
