// submit(): runs one program of a binary on a device, the way tt::runtime::submit
// does. Inputs and outputs are host tensors; every op failure is rethrown as
// "TTNN op <OpType> at <loc_info> failed: <reason>".
#pragma once

#include <vector>

#include "binary.h"
#include "common.h"
#include "device.h"

namespace tt::runtime {

std::vector<at::Tensor> submit(Device& device, const Binary& binary, size_t program_index,
                               const std::vector<at::Tensor>& inputs);

// The name of an op type as written in the schema ("MatmulOp").
std::string opTypeName(ttnn::OpType type);

}  // namespace tt::runtime
