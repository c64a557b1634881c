// One run() per op table of the schema, implemented in one file per op family
// (eltwise.cpp, matmul.cpp, attention.cpp, conv.cpp, reduction.cpp, data_movement.cpp, layout.cpp,
// creation.cpp). Each reads its operands from the context, computes with ATen on
// the host and stores its output through ProgramContext::set.
#pragma once

#include "common.h"
#include "context.h"
#include "numerics.h"

namespace tt::runtime::kernels {

// eltwise.cpp
void run(const ttnn::EltwiseUnaryOp& op, ProgramContext& ctx);
void run(const ttnn::EltwiseBinaryOp& op, ProgramContext& ctx);
void run(const ttnn::EltwiseTernaryOp& op, ProgramContext& ctx);
// matmul.cpp
void run(const ttnn::MatmulOp& op, ProgramContext& ctx);
void run(const ttnn::LinearOp& op, ProgramContext& ctx);
// attention.cpp
void run(const ttnn::ScaledDotProductAttentionOp& op, ProgramContext& ctx);
// conv.cpp
void run(const ttnn::Conv2dOp& op, ProgramContext& ctx);
void run(const ttnn::Pool2dOp& op, ProgramContext& ctx);
// reduction.cpp
void run(const ttnn::ReductionOp& op, ProgramContext& ctx);
void run(const ttnn::SoftmaxOp& op, ProgramContext& ctx);
void run(const ttnn::LayerNormOp& op, ProgramContext& ctx);
void run(const ttnn::RmsNormOp& op, ProgramContext& ctx);
// data_movement.cpp
void run(const ttnn::ReshapeOp& op, ProgramContext& ctx);
void run(const ttnn::PermuteOp& op, ProgramContext& ctx);
void run(const ttnn::SliceOp& op, ProgramContext& ctx);
void run(const ttnn::ConcatOp& op, ProgramContext& ctx);
void run(const ttnn::RepeatOp& op, ProgramContext& ctx);
void run(const ttnn::PadOp& op, ProgramContext& ctx);
void run(const ttnn::EmbeddingOp& op, ProgramContext& ctx);
void run(const ttnn::ScatterOp& op, ProgramContext& ctx);
void run(const ttnn::SortOp& op, ProgramContext& ctx);
void run(const ttnn::UpdateCacheOp& op, ProgramContext& ctx);
// ccl.cpp: collectives, called once per op for the whole mesh (chip 0's context)
void run(const ttnn::MeshShardOp& op, ProgramContext& ctx);
void run(const ttnn::AllGatherOp& op, ProgramContext& ctx);
void run(const ttnn::AllReduceOp& op, ProgramContext& ctx);
void run(const ttnn::ReduceScatterOp& op, ProgramContext& ctx);
// layout.cpp
void run(const ttnn::ToDeviceOp& op, ProgramContext& ctx);
void run(const ttnn::FromDeviceOp& op, ProgramContext& ctx);
void run(const ttnn::ToLayoutOp& op, ProgramContext& ctx);
void run(const ttnn::TypecastOp& op, ProgramContext& ctx);
void run(const ttnn::ToMemoryConfigOp& op, ProgramContext& ctx);
void run(const ttnn::DeallocateOp& op, ProgramContext& ctx);
// creation.cpp
void run(const ttnn::ConstantOp& op, ProgramContext& ctx);
void run(const ttnn::FullOp& op, ProgramContext& ctx);
void run(const ttnn::ArangeOp& op, ProgramContext& ctx);

// Helpers shared by the kernels.

// Float math runs in fp32 whatever the stored format; the result is rounded to
// the output's format by ProgramContext::set.
inline at::Tensor f32(const at::Tensor& t) { return t.to(at::kFloat); }
inline bool isInt(const at::Tensor& t) { return !at::isFloatingType(t.scalar_type()); }
// Integer operands in int32 (uint8 operands are widened).
inline at::Tensor i32(const at::Tensor& t) { return t.to(at::kInt); }
// Integer arithmetic runs in int64, exactly; ProgramContext::set checks that the result
// fits the int32 it is stored as (IntegerOverflow), so a result never wraps silently.
inline at::Tensor i64(const at::Tensor& t) { return t.to(at::kLong); }
// `exact`, an int64 result that is right whenever the true value fits 64 bits (int64 math
// is exact modulo 2**64), checked against `approx`, the same computed in double: a true
// value past 2**62 is an integer overflow (ProgramContext::integerOverflow), reported
// here since `exact` may have wrapped back into range; otherwise `exact`, whose int32
// range set() checks. For pow, prod and matmul; int32 operands cannot pass 64 bits in
// add, subtract, multiply or sum.
// `dtype`: the 32-bit integer type (Int32 or UInt32) the result is stored as.
at::Tensor checkedInt64(ProgramContext& ctx, const at::Tensor& exact, const at::Tensor& approx,
                        fb::DataType dtype = fb::DataType::Int32);

// A float operand of a matrix-unit op as its SrcA/SrcB register holds it (see
// numerics.h), truncated on demand; the truncations of persistent operands (weights)
// are cached on the device. In Fast mode the operand itself, in fp32.
struct RegisterOperand {
  at::Tensor value;           // the stored tensor
  at::ScalarType container;   // its container type
  bool persistent = false;
  Device* device = nullptr;
  at::Tensor operator()(int bits) const;
};
RegisterOperand registerOperand(ProgramContext& ctx, const fb::TensorRef* ref, const char* field);

// `op(src_a, src_b)` as the matrix unit computes it with `config` (fidelity phases; in
// 16-bit Dst mode the result is rounded to bf16), or plainly in fp32 in Fast mode.
at::Tensor matrixProduct(const RegisterOperand& src_a, const RegisterOperand& src_b, const MathConfig& config,
                         const std::function<at::Tensor(const at::Tensor&, const at::Tensor&)>& op);

// eltwise.cpp: the fused activation of a linear or conv2d, applied to its fp32 result.
at::Tensor activate(const at::Tensor& x, fb::Activation activation);
// The same on a fresh fp32 result the caller owns, in place: ATen's kernels, bit for bit,
// without a new tensor.
void activateInPlace(at::Tensor& x, fb::Activation activation);

// onednn.cpp: oneDNN's linear and convolution with the weight reordered once into the
// kernel's blocked layout. The caller caches the packed weight (Device::derived), so
// these are for persistent weights only; `available` says whether oneDNN takes the
// operands (fp32, CPU, and a libtorch built with oneDNN).
struct ConvParams {
  std::vector<int64_t> padding, stride, dilation;  // padding symmetric: [H, W]
  int64_t groups;
};
namespace onednn {
bool available(const at::Tensor& weight, const at::Tensor& input);
// Whether a product of `macs` multiply-adds is large enough for oneDNN: its kernels cost
// about 20 us more per call than ATen's BLAS path, which wins below (measured with
// benchmarks' MLP head, 64x512x10, and single-row linears).
inline bool worthIt(int64_t macs) { return macs >= (int64_t{1} << 22); }
at::Tensor packConvWeight(const at::Tensor& weight, const ConvParams& p, at::IntArrayRef input_size);
at::Tensor conv(const at::Tensor& x, const at::Tensor& packed, const std::optional<at::Tensor>& bias,
                const ConvParams& p, fb::Activation activation);
// conv(x) + bias + residual, then `activation`, in one kernel (oneDNN's binary-add post-op);
// `residual` is [N, C_out, OH, OW], best channels-last. oneDNN follows the sum with relu
// only: another activation is applied by ATen afterwards. `into_residual` (the residual is
// dead after the op): the result is written into the residual's own buffer where oneDNN's
// in-place form takes it (fp32, channels-last, not aliasing x), else into a fresh tensor.
at::Tensor convAdd(const at::Tensor& x, const at::Tensor& packed, const std::optional<at::Tensor>& bias,
                   const at::Tensor& residual, const ConvParams& p, fb::Activation activation,
                   bool into_residual = false);
// weight_nk: [N, K] (out_features, in_features); rows: the activation's rows (M)
at::Tensor packLinearWeight(const at::Tensor& weight_nk, int64_t rows);
at::Tensor linear(const at::Tensor& x, const at::Tensor& packed, const std::optional<at::Tensor>& bias,
                  fb::Activation activation);
}  // namespace onednn

// One activation row times a [K, N] fp32 weight (gemv.cpp): the weight cached as column
// panels by panels(kn), a bias [N] padded to the panels' width by paddedBias(bias, panels),
// then product(row, panels, N, padded bias) -> [N] over ATen's threads.
namespace gemv {
at::Tensor panels(const at::Tensor& kn);
at::Tensor paddedBias(const at::Tensor& bias, const at::Tensor& panels);
at::Tensor product(const at::Tensor& row, const at::Tensor& panels, int64_t n,
                   const std::optional<at::Tensor>& padded_bias);
}  // namespace gemv

// `dim` in [-rank, rank) as a non-negative index, or an error.
int64_t normalizeDim(int64_t dim, int64_t rank, const char* what = "dim");

// `values` if it has `size` entries, else an error naming the attribute.
std::vector<int64_t> sized(std::vector<int64_t> values, size_t size, const char* name);

}  // namespace tt::runtime::kernels
