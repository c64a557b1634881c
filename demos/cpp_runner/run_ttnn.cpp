// run_ttnn: runs an exported .ttnn (tt_torch.export) with no Python, on inputs read
// from files, and writes its outputs to files. It uses libtt_runtime's C++ API only:
//
//   run_ttnn MODEL.ttnn [--program N] [--out DIR] INPUT.bin...
//
// Each INPUT.bin holds one user input as raw little-endian bytes, in the shape and
// data type the program declares (`tt-torch read MODEL.ttnn --section inputs`);
// int32 for integer inputs. Weights come from the .ttnn (and its side file).
// Each output is written to DIR/output_<i>.bin the same way (default DIR: ".").
// Exit codes: 0 ok, 1 the run failed, 2 bad usage, file or input.
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "binary.h"
#include "device.h"
#include "executor.h"

namespace rt = tt::runtime;

namespace {

int usage() {
  std::cerr << "usage: run_ttnn MODEL.ttnn [--program N] [--out DIR] INPUT.bin...\n";
  return 2;
}

// The user inputs of `program`, read from `paths` in the order the program declares them.
std::vector<at::Tensor> readInputs(const rt::Binary& binary, size_t index, const std::vector<std::string>& paths) {
  size_t expected = binary.numUserInputs(index);
  if (paths.size() != expected) {
    throw rt::BinaryError(rt::cat("program ", index, " ('", binary.programName(index), "') takes ", expected,
                                  " input(s), got ", paths.size(), " file(s)"));
  }
  const rt::ttnn::Program& program = binary.program(index);
  std::vector<at::Tensor> inputs;
  size_t next = 0;
  if (program.inputs() == nullptr) return inputs;
  for (const rt::ttnn::ProgramArg* arg : *program.inputs()) {
    if (arg == nullptr) throw rt::BinaryError("a program input has no description (corrupt binary?)");
    if (arg->arg_type() != rt::fb::ArgumentType::Input) continue;
    rt::TensorInfo info = rt::describe(arg->ref(), "input");
    std::string what = rt::cat("input ", next, " ('", rt::text(arg->name()), "', ", paths[next], ")");
    // a regular file no larger than the input needs: a FIFO, directory or /dev/zero is refused, not read
    rt::RegularFile in(paths[next], "input file", rt::tensorBytes(info, what));
    std::vector<uint8_t> bytes = in.read(0, in.size());
    inputs.push_back(rt::tensorFromBytes(info, bytes.data(), bytes.size(), what));
    ++next;
  }
  return inputs;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  std::string model = argv[1], out_dir = ".";
  size_t index = 0;
  std::vector<std::string> input_paths;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--program" && i + 1 < argc) {
      index = std::strtoul(argv[++i], nullptr, 10);
    } else if (arg == "--out" && i + 1 < argc) {
      out_dir = argv[++i];
    } else if (!arg.empty() && arg[0] == '-') {
      return usage();
    } else {
      input_paths.push_back(arg);
    }
  }
  try {
    rt::Binary binary = rt::Binary::fromFile(model);
    std::vector<at::Tensor> inputs = binary.completeInputs(index, readInputs(binary, index, input_paths));
    auto device = rt::Device::open(binary);
    std::vector<at::Tensor> outputs = rt::submit(*device, binary, index, inputs);
    for (size_t i = 0; i < outputs.size(); ++i) {
      std::string path = rt::cat(out_dir, "/output_", i, ".bin");
      std::ofstream out(path, std::ios::binary);
      at::Tensor t = outputs[i].contiguous();
      out.write(static_cast<const char*>(t.data_ptr()), static_cast<std::streamsize>(t.nbytes()));
      if (!out) throw rt::RuntimeError(rt::cat("cannot write '", path, "'"));
      std::cout << "output " << i << ": " << rt::shapeStr(t.sizes()) << " " << t.scalar_type() << " -> " << path
                << "\n";
    }
  } catch (const rt::BinaryError& e) {
    std::cerr << "run_ttnn: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "run_ttnn: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
