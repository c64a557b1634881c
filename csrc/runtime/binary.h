// A loaded, verified .ttnn binary. Loading never trusts the bytes: identifier,
// size, flatbuffer structure, schema version and schema hash are all checked and
// every failure is a BinaryError that says what is wrong.
#pragma once

#include <cstdint>
#include <memory>
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

 private:
  Binary(std::shared_ptr<const std::vector<uint8_t>> data, const ttnn::Binary* root)
      : data_(std::move(data)), root_(root) {}

  std::shared_ptr<const std::vector<uint8_t>> data_;
  const ttnn::Binary* root_;
};

}  // namespace tt::runtime
