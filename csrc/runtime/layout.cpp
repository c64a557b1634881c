// Moves between host and device, layout, data type and memory config changes.
// Layout and padding are bookkeeping: the value is never physically padded or
// tiled; what changes is where it is accounted and at what size.
#include "kernels.h"

namespace tt::runtime::kernels {

namespace {

bool declaresMemory(const fb::TensorRef* out) { return out->desc()->layout()->memory_config() != nullptr; }

void expectSame(const char* what, const std::string& op_value, const std::string& out_value) {
  if (op_value != out_value) fail("the op sets ", what, " ", op_value, " but its output is declared as ", out_value);
}

// Stores `value` converted to info's data type; the conversion of a persistent tensor
// (a weight cast to bfloat8_b, say) is done once and cached on the device.
void setConverted(ProgramContext& ctx, const TensorInfo& info, const TensorInfo& in, const at::Tensor& value) {
  if (!info.persistent || info.dtype == in.dtype) {
    ctx.set(info, value);
    return;
  }
  Numerics numerics = ctx.device().numerics();
  std::string tag = cat("as ", dtypeName(info.dtype), " ", numericsName(numerics));
  ctx.set(info, ctx.device().derived(value, tag, [&] { return toContainer(value, info.dtype, numerics); }), true);
}

}  // namespace

void run(const ttnn::ToDeviceOp& op, ProgramContext& ctx) {
  TensorInfo info = describe(op.out(), "out");
  const fb::MemoryConfig* memory = op.memory_config();
  if (!declaresMemory(op.out())) info.buffer = memory ? memory->buffer_type() : fb::BufferType::DRAM;
  if (!info.onDevice()) fail("to_device must place its output in DRAM or L1, not ", bufferName(info.buffer));
  if (ctx.info(op.in(), "in").onDevice()) fail("the input of to_device is already on the device");
  info.persistent = ctx.info(op.in(), "in").persistent;
  ctx.set(info, ctx.get(op.in(), "in"));
}

void run(const ttnn::FromDeviceOp& op, ProgramContext& ctx) {
  TensorInfo info = describe(op.out(), "out");
  info.buffer = fb::BufferType::SystemMemory;
  if (!ctx.info(op.in(), "in").onDevice()) fail("the input of from_device is not on the device");
  ctx.set(info, ctx.get(op.in(), "in"));
}

void run(const ttnn::ToLayoutOp& op, ProgramContext& ctx) {
  TensorInfo info = describe(op.out(), "out");
  expectSame("layout", layoutName(op.layout()), layoutName(info.layout));
  expectSame("data type", dtypeName(op.dtype()), dtypeName(info.dtype));
  const TensorInfo& in = ctx.info(op.in(), "in");
  if (op.memory_config() != nullptr) {
    info.buffer = op.memory_config()->buffer_type();
  } else if (!declaresMemory(op.out())) {
    info.buffer = in.buffer;  // absent everywhere: keep the input's
  }
  info.persistent = in.persistent;
  setConverted(ctx, info, in, ctx.get(op.in(), "in"));
}

void run(const ttnn::TypecastOp& op, ProgramContext& ctx) {
  TensorInfo info = describe(op.out(), "out");
  expectSame("data type", dtypeName(op.dtype()), dtypeName(info.dtype));
  const TensorInfo& in = ctx.info(op.in(), "in");
  info.persistent = in.persistent;
  setConverted(ctx, info, in, ctx.get(op.in(), "in"));
}

void run(const ttnn::ToMemoryConfigOp& op, ProgramContext& ctx) {
  TensorInfo info = describe(op.out(), "out");
  if (op.memory_config() == nullptr) fail("missing memory_config");
  info.buffer = op.memory_config()->buffer_type();
  if (!info.onDevice()) fail("to_memory_config moves tensors within the device; use from_device to reach the host");
  info.persistent = ctx.info(op.in(), "in").persistent;
  ctx.set(info, ctx.get(op.in(), "in"));
}

void run(const ttnn::DeallocateOp& op, ProgramContext& ctx) { ctx.erase(op.in(), "in"); }

}  // namespace tt::runtime::kernels
