// tt_run: loads a .ttnn binary and runs one of its programs with generated inputs,
// using libtt_runtime alone (no Python). It shows the runtime's C++ API:
//
//   tt_run model.ttnn [--program N] [--device n150|n300|p150]
//
// Float inputs are random normal, integer inputs zero (valid indices for embeddings).
// Prints each output's shape and dtype and the device's peak DRAM use.
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "binary.h"
#include "device.h"
#include "executor.h"

namespace rt = tt::runtime;

namespace {

int usage() {
  std::cerr << "usage: tt_run FILE.ttnn [--program N] [--device n150|n300|p150]\n";
  return 2;
}

std::vector<at::Tensor> makeInputs(const rt::ttnn::Program& program) {
  std::vector<at::Tensor> inputs;
  if (program.inputs() == nullptr) return inputs;
  for (const rt::ttnn::ProgramArg* arg : *program.inputs()) {
    rt::TensorInfo info = rt::describe(arg ? arg->ref() : nullptr, "input");
    at::ScalarType dtype = rt::containerType(info.dtype);
    inputs.push_back(at::isFloatingType(dtype) ? at::randn(info.shape).to(dtype) : at::zeros(info.shape, dtype));
  }
  return inputs;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  std::string path = argv[1];
  std::string device_name;
  size_t program_index = 0;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--program" && i + 1 < argc) {
      program_index = std::strtoul(argv[++i], nullptr, 10);
    } else if (arg == "--device" && i + 1 < argc) {
      device_name = argv[++i];
    } else {
      return usage();
    }
  }
  try {
    rt::Binary binary = rt::Binary::fromFile(path);
    auto device = device_name.empty() ? rt::Device::open(binary) : rt::Device::open(device_name);
    std::vector<at::Tensor> outputs =
        rt::submit(*device, binary, program_index, makeInputs(binary.program(program_index)));
    std::cout << "program " << program_index << " ('" << binary.programName(program_index) << "') on "
              << device->name() << ": " << outputs.size() << " output(s)\n";
    for (size_t i = 0; i < outputs.size(); ++i) {
      std::cout << "  output " << i << ": " << rt::shapeStr(outputs[i].sizes()) << " " << outputs[i].scalar_type()
                << "\n";
    }
    std::cout << "peak DRAM: " << device->peakBytes(rt::fb::BufferType::DRAM) << " bytes\n";
  } catch (const rt::BinaryError& e) {
    std::cerr << "tt_run: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "tt_run: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
