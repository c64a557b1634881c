// submit(): runs one program of a binary on a device, the way tt::runtime::submit
// does. Inputs and outputs are host tensors; every op failure is rethrown as
// "TTNN op <OpType> at <loc_info> failed: <reason>".
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "binary.h"
#include "common.h"
#include "device.h"

namespace tt::runtime {

// What a debug hook sees of one op (tt::runtime::debug::Hooks' role).
struct OpEvent {
  size_t program_index = 0;
  size_t index = 0;        // position of the op in its program
  std::string type;        // "Conv2dOp"
  std::string loc;         // loc_info: FX node and model source line
  std::string debug;       // debug_info: the op's TTNN text
  // Post-op only: the tensor the op produced (undefined for ops that produce none,
  // like deallocate). It is the live device value, not a copy: changing it in place
  // changes what later ops read, which is how tests plant faults.
  at::Tensor output;
  double seconds = 0;      // post-op only: the kernel's wall time
};

struct Hooks {
  std::function<void(const OpEvent&)> pre_op;
  std::function<void(const OpEvent&)> post_op;
  bool empty() const { return !pre_op && !post_op; }
};

std::vector<at::Tensor> submit(Device& device, const Binary& binary, size_t program_index,
                               const std::vector<at::Tensor>& inputs, const Hooks& hooks = {});

// Whether this runtime has a kernel for `type` (`tt-torch check`).
bool hasKernel(ttnn::OpType type);

// "<OpType> at <loc_info>" (or the op's position when it has no location).
std::string describeOp(const ttnn::Operation* op, size_t index);

// The name of an op type as written in the schema ("MatmulOp").
std::string opTypeName(ttnn::OpType type);

}  // namespace tt::runtime
