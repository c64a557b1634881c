#include "common.h"

#include <cstdio>

namespace tt::runtime {

namespace {

template <typename Enum>
std::string enumName(Enum value, const char* name) {
  if (name != nullptr && name[0] != '\0') return name;
  return cat("<invalid ", static_cast<int>(value), ">");
}

}  // namespace

std::string text(const char* data, size_t size) {
  std::string out;
  out.reserve(size);
  auto byte = [&](size_t i) { return static_cast<unsigned char>(data[i]); };
  for (size_t i = 0; i < size;) {
    unsigned char c = byte(i);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool valid = len > 0 && i + len <= size;
    for (size_t k = 1; valid && k < len; ++k) valid = (byte(i + k) & 0xC0) == 0x80;
    if (valid && len > 1) {  // reject overlong forms, surrogates and values past U+10FFFF
      uint32_t cp = c & (0x7F >> len);
      for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (byte(i + k) & 0x3F);
      const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
      valid = cp >= min[len] && cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF);
    }
    if (valid && (len > 1 || c >= 0x20 || c == '\n' || c == '\t')) {
      out.append(data + i, len);
      i += len;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
      i += 1;
    }
  }
  return out;
}

std::string text(const ::flatbuffers::String* s, const std::string& fallback) {
  return s == nullptr ? fallback : text(s->data(), s->size());
}

std::string shapeStr(at::IntArrayRef shape) {
  std::ostringstream out;
  out << "[";
  constexpr size_t kShown = 8;  // a corrupt file can declare thousands of dims: show the first few
  for (size_t i = 0; i < shape.size() && i < kShown; ++i) out << (i ? ", " : "") << shape[i];
  if (shape.size() > kShown) out << ", ... (" << shape.size() << " dims)";
  out << "]";
  return out.str();
}

std::string dtypeName(fb::DataType dtype) { return enumName(dtype, fb::EnumNameDataType(dtype)); }
std::string archName(fb::Arch arch) { return enumName(arch, fb::EnumNameArch(arch)); }
std::string layoutName(fb::TensorLayout layout) { return enumName(layout, fb::EnumNameTensorLayout(layout)); }
std::string bufferName(fb::BufferType buffer) { return enumName(buffer, fb::EnumNameBufferType(buffer)); }

bool isBlockFloat(fb::DataType dtype) {
  switch (dtype) {
    case fb::DataType::BFP_Float8:
    case fb::DataType::BFP_BFloat8:
    case fb::DataType::BFP_Float4:
    case fb::DataType::BFP_BFloat4:
    case fb::DataType::BFP_Float2:
    case fb::DataType::BFP_BFloat2:
      return true;
    default:
      return false;
  }
}

bool isFloat(fb::DataType dtype) {
  return dtype == fb::DataType::Float32 || dtype == fb::DataType::Float16 || dtype == fb::DataType::BFloat16 ||
         isBlockFloat(dtype);
}

bool isBlockFloatB(fb::DataType dtype) {
  return dtype == fb::DataType::BFP_BFloat8 || dtype == fb::DataType::BFP_BFloat4 ||
         dtype == fb::DataType::BFP_BFloat2;
}

at::ScalarType containerType(fb::DataType dtype) {
  switch (dtype) {
    case fb::DataType::Float32: return at::kFloat;
    case fb::DataType::BFloat16: return at::kBFloat16;
    case fb::DataType::Float16: return at::kHalf;
    case fb::DataType::Int32: return at::kInt;
    case fb::DataType::UInt8: return at::kByte;
    case fb::DataType::UInt16: return at::kInt;
    case fb::DataType::UInt32: return at::kLong;  // every uint32 value, unsigned
    // bfloat8_b/4_b/2_b unpack losslessly to bf16: their values live in bf16 containers.
    case fb::DataType::BFP_BFloat8:
    case fb::DataType::BFP_BFloat4:
    case fb::DataType::BFP_BFloat2: return at::kBFloat16;
    default: break;
  }
  if (isBlockFloat(dtype)) {
    fail("data type ", dtypeName(dtype), " (block float with a 5-bit exponent) is not supported by the emulated "
         "device; use BFP_BFloat8 (bfloat8_b), BFP_BFloat4 or BFP_BFloat2, or BFloat16");
  }
  fail("unknown data type ", dtypeName(dtype), " (corrupt binary?)");
}

at::ScalarType hostType(fb::DataType dtype) {
  switch (dtype) {
    case fb::DataType::UInt16: return at::kUInt16;
    case fb::DataType::UInt32: return at::kUInt32;
    default: return containerType(dtype);
  }
}

