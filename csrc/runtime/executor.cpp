#include "executor.h"

#include <c10/core/GradMode.h>

#include <array>
#include <memory>
#include <chrono>
#include <utility>

#include "context.h"
#include "kernels.h"

namespace tt::runtime {

namespace {

using Kernel = void (*)(const ttnn::Operation& op, ProgramContext& ctx);

template <typename Op>
void invoke(const ttnn::Operation& op, ProgramContext& ctx) {
  kernels::run(*op.type_as<Op>(), ctx);
}

// A collective runs once for the whole mesh (with chip 0's context, whose peers are the
// other chips); every other kernel runs once per chip on that chip's tensors.
struct KernelEntry {
  ttnn::OpType type;
  Kernel kernel;
  bool collective;
};

template <typename Op, bool Collective = false>
constexpr KernelEntry entry() {
  return {ttnn::OpTypeTraits<Op>::enum_value, &invoke<Op>, Collective};
}

// The one dispatch table from op type to kernel.
constexpr std::array kKernels = {
    entry<ttnn::EltwiseUnaryOp>(),   entry<ttnn::EltwiseBinaryOp>(),  entry<ttnn::EltwiseTernaryOp>(),
    entry<ttnn::MatmulOp>(),         entry<ttnn::LinearOp>(),         entry<ttnn::Conv2dOp>(),
    entry<ttnn::Pool2dOp>(),         entry<ttnn::ReductionOp>(),      entry<ttnn::ReshapeOp>(),
    entry<ttnn::PermuteOp>(),        entry<ttnn::SliceOp>(),          entry<ttnn::ConcatOp>(),
    entry<ttnn::RepeatOp>(),         entry<ttnn::PadOp>(),            entry<ttnn::EmbeddingOp>(),
    entry<ttnn::ToDeviceOp>(),       entry<ttnn::FromDeviceOp>(),     entry<ttnn::ToLayoutOp>(),
    entry<ttnn::TypecastOp>(),       entry<ttnn::ToMemoryConfigOp>(), entry<ttnn::DeallocateOp>(),
    entry<ttnn::ConstantOp>(),       entry<ttnn::FullOp>(),           entry<ttnn::ArangeOp>(),
    entry<ttnn::SoftmaxOp>(),       entry<ttnn::LayerNormOp>(),      entry<ttnn::RmsNormOp>(),
    entry<ttnn::ScaledDotProductAttentionOp>(), entry<ttnn::ScatterOp>(),
    entry<ttnn::SortOp>(),          entry<ttnn::UpdateCacheOp>(),
    entry<ttnn::MeshShardOp, true>(), entry<ttnn::AllGatherOp, true>(), entry<ttnn::AllReduceOp, true>(),
    entry<ttnn::ReduceScatterOp, true>(),
};

// The table by op type (one lookup per op of every call instead of a scan of kKernels).
const KernelEntry* entryFor(ttnn::OpType type) {
  static const std::array<const KernelEntry*, 256> byType = [] {
    std::array<const KernelEntry*, 256> table{};
    for (const KernelEntry& e : kKernels) table[static_cast<uint8_t>(e.type)] = &e;
    return table;
  }();
  return byType[static_cast<uint8_t>(type)];
}

Kernel kernelFor(ttnn::OpType type) {
  const KernelEntry* e = entryFor(type);
  return e ? e->kernel : nullptr;
}

bool isCollective(const ttnn::Operation* op) {
  const KernelEntry* e = op ? entryFor(op->type_type()) : nullptr;
  return e != nullptr && e->collective;
}

// The kind within an op family ("Add" for an EltwiseBinaryOp), to lead error messages.
template <typename Op, typename Kind>
std::string kindOf(const ttnn::Operation& op, const char* (*name)(Kind)) {
  const Op* typed = op.type_as<Op>();
  return typed ? name(typed->type()) : "";
}

std::string opKind(const ttnn::Operation& op) {
  switch (op.type_type()) {
    case ttnn::OpType::EltwiseUnaryOp: return kindOf<ttnn::EltwiseUnaryOp>(op, ttnn::EnumNameEltwiseUnaryOpType);
    case ttnn::OpType::EltwiseBinaryOp: return kindOf<ttnn::EltwiseBinaryOp>(op, ttnn::EnumNameEltwiseBinaryOpType);
    case ttnn::OpType::EltwiseTernaryOp: return kindOf<ttnn::EltwiseTernaryOp>(op, ttnn::EnumNameEltwiseTernaryOpType);
    case ttnn::OpType::Pool2dOp: return kindOf<ttnn::Pool2dOp>(op, ttnn::EnumNamePool2dType);
    case ttnn::OpType::ReductionOp: return kindOf<ttnn::ReductionOp>(op, ttnn::EnumNameReductionOpType);
    default: return "";
  }
}

const char* torchDtypeName(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return "torch.float32";
    case at::kBFloat16: return "torch.bfloat16";
    case at::kHalf: return "torch.float16";
    case at::kInt: return "torch.int32";
    case at::kByte: return "torch.uint8";
    case at::kLong: return "torch.int64";
    case at::kUInt16: return "torch.uint16";
    case at::kUInt32: return "torch.uint32";
    case at::kDouble: return "torch.float64";
    case at::kBool: return "torch.bool";
    default: return c10::toString(type);
  }
}

// Runs `step`; the text of the error it throws (libtorch's without its backtrace), or
// nothing when it succeeds: the caller rethrows it with what failed and where.
template <typename Step>
std::optional<std::string> failureOf(Step&& step) {
  try {
    step();
    return std::nullopt;
  } catch (const c10::Error& e) {
    return std::string(e.what_without_backtrace());
  } catch (const std::exception& e) {
    return std::string(e.what());
  }
}

std::string programLabel(const ttnn::Program& program, size_t index) {
  return cat("program ", index, program.name() ? cat(" ('", text(program.name()), "')") : std::string());
}

void checkArch(const Device& device, const Binary& binary) {
  if (!binary.hasArch() || binary.arch() == device.arch()) return;
  std::string target = binary.systemDescName();
  fail("the binary was compiled for ", archName(binary.arch()), target.empty() ? "" : cat(" (system '", target, "')"),
       " but device '", device.name(), "' is ", archName(device.arch()), ": open a ",
       target.empty() ? archName(binary.arch()) : cat("'", target, "'"), " device, or recompile the model for '",
       device.name(), "'");
}

// A shape without its size-1 dimensions: a prepared weight may arrive as [N] for [1, N].
std::vector<int64_t> withoutOnes(at::IntArrayRef shape) {
  std::vector<int64_t> out;
  for (int64_t d : shape) {
    if (d != 1) out.push_back(d);
  }
  return out;
}

// Validates `inputs` against the program's input descriptions and stores them in the pool.
void bindInputs(ProgramContext& ctx, const ttnn::Program& program, size_t index,
                const std::vector<at::Tensor>& inputs) {
  size_t expected = program.inputs() ? program.inputs()->size() : 0;
  if (inputs.size() != expected) {
    std::string names;
    for (size_t i = 0; i < expected; ++i) {
      const ttnn::ProgramArg* arg = program.inputs()->Get(i);
      names += cat(i ? ", " : "", arg ? text(arg->name(), cat("#", i)) : cat("#", i));
    }
    std::string listed = expected ? cat(" (", names, ")") : "";
    fail(programLabel(program, index), " takes ", expected, " input(s)", listed, ", got ", inputs.size());
  }
  for (size_t i = 0; i < expected; ++i) {
    const ttnn::ProgramArg* arg = program.inputs()->Get(i);
    if (arg == nullptr || arg->ref() == nullptr) {
      fail("input ", i, " of ", programLabel(program, index), " has no description");
    }
    TensorInfo info = describe(arg->ref(), "input");
    at::ScalarType dtype = hostType(info.dtype);
    const at::Tensor& given = inputs[i];
    info.persistent = arg->arg_type() != fb::ArgumentType::Input;
    // A weight described on the device enters prepared (the compiler folded its to_device,
    // to_layout and a reshape that only adds or drops size-1 dimensions into the argument):
    // a host tensor of the described shape, size-1 dimensions aside, viewed in that shape.
    // A user input always comes from the host as described.
    const bool prepared = info.onDevice() && info.persistent;
    if (info.onDevice() && !prepared) {
      fail("input ", i, " ('", text(arg->name()), "') is described as a device tensor; program inputs live on the host");
    }
    const bool shape_ok = given.defined() && (given.sizes() == at::IntArrayRef(info.shape) ||
                                              (prepared && withoutOnes(given.sizes()) == withoutOnes(info.shape)));
    if (!shape_ok || given.scalar_type() != dtype) {
      std::string got =
          given.defined() ? cat(shapeStr(given.sizes()), " ", torchDtypeName(given.scalar_type())) : "None";
      fail("input ", i, " ('", text(arg->name()), "') of ", programLabel(program, index), ": expected ",
           shapeStr(info.shape), prepared ? " (size-1 dimensions aside)" : "", " ",
           torchDtypeName(dtype), " (", dtypeName(info.dtype), "), got ", got);
    }
    at::Tensor value = given.device().is_cpu() ? given : given.cpu();
    if (prepared && value.sizes() != at::IntArrayRef(info.shape)) value = value.reshape(info.shape);
    if (!prepared) {
      ctx.set(info, std::move(value));
      continue;
    }
    // A prepared weight is placed on the device here, where its to_device op used to run: an
    // error (out of DRAM, say) names the argument as that op's did.
    if (auto reason = failureOf([&] { ctx.set(info, std::move(value)); })) {
      throw RuntimeError(cat("placing input ", i, " ('", text(arg->name()), "') of ", programLabel(program, index),
                             " on the device (a prepared weight) failed: ", *reason));
    }
  }
}

std::string locOf(const ttnn::Operation* op, size_t index) {
  return op->loc_info() && op->loc_info()->size() ? text(op->loc_info())
                                                  : cat("<unknown location> (op #", index, ")");
}

// Runs one op; returns the kernel's wall time in seconds when `timed` (debug hooks), else 0
// (two clock reads per op are a measurable part of a small program's call).
double runOp(ProgramContext& ctx, const ttnn::Operation* op, size_t index, bool timed = false) {
  if (op == nullptr) fail("operation #", index, " is missing (corrupt binary?)");
  Kernel kernel = kernelFor(op->type_type());
  double seconds = 0.0;
  auto reason = failureOf([&] {
    if (kernel == nullptr || op->type() == nullptr) {
      fail("no kernel for op type ", static_cast<int>(op->type_type()), " (corrupt binary, or a newer schema)");
    }
    ctx.setCurrentOp(op, index);
    if (!timed) {
      kernel(*op, ctx);
      return;
    }
    auto start = std::chrono::steady_clock::now();
    kernel(*op, ctx);
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  });
  if (!reason) return seconds;
  std::string kind = opKind(*op);
  std::string debug = op->debug_info() && op->debug_info()->size() ? cat("\n  op: ", text(op->debug_info())) : "";
  throw RuntimeError(cat("TTNN op ", opTypeName(op->type_type()), " at ", locOf(op, index), " failed: ",
                         kind.empty() ? "" : kind + ": ", *reason, debug));
}

void runHooked(ProgramContext& ctx, const ttnn::Operation* op, size_t program_index, size_t index,
               const Hooks& hooks) {
  if (op == nullptr) fail("operation #", index, " is missing (corrupt binary?)");
  OpEvent event;
  event.program_index = program_index;
  event.index = index;
  event.type = opTypeName(op->type_type());
  event.loc = locOf(op, index);
  event.debug = text(op->debug_info());
  if (hooks.pre_op) hooks.pre_op(event);
  ctx.clearLastSet();
  event.seconds = runOp(ctx, op, index, true);
  if (ctx.hasLastSet()) {
    if (const at::Tensor* out = ctx.find(ctx.lastSet())) event.output = *out;
  }
  if (hooks.post_op) hooks.post_op(event);
}

std::vector<at::Tensor> collectOutputs(ProgramContext& ctx, const ttnn::Program& program, size_t index) {
  std::vector<at::Tensor> outputs;
  size_t n = program.outputs() ? program.outputs()->size() : 0;
  for (size_t i = 0; i < n; ++i) {
    const fb::TensorRef* ref = program.outputs()->Get(i);
    const char* field = "output";  // an error names the tensor's id
    const TensorInfo& info = ctx.info(ref, field);
    if (info.onDevice()) {
      fail("output ", i, " (", info.str(), ") of ", programLabel(program, index),
           " is still on the device: a program must return host tensors (end with from_device)");
    }
    // A fresh contiguous host tensor that shares nothing with the pool or the inputs. A pool
    // value that already is one (contiguous, the only tensor of its whole storage, held by the
    // pool alone, not returned before) is returned as it is: the pool goes with the call.
    const at::Tensor& value = ctx.get(ref, field);
    at::ScalarType host = hostType(info.dtype);
    if (value.scalar_type() != host) {
      outputs.push_back(value.to(host).contiguous());
      continue;
    }
    bool owned = value.is_contiguous() && value.use_count() == 1 && value.storage().use_count() == 1 &&
                 value.storage_offset() == 0 && value.storage().nbytes() == value.nbytes();
    for (const at::Tensor& earlier : outputs) owned = owned && !earlier.is_same(value);
    outputs.push_back(owned ? value : value.clone(at::MemoryFormat::Contiguous));
  }
  return outputs;
}

}  // namespace

