// Small memory-bound kernels run on the calling thread.
//
// ATen splits an elementwise op or a normalization over its thread pool (OpenMP) from
// 32K elements up. For a transformer's residual add or layer norm ([64..128, 768]) the
// split saves a few microseconds on an idle machine, and costs a scheduling interval
// (milliseconds) whenever a pool thread is descheduled at the op's barrier, as on a shared
// host: measured on GPT-2 (2 threads, other processes running), 32 adds took 139 ms and
// 25 layer norms 110 ms, against 1.4 and 1.3 ms on one thread. Below kSerialElements an op
// runs on the calling thread alone: the OpenMP thread count of this thread is set to one
// for the kernel's duration (ATen's parallel_for reads it), then restored.
#pragma once

#include <dlfcn.h>

#include <c10/util/ArrayRef.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace tt::runtime::kernels {

// 512 KB of fp32: a residual add or layer norm of up to 170 rows of 768
constexpr int64_t kSerialElements = int64_t{1} << 17;

class OnCallingThreadIfSmall {
 public:
  explicit OnCallingThreadIfSmall(int64_t elements) {
    const Omp& omp = ompOf();
    if (elements > kSerialElements || omp.get == nullptr || omp.set == nullptr) return;
    saved_ = omp.get();
    if (saved_ > 1) omp.set(1);
  }
  ~OnCallingThreadIfSmall() {
    if (saved_ > 1) ompOf().set(saved_);
  }
  OnCallingThreadIfSmall(const OnCallingThreadIfSmall&) = delete;
  OnCallingThreadIfSmall& operator=(const OnCallingThreadIfSmall&) = delete;

 private:
  struct Omp {
    int (*get)() = nullptr;
    void (*set)(int) = nullptr;
  };
  // libtorch's OpenMP runtime, already loaded with it (no link-time dependency: the
  // runtime library and tt_run link libtorch alone); absent, ops keep ATen's threading.
  static const Omp& ompOf() {
    static const Omp omp = [] {
      Omp o;
      void* lib = dlopen("libgomp.so.1", RTLD_LAZY | RTLD_NOLOAD);
      if (lib == nullptr) return o;
      o.get = reinterpret_cast<int (*)()>(dlsym(lib, "omp_get_max_threads"));
      o.set = reinterpret_cast<void (*)(int)>(dlsym(lib, "omp_set_num_threads"));
      return o;
    }();
    return omp;
  }
  int saved_ = 0;
};

// The shape two operands broadcast to (the larger extent where they differ: the kernel
// reports operands that do not broadcast).
inline std::vector<int64_t> broadcastShape(c10::IntArrayRef a, c10::IntArrayRef b) {
  size_t rank = std::max(a.size(), b.size());
  std::vector<int64_t> shape(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < a.size() ? a[a.size() - 1 - i] : 1;
    int64_t db = i < b.size() ? b[b.size() - 1 - i] : 1;
    shape[rank - 1 - i] = std::max(da, db);
  }
  return shape;
}

inline int64_t broadcastNumel(c10::IntArrayRef a, c10::IntArrayRef b) {
  int64_t n = 1;
  for (int64_t d : broadcastShape(a, b)) n *= d;
  return n;
}

}  // namespace tt::runtime::kernels
