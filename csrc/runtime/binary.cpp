#include "binary.h"

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "ttnn/schema_info.h"

namespace tt::runtime {

namespace {

constexpr size_t kHeaderBytes = 12;  // size prefix, root offset, file identifier

[[noreturn]] void binaryError(const std::string& what) { throw BinaryError(what); }

// Bytes as text with everything unprintable escaped, e.g. "\x89PNG".
std::string printable(const uint8_t* bytes, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    if (std::isprint(bytes[i]) && bytes[i] != '\\' && bytes[i] != '\'') {
      out += static_cast<char>(bytes[i]);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", bytes[i]);
      out += buf;
    }
  }
  return out;
}

uint32_t readU32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;  // flatbuffers are little-endian, as is every host we build for
}

void checkHeader(const uint8_t* data, size_t size) {
  if (size == 0) binaryError("not a tt-torch binary: it is empty (0 bytes)");
  if (size < kHeaderBytes) {
    binaryError(cat("corrupt or truncated tt-torch binary: ", size, " bytes is shorter than the ", kHeaderBytes,
                    "-byte header"));
  }
  const uint8_t* identifier = data + 8;
  if (std::memcmp(identifier, schema::kFileIdentifier, 4) != 0) {
    std::string hint;
    if (std::memcmp(data + 4, schema::kFileIdentifier, 4) == 0) {
      hint = "; it looks like a flatbuffer written without the size prefix (use FinishSizePrefixed)";
    } else if (std::memcmp(identifier, "TTNN", 4) == 0) {
      hint = "; 'TTNN' is tt-mlir's own format, which this runtime does not read";
    }
    binaryError(cat("not a tt-torch binary (file identifier is '", printable(identifier, 4), "', expected '",
                    schema::kFileIdentifier, "')", hint));
  }
  uint64_t declared = uint64_t{readU32(data)} + 4;
  if (declared > size) {
    binaryError(cat("corrupt or truncated tt-torch binary: its header says ", declared, " bytes but there are only ",
                    size));
  }
  if (declared < size) {
    binaryError(cat("corrupt tt-torch binary: ", size - declared, " unexpected bytes after the ", declared,
                    "-byte binary"));
  }
}

void checkIdentity(const ttnn::Binary* root) {
  const fb::Version* version = root->version();
  if (version == nullptr || root->schema_hash() == nullptr) {
    binaryError("corrupt tt-torch binary: it has no schema version or schema hash");
  }
  if (version->major() != schema::kVersionMajor) {
    binaryError(cat("built for schema version ", version->major(), ".", version->minor(), ".", version->patch(),
                    ", this runtime reads ", schema::kVersionMajor, ".", schema::kVersionMinor, ".",
                    schema::kVersionPatch, ": recompile the model"));
  }
  std::string hash = text(root->schema_hash());
  if (hash != schema::kHash) {
    binaryError(cat("built for schema ", hash,
                    ", this runtime reads ", schema::kHash, ": recompile the model"));
  }
}

}  // namespace

Binary Binary::fromBytes(const void* data, size_t size) {
  auto bytes = std::make_shared<std::vector<uint8_t>>(static_cast<const uint8_t*>(data),
                                                      static_cast<const uint8_t*>(data) + size);
  checkHeader(bytes->data(), bytes->size());
  ::flatbuffers::Verifier::Options options;
  options.max_tables = 100'000'000;  // a large model has millions of tables; depth stays small
  ::flatbuffers::Verifier verifier(bytes->data(), bytes->size(), options);
  if (!ttnn::VerifySizePrefixedBinaryBuffer(verifier)) {
    binaryError("corrupt or truncated tt-torch binary: its flatbuffer structure does not verify");
  }
  const ttnn::Binary* root = ttnn::GetSizePrefixedBinary(bytes->data());
  checkIdentity(root);
  return Binary(std::move(bytes), root);
}

Binary Binary::fromFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) binaryError(cat("cannot open tt-torch binary '", path, "': ", std::strerror(errno)));
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (file.bad()) binaryError(cat("cannot read tt-torch binary '", path, "'"));
  try {
    return fromBytes(bytes.data(), bytes.size());
  } catch (const BinaryError& e) {
    binaryError(cat(path, ": ", e.what()));
  }
}

size_t Binary::numPrograms() const { return root_->programs() ? root_->programs()->size() : 0; }

const ttnn::Program& Binary::program(size_t index) const {
  size_t n = numPrograms();
  if (index >= n) {
    std::string names;
    for (size_t i = 0; i < n; ++i) names += cat(i ? ", " : "", i, ": '", programName(i), "'");
    fail("program index ", index, " is out of range: the binary has ", n, " program(s)",
         n ? cat(" (", names, ")") : std::string());
  }
  const ttnn::Program* program = root_->programs()->Get(index);
  if (program == nullptr) fail("program ", index, " is missing from the binary (corrupt binary?)");
  return *program;
}

std::string Binary::programName(size_t index) const {
  const ttnn::Program* program = index < numPrograms() ? root_->programs()->Get(index) : nullptr;
  if (program == nullptr) return "";
  return text(program->name(), cat("program_", index));
}

std::string Binary::systemDescName() const {
  const fb::SystemDesc* desc = systemDesc();
  return desc ? text(desc->name()) : "";
}

bool Binary::hasArch() const {
  const fb::SystemDesc* desc = systemDesc();
  return desc && desc->chip_descs() && desc->chip_descs()->size() > 0 && desc->chip_descs()->Get(0) != nullptr;
}

fb::Arch Binary::arch() const {
  if (!hasArch()) fail("the binary has no system description, so its target arch is unknown");
  return systemDesc()->chip_descs()->Get(0)->arch();
}

std::string Binary::schemaHash() const { return text(root_->schema_hash()); }

}  // namespace tt::runtime