std::string opTypeName(ttnn::OpType type) {
  const char* name = ttnn::EnumNameOpType(type);
  return name && name[0] ? name : cat("<op type ", static_cast<int>(type), ">");
}

std::string describeOp(const ttnn::Operation* op, size_t index) {
  return cat(opTypeName(op->type_type()), " at ", locOf(op, index));
}

bool hasKernel(ttnn::OpType type) { return kernelFor(type) != nullptr; }

namespace {

// The logical mesh of a program ([1, 1]: one chip), checked against the device's chips.
std::vector<int64_t> programMesh(const Device& device, const ttnn::Program& program, size_t index) {
  std::vector<int64_t> mesh = toVector(program.mesh_shape());
  if (mesh.empty()) return {1, 1};
  if (mesh.size() != 2 || mesh[0] <= 0 || mesh[1] <= 0) {
    fail(programLabel(program, index), " has an invalid mesh shape ", shapeStr(mesh), " (corrupt binary?)");
  }
  int64_t chips = mesh[0] * mesh[1];
  if (chips > device.info().numChips()) {
    fail(programLabel(program, index), " is a tensor-parallel program for a mesh of ", shapeStr(mesh), " (", chips,
         " chips) but device '", device.name(), "' has ", device.info().numChips(), " chip(s) (mesh ",
         shapeStr(std::vector<int64_t>(device.info().mesh_shape.begin(), device.info().mesh_shape.end())),
         "): open a device with at least ", chips, " chips (e.g. the binary's own system: runtime.open_device(binary)),"
         " or recompile the model for this device");
  }
  return mesh;
}

}  // namespace

