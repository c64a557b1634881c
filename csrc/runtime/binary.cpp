#include "binary.h"

#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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
  if (version->major() != schema::kVersionMajor || version->minor() != schema::kVersionMinor) {
    std::string file_version = cat(version->major(), ".", version->minor(), ".", version->patch());
    std::string ours = cat(schema::kVersionMajor, ".", schema::kVersionMinor, ".", schema::kVersionPatch);
    bool older = version->major() < schema::kVersionMajor ||
                 (version->major() == schema::kVersionMajor && version->minor() < schema::kVersionMinor);
    if (older) {
      binaryError(cat("built for schema version ", file_version, ", older than the ", ours,
                      " this runtime reads: re-export the model with this tt-torch (tt_torch.export(...)), "
                      "or read the file with the tt-torch release that wrote it"));
    }
    binaryError(cat("built for schema version ", file_version, ", newer than the ", ours,
                    " this runtime reads: upgrade tt-torch to run it, or re-export the model with this tt-torch"));
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
  try {
    RegularFile file(path, "tt-torch binary", kMaxBinaryBytes);
    std::vector<uint8_t> bytes = file.read(0, file.size());
    Binary binary = fromBytes(bytes.data(), bytes.size());
    size_t slash = path.find_last_of('/');
    binary.setBaseDir(slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash));
    return binary;
  } catch (const BinaryError& e) {
    if (std::string(e.what()).find(path) != std::string::npos) throw;
    binaryError(cat(path, ": ", e.what()));
  }
}

namespace {

const char* fileKind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

}  // namespace

RegularFile::RegularFile(const std::string& path, const std::string& what, uint64_t max_bytes)
    : path_(path), what_(what) {
  // O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting for one.
  fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd_ < 0) binaryError(cat("cannot open ", what, " '", path, "': ", std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    int err = errno;
    ::close(fd_);
    binaryError(cat("cannot read ", what, " '", path, "': ", std::strerror(err)));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    binaryError(cat(what, " '", path, "' is ", fileKind(st.st_mode), ", not a regular file: pass the file itself"));
  }
  size_ = static_cast<uint64_t>(st.st_size);
  if (size_ > max_bytes) {
    ::close(fd_);
    binaryError(cat(what, " '", path, "' has ", size_, " bytes, more than the ", max_bytes,
                    " it can have: it is not a tt-torch file, or it is corrupt"));
  }
}

RegularFile::~RegularFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::vector<uint8_t> RegularFile::read(uint64_t offset, uint64_t size) const {
  if (offset > size_ || size > size_ - offset) {
    binaryError(cat(what_, " '", path_, "' has ", size_, " bytes, too few for bytes [", offset, ", ", offset + size,
                    ")"));
  }
  std::vector<uint8_t> bytes(size);
  uint64_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd_, bytes.data() + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) binaryError(cat("cannot read ", what_, " '", path_, "': ", std::strerror(errno)));
    if (n == 0) binaryError(cat(what_, " '", path_, "' ended after ", offset + done, " bytes while being read"));
    done += static_cast<uint64_t>(n);
  }
  return bytes;
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

