// Shared vocabulary of the runtime: error types, message formatting, and the
// mapping from schema data types and tensor descriptions to ATen containers.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "ttnn/binary_generated.h"

namespace tt::runtime {

namespace fb = ::tt::target;
namespace ttnn = ::tt::target::ttnn;

// A .ttnn file is not a valid tt-torch binary for this runtime.
class BinaryError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A device, program, input or op failed while running.
class RuntimeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// cat("a", 1, "b") == "a1b": every message in the runtime is built with this.
template <typename... Args>
std::string cat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

template <typename... Args>
[[noreturn]] void fail(const Args&... args) {
  throw RuntimeError(cat(args...));
}

// A string of the binary as valid UTF-8 (invalid bytes escaped as \xNN), or
// `fallback` when absent. Strings of a corrupt file reach error messages and Python.
std::string text(const ::flatbuffers::String* s, const std::string& fallback = "");
std::string text(const char* data, size_t size);

// "[2, 3, 4]"
std::string shapeStr(at::IntArrayRef shape);

// Names of schema enums, with the numeric value for out-of-range ones (a corrupt file).
std::string dtypeName(fb::DataType dtype);
std::string archName(fb::Arch arch);
std::string layoutName(fb::TensorLayout layout);
std::string bufferName(fb::BufferType buffer);

bool isBlockFloat(fb::DataType dtype);
// The block-float formats with an 8-bit shared exponent (bfloat8_b, bfloat4_b, bfloat2_b),
// the ones the emulated device supports.
bool isBlockFloatB(fb::DataType dtype);
bool isFloat(fb::DataType dtype);

// The ATen type that holds a tensor of `dtype` on the device (UInt16 lives in int32 and
// UInt32 in int64, both as their unsigned values; bfloat8_b/4_b/2_b in bf16, which holds
// their values exactly). Throws for the block-float formats with a 5-bit exponent, which
// are not emulated.
at::ScalarType containerType(fb::DataType dtype);
// The ATen type of a host tensor of `dtype`, whose bytes are exactly its serialized
// elements: program inputs and outputs, constants and weights (uint16 and uint32 for
// UInt16 and UInt32, else the container type).
at::ScalarType hostType(fb::DataType dtype);

// The integer data types (Int32, UInt32, UInt16, UInt8): their width in bits, and
// whether they are unsigned. Bitwise and shift kernels work on these bit patterns.
bool isIntegerType(fb::DataType dtype);
int bitWidth(fb::DataType dtype);
bool isUnsigned(fb::DataType dtype);

// Bytes one element takes on the device (block-float types throw: see tileBytes).
int64_t elementBytes(fb::DataType dtype);
// Bytes of one 32x32 tile: 1088 / 576 / 320 for bfloat8_b / 4_b / 2_b (64 exponent
// bytes, then the codes), 32*32*elementBytes otherwise.
int64_t tileBytes(fb::DataType dtype);

// Everything the runtime needs from a TensorRef, checked: a corrupt or incomplete
// reference is an error here rather than a null dereference in a kernel.
struct TensorInfo {
  uint32_t global_id = 0;
  std::vector<int64_t> shape;
  fb::DataType dtype = fb::DataType::Float32;
  fb::TensorLayout layout = fb::TensorLayout::RowMajor;
  fb::BufferType buffer = fb::BufferType::SystemMemory;
  // The value is a program argument that persists across runs (a parameter or a
  // constant), or a layout/placement change of one: kernels may cache work derived
  // from it (see Device::derived).
  bool persistent = false;

  bool onDevice() const { return buffer != fb::BufferType::SystemMemory; }
  int64_t numel() const;
  // Bytes on the device: TILE pads the last two dims to multiples of 32.
  int64_t paddedBytes() const;
  // "%3 [2, 3] BFloat16 Tile DRAM"
  std::string str() const;
};

TensorInfo describe(const fb::TensorRef* ref, const char* field = "tensor");

// `ref` itself, or an error naming the missing field.
const fb::TensorRef* need(const fb::TensorRef* ref, const char* field);

// The elements of a flatbuffer vector (an absent vector is empty).
template <typename T>
std::vector<int64_t> toVector(const ::flatbuffers::Vector<T>* values) {
  std::vector<int64_t> out;
  if (values != nullptr) out.assign(values->begin(), values->end());
  return out;
}

}  // namespace tt::runtime
