// Numerics of the emulated device (TT_HARDWARE.md): block-float rounding, the 19-bit
// SrcA/SrcB registers of the matrix unit, math fidelity phases and 16-bit accumulation.
// In Fast mode none of this runs: ops compute in fp32 and round only to the output's
// storage type.
#pragma once

#include <functional>
#include <string>

#include "common.h"

namespace tt::runtime {

enum class Numerics {
  Emulated,  // reproduce the chip's formats, registers and fidelity (the default)
  Fast,      // skip emulation: deployment speed
};

// What the device does when an integer result does not fit its 32 bits (the device has
// no 64-bit integers): integer kernels compute exactly (in int64) and ProgramContext::set
// checks the range before storing an int32.
enum class IntegerOverflow {
  Error,  // the op fails, naming its location and the values' range (the default)
  Wrap,   // store the low 32 bits as silicon does (float -> int saturates); counted on the device
};

std::string integerOverflowName(IntegerOverflow mode);
// "error" or "wrap"; anything else is an error listing both.
IntegerOverflow parseIntegerOverflow(const std::string& name);

std::string numericsName(Numerics numerics);
// "emulated" or "fast"; anything else is an error listing both.
Numerics parseNumerics(const std::string& name);

// The values a tensor of block-float `dtype` holds after the device packer writes
// `value` (any float tensor; blocks are 16 consecutive values of the last dim, zero
// padded): bfloat8_b rounds to nearest, ties to even, saturating; bfloat4_b and
// bfloat2_b truncate the bfloat8_b codes; denormals flush to zero; a block holding an
// inf or NaN gets exponent 255 (inf and NaN survive, the block's finite values become
// 0 or inf). Returns fp32 with the same shape (contiguous). Vectorised per block, the
// blocks shared out over libtorch's thread pool.
at::Tensor roundToBlockFloat(const at::Tensor& value, fb::DataType dtype);

// The fp32 bit mask that keeps the sign, the exponent and the top `bits` of the 23
// explicit mantissa bits.
constexpr uint32_t mantissaMask(int bits) { return ~((uint32_t{1} << (23 - bits)) - 1); }

// fp32 `value` with only the top `bits` explicit mantissa bits kept (the rest cleared,
// i.e. rounded toward zero). Exponent, sign, inf and NaN are kept. A new tensor laid out
// as `value` (a channels-last activation stays channels-last), written in one vectorised
// pass in libtorch's thread pool; `value` itself when bits >= 23.
at::Tensor truncateMantissa(const at::Tensor& value, int bits);

// How one matrix-unit op computes: from its ComputeConfig (absent: HiFi4 with fp32
// accumulation, tt-mlir's defaults) and the device's numerics mode.
struct MathConfig {
  fb::MathFidelity fidelity = fb::MathFidelity::HiFi4;
  bool fp32_dest_acc = true;
  bool emulate = true;
};
MathConfig mathConfig(const fb::ComputeConfig* config, Numerics numerics);

// Whether `op(src_a, src_b)` under `config` is one call of the kernel whose result is final
// (fidelityProduct): Fast numerics, or emulated with one phase sum (every fidelity but
// HiFi3) and fp32 accumulation (no 16-bit Dst rounding). Only then may an epilogue (a bias)
// join the kernel.
inline bool onePass(const MathConfig& config) {
  return !config.emulate || (config.fp32_dest_acc && config.fidelity != fb::MathFidelity::HiFi3);
}

// Explicit mantissa bits a register keeps of an operand held in `container`: fp32
// becomes TF32 (10 bits: the low 13 are dropped); bf16 (and block float, which unpacks
// to bf16) keeps its 7.
int registerBits(at::ScalarType container);
// The mask (see mantissaMask) a full register applies to an operand held in `container`:
// fp32 loses its low 13 mantissa bits; every other container already fits (bf16, block
// float) or is taken whole (integers, bool), as RegisterOperand does.
uint32_t registerMask(at::ScalarType container);

// The mantissa bits of SrcA and SrcB that phase 0 multiplies (1 + 4 and 1 + 6 with the
// leading one); later phases add the remaining bits of each (see fidelityProduct).
constexpr int kSrcAHighBits = 4;
constexpr int kSrcBHighBits = 6;

// An operand as a register holds it, truncated to `bits` explicit mantissa bits (at
// most registerBits), in fp32. `make` gives the operand; `persistent` operands (weights)
// are cached on the device per source tensor.
using RegisterValue = std::function<at::Tensor(int bits)>;

// A bilinear op (matmul, conv, multiply) of the SrcA and SrcB operands, computed in
// the phases `fidelity` sums: phase 0 = A_hi x B_hi, phase 1 = A_lo x B_hi, phase 2 =
// A_hi x B_lo, phase 3 = A_lo x B_lo (hi = the top bits above, lo = the rest of the
// register). LoFi = phase 0, HiFi2 = 0-1, HiFi3 = 0-2, HiFi4 = all.
at::Tensor fidelityProduct(const RegisterValue& src_a, const RegisterValue& src_b, at::ScalarType a_container,
                           at::ScalarType b_container, fb::MathFidelity fidelity,
                           const std::function<at::Tensor(const at::Tensor&, const at::Tensor&)>& op);

// fp32 values rounded to bf16 and back (the Dst register in 16-bit mode): round to
// nearest, ties to even, as c10::BFloat16; inf stays inf, a finite value past bf16's range
// becomes inf, denormals round like any value, every NaN becomes the quiet NaN. One
// vectorised pass (as truncateMantissa).
at::Tensor roundToBFloat16(const at::Tensor& value);

}  // namespace tt::runtime
