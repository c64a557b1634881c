// One activation row times a weight matrix (a decode step's linears): reading the weight is
// the whole cost, so the weight is cached once as column panels laid out the way the kernel
// reads them, and the panels are shared over ATen's intra-op threads.
//
// Panel p holds columns [p * kPanel, (p + 1) * kPanel) of the [K, N] weight, row after row,
// as one contiguous [K, kPanel] block (the last one zero-padded). A thread streams its run
// of panels start to end: one sequential read of its share of the weight, which the
// hardware prefetchers follow at the memory's bandwidth, with the panel's kPanel sums in
// registers. Strided reads of a [K, N] weight (MKL's GEMV over column blocks) stream
// slower the narrower the block: 13-17 GB/s for [768 | 2048, 256 | 384] blocks against
// 29 GB/s for the wide ones, on an AVX-512 machine at two threads.
//
// This file alone is compiled with OpenMP (CMakeLists.txt): ATen's parallel_for runs on
// libtorch's own OpenMP pool only where the caller is built with it.
#include <ATen/Parallel.h>

#include "kernels.h"

namespace tt::runtime::kernels {

namespace {

constexpr int64_t kPanel = 64;  // columns per panel: 4 AVX-512 / 8 AVX2 registers of sums

// out[0, kPanel) = init + x[0, K) . panel (the panel's K rows of kPanel columns). Each sum
// adds its products in order of k, as a naive loop does; the products are vectorized across
// the columns. Clones for AVX-512 and AVX2+FMA machines, plain x86-64 elsewhere.
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) void panelProduct(
    const float* __restrict x, const float* __restrict panel, int64_t k, const float* __restrict init,
    float* __restrict out) {
  float acc[kPanel];
  for (int64_t j = 0; j < kPanel; ++j) acc[j] = init != nullptr ? init[j] : 0.0f;
  for (int64_t i = 0; i < k; ++i) {
    const float xi = x[i];
    const float* row = panel + i * kPanel;
#pragma GCC unroll 64
    for (int64_t j = 0; j < kPanel; ++j) acc[j] += xi * row[j];
  }
  for (int64_t j = 0; j < kPanel; ++j) out[j] = acc[j];
}

}  // namespace

namespace gemv {

at::Tensor panels(const at::Tensor& kn) {
  TORCH_CHECK(kn.dim() == 2 && kn.scalar_type() == at::kFloat, "gemv panels: a [K, N] fp32 weight");
  int64_t k = kn.size(0), n = kn.size(1), count = (n + kPanel - 1) / kPanel;
  at::Tensor out = at::zeros({count, k, kPanel}, kn.options());
  for (int64_t p = 0; p < count; ++p) {
    int64_t start = p * kPanel, width = std::min(kPanel, n - start);
    out[p].narrow(1, 0, width).copy_(kn.narrow(1, start, width));
  }
  return out;
}

at::Tensor paddedBias(const at::Tensor& bias, const at::Tensor& panels) {
  // whole panels, so that every panel starts from kPanel values
  at::Tensor b = at::zeros({panels.size(0) * kPanel}, panels.options());
  b.narrow(0, 0, bias.numel()).copy_(bias.reshape({-1}));
  return b;
}

at::Tensor product(const at::Tensor& row, const at::Tensor& panels, int64_t n,
                   const std::optional<at::Tensor>& padded_bias) {
  int64_t count = panels.size(0), k = panels.size(1);
  TORCH_CHECK(row.numel() == k, "gemv: a row of ", k, " values, got ", row.numel());
  TORCH_CHECK(!padded_bias || padded_bias->numel() == count * kPanel, "gemv: a bias padded to ", count * kPanel,
              " values, got ", padded_bias->numel());
  at::Tensor x = row.reshape({k}).to(at::kFloat).contiguous();
  at::Tensor out = at::empty({count * kPanel}, x.options());
  const float* px = x.const_data_ptr<float>();
  const float* pw = panels.const_data_ptr<float>();
  const float* pb = padded_bias ? padded_bias->const_data_ptr<float>() : nullptr;
  float* po = out.mutable_data_ptr<float>();
  // one contiguous run of panels per thread: the grain spreads them evenly
  int64_t threads = std::max<int64_t>(1, at::get_num_threads());
  int64_t grain = std::max<int64_t>(1, (count + threads - 1) / threads);
  at::parallel_for(0, count, grain, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      panelProduct(px, pw + p * k * kPanel, k, pb != nullptr ? pb + p * kPanel : nullptr, po + p * kPanel);
    }
  });
  return out.narrow(0, 0, n);
}

}  // namespace gemv

}  // namespace tt::runtime::kernels
