// One run() per op table of the schema, implemented in one file per op family
// (eltwise.cpp, matmul.cpp, conv.cpp, reduction.cpp, data_movement.cpp, layout.cpp,
// creation.cpp). Each reads its operands from the context, computes with ATen on
// the host and stores its output through ProgramContext::set.
#pragma once

#include "common.h"
#include "context.h"

namespace tt::runtime::kernels {

// eltwise.cpp
void run(const ttnn::EltwiseUnaryOp& op, ProgramContext& ctx);
void run(const ttnn::EltwiseBinaryOp& op, ProgramContext& ctx);
void run(const ttnn::EltwiseTernaryOp& op, ProgramContext& ctx);
// matmul.cpp
void run(const ttnn::MatmulOp& op, ProgramContext& ctx);
void run(const ttnn::LinearOp& op, ProgramContext& ctx);
// conv.cpp
void run(const ttnn::Conv2dOp& op, ProgramContext& ctx);
void run(const ttnn::Pool2dOp& op, ProgramContext& ctx);
// reduction.cpp
void run(const ttnn::ReductionOp& op, ProgramContext& ctx);
// data_movement.cpp
void run(const ttnn::ReshapeOp& op, ProgramContext& ctx);
void run(const ttnn::PermuteOp& op, ProgramContext& ctx);
void run(const ttnn::SliceOp& op, ProgramContext& ctx);
void run(const ttnn::ConcatOp& op, ProgramContext& ctx);
void run(const ttnn::RepeatOp& op, ProgramContext& ctx);
void run(const ttnn::PadOp& op, ProgramContext& ctx);
void run(const ttnn::EmbeddingOp& op, ProgramContext& ctx);
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
// Integer math runs in int32 (uint8 operands are widened).
inline at::Tensor i32(const at::Tensor& t) { return t.to(at::kInt); }

// `dim` in [-rank, rank) as a non-negative index, or an error.
int64_t normalizeDim(int64_t dim, int64_t rank, const char* what = "dim");

// `values` if it has `size` entries, else an error naming the attribute.
std::vector<int64_t> sized(std::vector<int64_t> values, size_t size, const char* name);

}  // namespace tt::runtime::kernels