bool isIntegerType(fb::DataType dtype) {
  return dtype == fb::DataType::Int32 || dtype == fb::DataType::UInt32 || dtype == fb::DataType::UInt16 ||
         dtype == fb::DataType::UInt8;
}

int bitWidth(fb::DataType dtype) {
  switch (dtype) {
    case fb::DataType::Int32:
    case fb::DataType::UInt32: return 32;
    case fb::DataType::UInt16: return 16;
    case fb::DataType::UInt8: return 8;
    default: break;
  }
  fail("data type ", dtypeName(dtype), " is not an integer type");
}

bool isUnsigned(fb::DataType dtype) { return isIntegerType(dtype) && dtype != fb::DataType::Int32; }

int64_t elementBytes(fb::DataType dtype) {
  switch (dtype) {
    case fb::DataType::Float32:
    case fb::DataType::Int32:
    case fb::DataType::UInt32: return 4;
    case fb::DataType::BFloat16:
    case fb::DataType::Float16:
    case fb::DataType::UInt16: return 2;
    case fb::DataType::UInt8: return 1;
    default: break;
  }
  containerType(dtype);  // throws for unknown and unsupported types
  fail("data type ", dtypeName(dtype), " has no per-element size: block-float tensors are sized per 32x32 tile");
}

int64_t tileBytes(fb::DataType dtype) {
  switch (dtype) {
    case fb::DataType::BFP_BFloat8: return 64 + 1024;  // 64 shared exponents, then 1024 8-bit codes
    case fb::DataType::BFP_BFloat4: return 64 + 512;
    case fb::DataType::BFP_BFloat2: return 64 + 256;
    default: return 32 * 32 * elementBytes(dtype);
  }
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t TensorInfo::paddedBytes() const {
  if (isBlockFloatB(dtype) && layout != fb::TensorLayout::Tile) {
    fail("tensor ", str(), ": block-float data types exist only in TILE layout");
  }
  std::vector<int64_t> padded = shape;
  if (layout == fb::TensorLayout::Tile) {
    size_t rank = padded.size();
    for (size_t i = rank >= 2 ? rank - 2 : 0; i < rank; ++i) padded[i] = (padded[i] + 31) / 32 * 32;
    if (rank < 2) padded.insert(padded.begin(), 2 - rank, 32);  // a tile is never less than 32x32
    int64_t tiles = 1;
    for (int64_t d : padded) tiles *= d;
    return tiles / (32 * 32) * tileBytes(dtype);
  }
  int64_t n = 1;
  for (int64_t d : padded) n *= d;
  return n * elementBytes(dtype);
}

std::string TensorInfo::str() const {
  return cat("%", global_id, " ", shapeStr(shape), " ", dtypeName(dtype), " ", layoutName(layout), " ",
             bufferName(buffer));
}

const fb::TensorRef* need(const fb::TensorRef* ref, const char* field) {
  if (ref == nullptr) fail("missing tensor '", field, "'");
  return ref;
}

TensorInfo describe(const fb::TensorRef* ref, const char* field) {
  need(ref, field);
  TensorInfo info;
  info.global_id = ref->global_id();
  const fb::TensorDesc* desc = ref->desc();
  if (desc == nullptr || desc->shape() == nullptr || desc->layout() == nullptr) {
    fail("tensor '", field, "' (%", info.global_id, ") has no shape or layout");
  }
  info.shape = toVector(desc->shape());
  int64_t numel = 1;
  for (int64_t d : info.shape) {
    if (d < 0) fail("tensor '", field, "' (%", info.global_id, ") has a negative dimension: ", shapeStr(info.shape));
    if (__builtin_mul_overflow(numel, d, &numel) || numel > (int64_t{1} << 48)) {
      fail("tensor '", field, "' (%", info.global_id, ") is impossibly large: ", shapeStr(info.shape));
    }
  }
  info.dtype = desc->layout()->data_type();
  info.layout = desc->layout()->layout();
  if (const fb::MemoryConfig* memory = desc->layout()->memory_config()) info.buffer = memory->buffer_type();
  if (info.layout != fb::TensorLayout::RowMajor && info.layout != fb::TensorLayout::Tile) {
    fail("tensor '", field, "' (%", info.global_id, ") has an unknown layout ", layoutName(info.layout));
  }
  if (info.buffer > fb::BufferType::MAX) {
    fail("tensor '", field, "' (%", info.global_id, ") has an unknown buffer type ", bufferName(info.buffer));
  }
  return info;
}

}  // namespace tt::runtime