std::vector<at::Tensor> submit(Device& device, const Binary& binary, size_t program_index,
                               const std::vector<at::Tensor>& inputs, const Hooks& hooks) {
  c10::AutoGradMode no_grad(false);  // parameters may require grad; the device does not record autograd
  device.checkOpen();
  checkArch(device, binary);
  const ttnn::Program& program = binary.program(program_index);
  std::vector<int64_t> mesh = programMesh(device, program, program_index);
  const size_t chips = static_cast<size_t>(mesh[0] * mesh[1]);
  // The chips this process runs: all of them, unless the mesh spans processes.
  std::shared_ptr<const MeshTransport> transport = chips > 1 ? device.transport() : nullptr;
  const size_t first = transport ? transport->first_chip : 0;
  const size_t last = transport ? first + transport->local_chips : chips;
  if (transport && (transport->local_chips == 0 || chips % transport->local_chips != 0 || last > chips)) {
    fail(programLabel(program, program_index), " has a mesh of ", shapeStr(mesh), " (", chips,
         " chips), which does not split into processes of ", transport->local_chips, " chips with this one running chips ",
         first, "..", last - 1, ": initialize the distributed mesh with the program's mesh shape");
  }
  // One context per chip of the program's mesh (SPMD: every chip runs every op on its shard);
  // chips of other processes have none.
  std::vector<std::unique_ptr<ProgramContext>> owned;
  std::vector<ProgramContext*> contexts(chips, nullptr);
  for (size_t chip = first; chip < last; ++chip) {
    owned.push_back(std::make_unique<ProgramContext>(device.chip(chip)));
    contexts[chip] = owned.back().get();
  }
  for (size_t chip = first; chip < last; ++chip) {
    contexts[chip]->setMesh(&contexts, chip, mesh, transport.get());
    bindInputs(*contexts[chip], program, program_index, inputs);
  }
  if (program.operations()) {
    for (size_t i = 0; i < program.operations()->size(); ++i) {
      const ttnn::Operation* op = program.operations()->Get(i);
      const size_t runs_to = isCollective(op) ? first + 1 : last;
      for (size_t chip = first; chip < runs_to; ++chip) {
        // Debug hooks see the first chip, whose values are the program's (its outputs are returned).
        if (hooks.empty() || chip != first) {
          runOp(*contexts[chip], op, i);
        } else {
          runHooked(*contexts[chip], op, program_index, i, hooks);
        }
      }
    }
  }
  return collectOutputs(*contexts[first], program, program_index);
}

}  // namespace tt::runtime
