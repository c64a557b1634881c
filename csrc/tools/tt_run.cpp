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

const char* kUsage = "usage: tt_run FILE.ttnn [--program N] [--device NAME]\n";
const char* kHelp =
    "Runs program N (default 0) of a .ttnn on generated inputs (floats random normal, integers zero)\n"
    "with libtt_runtime alone, on the device the file was compiled for or on --device NAME\n"
    "(tt-torch query lists them). Prints each output's shape and dtype and the peak DRAM use.\n"
    "Exit codes: 0 ok, 1 the run failed, 2 bad usage or file.\n";

int usage(const std::string& problem) {
  std::cerr << "tt_run: " << problem << "\n" << kUsage << "(tt_run --help for more)\n";
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
  std::string path, device_name;
  size_t program_index = 0;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::cout << kUsage << kHelp;
      return 0;
    }
    if (arg == "--program" || arg == "--device") {
      if (i + 1 >= argc) return usage(arg + " needs a value");
      std::string value = argv[++i];
      char* end = nullptr;
      long index = std::strtol(value.c_str(), &end, 10);
      if (arg == "--device") {
        device_name = value;
      } else if (value.empty() || *end != '\0' || index < 0) {
        return usage("--program takes a program index (0, 1, ...), got '" + value + "'");
      } else {
        program_index = static_cast<size_t>(index);
      }
    } else if (!arg.empty() && arg[0] == '-') {
      return usage("unknown option '" + arg + "'");
    } else if (path.empty()) {
      path = arg;
    } else {
      return usage("one FILE.ttnn only, got '" + path + "' and '" + arg + "'");
    }
  }
  if (path.empty()) return usage("FILE.ttnn is missing");
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
    // A tensor-parallel program ran on every chip of its mesh, each with its own DRAM.
    std::vector<int64_t> mesh = rt::toVector(binary.program(program_index).mesh_shape());
    int64_t chips = mesh.size() == 2 ? mesh[0] * mesh[1] : 1;
    if (chips > 1) {
      std::cout << "peak DRAM per chip of the program's mesh " << rt::shapeStr(mesh) << ":";
      for (int64_t c = 0; c < chips; ++c) std::cout << " " << device->chip(c).peakBytes(rt::fb::BufferType::DRAM);
      std::cout << " bytes\n";
    }
  } catch (const rt::BinaryError& e) {
    std::cerr << "tt_run: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "tt_run: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
