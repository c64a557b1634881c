// pybind11 glue for tt_torch._C: no logic here, only conversions between the
// runtime's C++ API (csrc/runtime) and Python objects.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <torch/csrc/utils/pybind.h>

#include <cstring>

#include "runtime/binary.h"
#include "runtime/device.h"
#include "runtime/executor.h"
#include "ttnn/schema_info.h"

namespace py = pybind11;
namespace rt = tt::runtime;

namespace {

PyObject* gBinaryError = nullptr;
PyObject* gRuntimeError = nullptr;

void setError(PyObject* type, const char* what) {
  PyObject* message = PyUnicode_DecodeUTF8(what, static_cast<Py_ssize_t>(std::strlen(what)), "replace");
  PyErr_SetObject(type, message);
  Py_XDECREF(message);
}

py::list tensorDescs(const rt::Binary& binary, size_t index, bool inputs) {
  const rt::ttnn::Program& program = binary.program(index);
  py::list out;
  auto describe = [](const rt::fb::TensorRef* ref, py::object name, py::object arg_type) {
    rt::TensorInfo info = rt::describe(ref);
    py::dict d;
    d["name"] = std::move(name);
    d["shape"] = info.shape;
    d["dtype"] = rt::dtypeName(info.dtype);
    d["arg_type"] = std::move(arg_type);
    d["global_id"] = info.global_id;
    // a weight argument described on the device enters prepared: any shape of its element count
    d["on_device"] = info.onDevice();
    return d;
  };
  if (inputs && program.inputs()) {
    for (const rt::ttnn::ProgramArg* arg : *program.inputs()) {
      if (arg == nullptr) throw rt::RuntimeError("a program input has no description (corrupt binary?)");
      out.append(describe(arg->ref(), py::str(rt::text(arg->name())),
                          py::str(rt::fb::EnumNameArgumentType(arg->arg_type()))));
    }
  } else if (!inputs && program.outputs()) {
    size_t i = 0;
    for (const rt::fb::TensorRef* ref : *program.outputs()) {
      out.append(describe(ref, py::str(rt::cat("output_", i++)), py::none()));
    }
  }
  return out;
}

py::dict mlirSources(const rt::Binary& binary) {
  py::dict out;
  if (binary.root().mlir()) {
    for (const rt::ttnn::MLIRSource* src : *binary.root().mlir()) {
      if (src && src->name()) out[py::str(rt::text(src->name()))] = rt::text(src->source());
    }
  }
  return out;
}

py::list programOps(const rt::Binary& binary, size_t index) {
  const rt::ttnn::Program& program = binary.program(index);
  py::list out;
  if (program.operations() == nullptr) return out;
  size_t i = 0;
  for (const rt::ttnn::Operation* op : *program.operations()) {
    py::dict d;
    d["index"] = i++;
    d["type"] = op ? rt::opTypeName(op->type_type()) : std::string("<missing>");
    d["loc"] = op ? rt::text(op->loc_info()) : std::string();
    d["debug"] = op ? rt::text(op->debug_info()) : std::string();
    d["has_kernel"] = op != nullptr && rt::hasKernel(op->type_type());
    d["estimated_ns"] = op ? op->estimated_ns() : 0.0f;
    out.append(d);
  }
  return out;
}

py::dict systemInfo(const rt::SystemInfo& s) {
  py::dict d;
  d["name"] = s.name;
  d["arch"] = rt::archName(s.arch);
  d["mesh_shape"] = s.mesh_shape;
  d["num_chips"] = s.numChips();
  d["grid"] = std::vector<int32_t>{s.grid_rows, s.grid_cols};
  d["l1_bytes_per_core"] = s.l1_bytes_per_core;
  d["num_dram_channels"] = s.num_dram_channels;
  d["dram_channel_bytes"] = s.dram_channel_bytes;
  d["dram_bytes"] = s.dramBytes();
  d["dram_bandwidth_gbps"] = s.dram_bandwidth_gbps;
  d["clock_mhz"] = s.clock_mhz;
  std::vector<std::string> types;
  for (auto t : s.supported_data_types) types.push_back(rt::dtypeName(t));
  d["supported_data_types"] = types;
  d["num_cores"] = s.num_cores;
  py::dict peak;
  for (const auto& [t, tflops] : s.peak_tflops) peak[py::str(rt::dtypeName(t))] = tflops;
  d["peak_tflops"] = peak;
  return d;
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "tt-torch runtime: load .ttnn binaries and run them on the emulated Tenstorrent device";

  // Module-lifetime exception types; messages may quote a corrupt file, so they are
  // decoded leniently instead of failing with UnicodeDecodeError.
  gBinaryError = PyErr_NewException("tt_torch._C.BinaryError", PyExc_ValueError, nullptr);
  gRuntimeError = PyErr_NewException("tt_torch._C.RuntimeError", PyExc_RuntimeError, nullptr);
  m.attr("BinaryError") = py::handle(gBinaryError);
  m.attr("RuntimeError") = py::handle(gRuntimeError);
  py::register_exception_translator([](std::exception_ptr error) {
    try {
      if (error) std::rethrow_exception(error);
    } catch (const rt::BinaryError& e) {
      setError(gBinaryError, e.what());
    } catch (const rt::RuntimeError& e) {
      setError(gRuntimeError, e.what());
    }
  });

  m.def("schema_hash", [] { return std::string(tt::runtime::schema::kHash); });
  m.def("schema_version", [] {
    namespace s = tt::runtime::schema;
    return py::make_tuple(s::kVersionMajor, s::kVersionMinor, s::kVersionPatch);
  });
  m.def(
      "round_to_block_float",
      [](const at::Tensor& value, const std::string& dtype) {
        for (auto t : {rt::fb::DataType::BFP_BFloat8, rt::fb::DataType::BFP_BFloat4, rt::fb::DataType::BFP_BFloat2}) {
          if (dtype == rt::dtypeName(t)) return rt::roundToBlockFloat(value, t);
        }
        rt::fail("unknown block-float data type '", dtype, "': expected BFP_BFloat8, BFP_BFloat4 or BFP_BFloat2");
      },
      py::arg("value"), py::arg("dtype"),
      "The values the device packer stores for `value` in a block-float format (fp32 result).");
  m.def("truncate_mantissa", &rt::truncateMantissa, py::arg("value"), py::arg("bits"),
        "fp32 `value` with only its top `bits` explicit mantissa bits (a matrix-unit register).");
  m.def("round_to_bfloat16", &rt::roundToBFloat16, py::arg("value"),
        "fp32 `value` rounded to bf16 (nearest, ties to even) and back to fp32.");
  m.def("system_names", &rt::builtinSystemNames, "Names of the built-in device descriptions.");
  m.def("system_info", [](const std::string& name) { return systemInfo(rt::builtinSystem(name)); }, py::arg("name"),
        "The built-in device description `name` as a dict.");

  py::class_<rt::OpEvent>(m, "OpEvent", "One op as a debug hook sees it.")
      .def_readonly("program_index", &rt::OpEvent::program_index)
      .def_readonly("index", &rt::OpEvent::index)
      .def_readonly("type", &rt::OpEvent::type)
      .def_readonly("loc", &rt::OpEvent::loc)
      .def_readonly("debug", &rt::OpEvent::debug)
      .def_property_readonly("output",
                             [](const rt::OpEvent& e) -> py::object {
                               return e.output.defined() ? py::cast(e.output) : py::none();
                             })
      .def_readonly("seconds", &rt::OpEvent::seconds)
      .def("__repr__", [](const rt::OpEvent& e) { return rt::cat("<OpEvent #", e.index, " ", e.type, " at ", e.loc, ">"); });

  py::class_<rt::Binary>(m, "Binary")
      .def_static(
          "from_bytes",
          [](py::bytes data, const std::string& base_dir) {
            std::string_view view = data;
            py::gil_scoped_release release;
            rt::Binary binary = rt::Binary::fromBytes(view.data(), view.size());
            if (!base_dir.empty()) binary.setBaseDir(base_dir);
            return binary;
          },
          py::arg("data"), py::arg("base_dir") = "")
      .def_static("from_file", &rt::Binary::fromFile, py::arg("path"), py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("num_programs", &rt::Binary::numPrograms)
      .def("program_name", [](const rt::Binary& b, size_t i) {
        b.program(i);  // an error naming the programs when out of range
        return b.programName(i);
      })
      .def("program_is_private", [](const rt::Binary& b, size_t i) { return b.program(i).private_(); })
      .def(
          "program_mesh_shape",
          [](const rt::Binary& b, size_t i) {
            std::vector<int64_t> mesh = rt::toVector(b.program(i).mesh_shape());
            return mesh.empty() ? std::vector<int64_t>{1, 1} : mesh;
          },
          "The logical mesh a tensor-parallel program runs on ([1, 1]: one chip).")
      .def("program_inputs", [](const rt::Binary& b, size_t i) { return tensorDescs(b, i, true); })
      .def("program_outputs", [](const rt::Binary& b, size_t i) { return tensorDescs(b, i, false); })
      .def_property_readonly("system_desc_name", &rt::Binary::systemDescName)
      .def_property_readonly("arch",
                             [](const rt::Binary& b) -> py::object {
                               return b.hasArch() ? py::object(py::str(rt::archName(b.arch()))) : py::none();
                             })
      .def_property_readonly("schema_hash", &rt::Binary::schemaHash)
      .def_property_readonly("version",
                             [](const rt::Binary& b) {
                               const auto* v = b.root().version();
                               return py::make_tuple(v->major(), v->minor(), v->patch());
                             })
      .def_property_readonly("mlir_sources", &mlirSources)
      .def("program_ops", &programOps, py::arg("index"), "Each op: index, type, loc, debug, has_kernel.")
      .def_property_readonly("base_dir", &rt::Binary::baseDir)
      .def("raw_bytes",
           [](const rt::Binary& b) {
             return py::bytes(reinterpret_cast<const char*>(b.bytes().data()), b.bytes().size());
           })
      .def_property_readonly("weight_names", &rt::Binary::weightNames)
      .def("weight", &rt::Binary::weight, py::arg("name"), py::call_guard<py::gil_scoped_release>())
      .def("num_user_inputs", &rt::Binary::numUserInputs, py::arg("index"))
      .def("complete_inputs", &rt::Binary::completeInputs, py::arg("index"), py::arg("user_inputs"),
           py::call_guard<py::gil_scoped_release>())
      .def("goldens",
           [](const rt::Binary& b) {
             py::list out;
             for (auto& g : b.goldens()) out.append(py::make_tuple(g.key, g.program, g.tensor));
             return out;
           })
      .def_property_readonly("export_info", &rt::Binary::exportInfo)
      .def_property_readonly("size", [](const rt::Binary& b) { return b.bytes().size(); });

  using Buffer = rt::fb::BufferType;
  py::class_<rt::Device, std::shared_ptr<rt::Device>>(m, "Device")
      .def_static(
          "open_device",
          [](const std::string& name, const std::string& numerics) {
            return rt::Device::open(name, rt::parseNumerics(numerics));
          },
          py::arg("name") = "n150", py::arg("numerics") = "emulated")
      .def_static(
          "open_device_for",
          [](const rt::Binary& binary, const std::string& numerics) {
            return rt::Device::open(binary, rt::parseNumerics(numerics));
          },
          py::arg("binary"), py::arg("numerics") = "emulated",
          "Opens a device described by the binary's own system description.")
      .def_property_readonly("numerics", [](const rt::Device& d) { return rt::numericsName(d.numerics()); })
      .def_property(
          "integer_overflow", [](const rt::Device& d) { return rt::integerOverflowName(d.integerOverflow()); },
          [](rt::Device& d, const std::string& mode) { d.setIntegerOverflow(rt::parseIntegerOverflow(mode)); },
          "'error' (default): an op whose int32 result is out of range fails, naming its location and the range; "
          "'wrap': the hardware's wrapped value, counted in integer_wraps.")
      .def_property_readonly("integer_wraps", &rt::Device::integerWraps,
                             "How many op results wrapped to int32 (integer_overflow='wrap') since the device opened.")
      .def_property_readonly("last_integer_wrap", &rt::Device::lastIntegerWrap,
                             "The last op result that wrapped: '<op> at <location>: values in [lo, hi] ...'.")
      .def("reset_peaks", &rt::Device::resetPeaks, "Starts a new peak-memory measurement.")
      .def(
          "set_mesh_transport",
          [](rt::Device& d, size_t first_chip, size_t local_chips,
             std::function<std::vector<at::Tensor>(const std::string&, const std::vector<at::Tensor>&)> exchange) {
            if (!exchange) {
              d.setTransport(nullptr);
              return;
            }
            auto transport = std::make_shared<rt::MeshTransport>();
            transport->first_chip = first_chip;
            transport->local_chips = local_chips;
            transport->exchange = std::move(exchange);
            d.setTransport(std::move(transport));
          },
          py::arg("first_chip"), py::arg("local_chips"), py::arg("exchange"),
          "Spreads SPMD programs over processes: this one runs chips [first_chip, first_chip + local_chips); "
          "exchange(what, local_tensors) -> every chip's tensors serves the collectives that cross processes "
          "(None: every chip runs here). See tt_torch.distributed.")
      .def("close", &rt::Device::close)
      .def_property_readonly("is_open", &rt::Device::isOpen)
      .def_property_readonly("name", &rt::Device::name)
      .def_property_readonly("arch", [](const rt::Device& d) { return rt::archName(d.arch()); })
      .def_property_readonly("num_chips", [](const rt::Device& d) { return d.info().numChips(); })
      .def_property_readonly("dram_bytes", [](const rt::Device& d) { return d.budget(Buffer::DRAM); })
      .def_property_readonly("l1_bytes", [](const rt::Device& d) { return d.budget(Buffer::L1); })
      .def_property_readonly("dram_bytes_in_use",
                             [](const rt::Device& d) { return d.bytesInUse(Buffer::DRAM); })
      .def_property_readonly("peak_dram_bytes", [](const rt::Device& d) { return d.peakBytes(Buffer::DRAM); })
      .def_property_readonly("l1_bytes_in_use", [](const rt::Device& d) { return d.bytesInUse(Buffer::L1); })
      .def_property_readonly("peak_l1_bytes", [](const rt::Device& d) { return d.peakBytes(Buffer::L1); })
      .def("__enter__", [](std::shared_ptr<rt::Device> d) { return d; })
      .def("__exit__", [](rt::Device& d, py::args) { d.close(); })
      .def("__repr__", [](const rt::Device& d) {
        std::string state = d.isOpen() ? "" : " closed";
        return rt::cat("<tt_torch._C.Device '", d.name(), "' ", rt::archName(d.arch()), state, ">");
      });

  m.def(
      "submit",
      [](rt::Device& device, const rt::Binary& binary, size_t index, const std::vector<at::Tensor>& inputs,
         std::function<void(const rt::OpEvent&)> pre_op, std::function<void(const rt::OpEvent&)> post_op) {
        rt::Hooks hooks{std::move(pre_op), std::move(post_op)};
        py::gil_scoped_release release;
        return rt::submit(device, binary, index, inputs, hooks);
      },
      py::arg("device"), py::arg("binary"), py::arg("program_index"), py::arg("inputs"), py::arg("pre_op") = nullptr,
      py::arg("post_op") = nullptr,
        "Runs program `program_index` of `binary` on `device`; returns fresh host tensors.");
}