namespace tt::runtime {

uint32_t crc32(const uint8_t* data, size_t size, uint32_t crc) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

uint64_t tensorBytes(const TensorInfo& info, const std::string& what) {
  at::ScalarType type = hostType(info.dtype);
  int64_t numel = 1;
  for (int64_t d : info.shape) {
    if (d < 0 || (d > 0 && numel > (int64_t{1} << 40) / d)) binaryError(cat(what, " has an invalid shape ", shapeStr(info.shape)));
    numel *= d;
  }
  return uint64_t(numel) * c10::elementSize(type);
}

at::Tensor tensorFromBytes(const TensorInfo& info, const uint8_t* data, size_t size, const std::string& what) {
  uint64_t expected = tensorBytes(info, what);
  if (expected != size) {
    binaryError(cat(what, " holds ", size, " bytes but its shape ", shapeStr(info.shape), " and type ",
                    dtypeName(info.dtype), " need ", expected, " (corrupt binary?)"));
  }
  at::Tensor out = at::empty(info.shape, at::TensorOptions().dtype(hostType(info.dtype)));
  if (size) std::memcpy(out.data_ptr(), data, size);
  return out;
}

const ttnn::Weight* Binary::findWeight(const std::string& name) const {
  if (root_->weights() == nullptr) return nullptr;
  for (const ttnn::Weight* w : *root_->weights()) {
    if (w != nullptr && w->name() != nullptr && w->name()->str() == name) return w;
  }
  return nullptr;
}

bool Binary::hasWeight(const std::string& name) const { return findWeight(name) != nullptr; }

std::vector<std::string> Binary::weightNames() const {
  std::vector<std::string> names;
  if (root_->weights()) {
    for (const ttnn::Weight* w : *root_->weights()) {
      if (w) names.push_back(text(w->name()));
    }
  }
  return names;
}

at::Tensor Binary::weight(const std::string& name) const {
  const ttnn::Weight* w = findWeight(name);
  if (w == nullptr) {
    fail("the binary carries no weight '", name, "': either it was written without weights (export the model ",
         "with tt_torch.export(...) to get a self-contained .ttnn), or this value is computed by a const-eval ",
         "program of the file (run it with tt_torch.runtime.load, or export with consteval_programs=False)");
  }
  std::string what = cat("weight '", name, "'");
  if (w->desc() == nullptr) binaryError(cat(what, " has no tensor description (corrupt binary?)"));
  TensorInfo info;
  info.shape = toVector(w->desc()->shape());
  info.dtype = w->desc()->layout() ? w->desc()->layout()->data_type() : fb::DataType::Float32;
  if (w->file() == nullptr) {
    const auto* data = w->data();
    const uint8_t* bytes = data ? data->data() : nullptr;
    size_t size = data ? data->size() : 0;
    uint32_t crc = crc32(bytes, size);
    if (crc != w->crc32()) {
      binaryError(cat(what, ": checksum mismatch in its embedded bytes (CRC-32 ", crc, ", expected ", w->crc32(),
                      "): the file is corrupt; re-export the model"));
    }
    return tensorFromBytes(info, bytes, size, what);
  }
  std::lock_guard<std::mutex> lock(state_->mutex);
  auto cached = state_->weights.find(name);
  if (cached != state_->weights.end()) return cached->second;
  std::string file = text(w->file());
  if (file.empty() || file.find('/') != std::string::npos || file == "." || file == "..") {
    binaryError(cat(what, ": side file name '", file, "' is not a plain file name (corrupt binary?)"));
  }
  std::string path = (state_->base_dir.empty() ? std::string(".") : state_->base_dir) + "/" + file;
  // Its size must be the tensor's before anything is allocated: a corrupt size must not ask for terabytes.
  uint64_t expected = tensorBytes(info, what);
  if (w->size() != expected) {
    binaryError(cat(what, " is recorded as ", w->size(), " bytes of the side file '", path, "' but its shape ",
                    shapeStr(info.shape), " and type ", dtypeName(info.dtype), " need ", expected, " (corrupt binary?)"));
  }
  std::unique_ptr<RegularFile> in;
  try {
    in = std::make_unique<RegularFile>(path, "side file", UINT64_MAX);
  } catch (const BinaryError& e) {
    binaryError(cat(what, " lives in the side file '", path, "', which cannot be opened (", e.what(),
                    "): keep the file written by tt_torch.export next to the .ttnn"));
  }
  uint64_t file_size = in->size();
  if (w->offset() > file_size || w->size() > file_size - w->offset()) {
    binaryError(cat(what, ": the side file '", path, "' has ", file_size, " bytes, too few for bytes [", w->offset(),
                    ", ", w->offset() + w->size(), "): it is truncated or belongs to another export"));
  }
  std::vector<uint8_t> bytes = in->read(w->offset(), w->size());
  uint32_t crc = crc32(bytes.data(), bytes.size());
  if (crc != w->crc32()) {
    binaryError(cat(what, ": checksum mismatch in the side file '", path, "' (CRC-32 ", crc, ", expected ",
                    w->crc32(), "): it was modified or belongs to another export; re-export the model"));
  }
  at::Tensor tensor = tensorFromBytes(info, bytes.data(), bytes.size(), what);
  state_->weights.emplace(name, tensor);
  return tensor;
}

size_t Binary::numUserInputs(size_t program_index) const {
  const ttnn::Program& p = program(program_index);
  size_t n = 0;
  if (p.inputs()) {
    for (const ttnn::ProgramArg* arg : *p.inputs()) n += (arg == nullptr || arg->arg_type() == fb::ArgumentType::Input);
  }
  return n;
}

std::vector<at::Tensor> Binary::completeInputs(size_t program_index, const std::vector<at::Tensor>& user_inputs) const {
  const ttnn::Program& p = program(program_index);
  size_t expected = numUserInputs(program_index);
  if (user_inputs.size() != expected) {
    fail("program ", program_index, " ('", programName(program_index), "') takes ", expected,
         " user input(s) besides its weights, got ", user_inputs.size());
  }
  std::vector<at::Tensor> full;
  size_t next = 0;
  if (p.inputs()) {
    for (const ttnn::ProgramArg* arg : *p.inputs()) {
      if (arg == nullptr || arg->arg_type() == fb::ArgumentType::Input) {
        full.push_back(user_inputs[next++]);
      } else {
        full.push_back(weight(text(arg->name())));
      }
    }
  }
  return full;
}

std::vector<Binary::Golden> Binary::goldens() const {
  std::vector<Golden> out;
  if (root_->golden() == nullptr) return out;
  for (const ttnn::GoldenTensor* g : *root_->golden()) {
    if (g == nullptr || g->desc() == nullptr) binaryError("a golden tensor has no description (corrupt binary?)");
    TensorInfo info;
    info.shape = toVector(g->desc()->shape());
    info.dtype = g->desc()->layout() ? g->desc()->layout()->data_type() : fb::DataType::Float32;
    std::string key = text(g->key());
    const auto* data = g->data();
    out.push_back({key, g->program(),
                   tensorFromBytes(info, data ? data->data() : nullptr, data ? data->size() : 0,
                                   cat("golden tensor '", key, "'"))});
  }
  return out;
}

}  // namespace tt::runtime
