// run_ttnn: runs an exported .ttnn (tt_torch.export) with no Python, on inputs read
// from files, and writes its outputs to files. It uses libtt_runtime's C++ API only:
//
//   run_ttnn MODEL.ttnn [--program N] [--out DIR] INPUT.bin...
//
// Each INPUT.bin holds one user input as raw little-endian bytes, in the shape and
// data type the program declares (`tt-torch read MODEL.ttnn --section inputs`);
// int32 for integer inputs. Weights come from the .ttnn (and its side file).
// Each output is written to DIR/output_<i>.bin the same way (default DIR: ".", created
// when missing).
// Exit codes: 0 ok, 1 the run failed, 2 bad usage, file or input.
#include <cstdlib>
#include <filesystem>
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

const char* kUsage = "usage: run_ttnn MODEL.ttnn [--program N] [--out DIR] INPUT.bin...\n";
const char* kHelp =
    "Runs program N (default 0) of an exported .ttnn on the user inputs read from INPUT.bin files and\n"
    "writes each output to DIR/output_<i>.bin (DIR default '.', created when missing).\n"
    "Each INPUT.bin holds one input's raw little-endian bytes in the shape and type the program declares\n"
    "(tt-torch read MODEL.ttnn --section inputs; from Python: t.numpy().tofile(path)).\n"
    "Exit codes: 0 ok, 1 the run failed, 2 bad usage, file or input.\n";

int usage(const std::string& problem) {
  std::cerr << "run_ttnn: " << problem << "\n" << kUsage << "(run_ttnn --help for more)\n";
  return 2;
}

// A non-negative integer argument, or -1 when `text` is not one.
long parseIndex(const std::string& text) {
  char* end = nullptr;
  long value = std::strtol(text.c_str(), &end, 10);
  return (text.empty() || *end != '\0' || value < 0) ? -1 : value;
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
    size_t needed = rt::tensorBytes(info, what);
    rt::RegularFile in(paths[next], "input file", needed);
    if (in.size() != needed) {  // the user's file, not the model, is the wrong size
      throw rt::BinaryError(rt::cat("input file ", paths[next], " holds ", in.size(), " bytes but input ", next, " ('",
                                    rt::text(arg->name()), "') of shape ", rt::shapeStr(info.shape),
                                    " needs ", needed, ": write the tensor's raw little-endian bytes "
                                    "(tt-torch read MODEL.ttnn --section inputs gives shape and type)"));
    }
    std::vector<uint8_t> bytes = in.read(0, in.size());
    inputs.push_back(rt::tensorFromBytes(info, bytes.data(), bytes.size(), what));
    ++next;
  }
  return inputs;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model, out_dir = ".";
  size_t index = 0;
  std::vector<std::string> input_paths;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::cout << kUsage << kHelp;
      return 0;
    }
    if (arg == "--program" || arg == "--out") {
      if (i + 1 >= argc) return usage(arg + " needs a value");
      std::string value = argv[++i];
      if (arg == "--out") {
        out_dir = value;
      } else if (parseIndex(value) < 0) {
        return usage("--program takes a program index (0, 1, ...), got '" + value + "'");
      } else {
        index = static_cast<size_t>(parseIndex(value));
      }
    } else if (!arg.empty() && arg[0] == '-') {
      return usage("unknown option '" + arg + "'");
    } else if (model.empty()) {
      model = arg;
    } else {
      input_paths.push_back(arg);
    }
  }
  if (model.empty()) return usage("MODEL.ttnn is missing");
  try {
    std::error_code error;
    std::filesystem::create_directories(out_dir, error);
    if (error) throw rt::RuntimeError(rt::cat("cannot create the output folder '", out_dir, "': ", error.message()));
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
