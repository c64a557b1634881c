// pybind11 glue for tt_torch._C: no logic here, only conversions between the
// runtime's C++ API (csrc/runtime) and Python objects.
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
  m.def("system_names", &rt::builtinSystemNames, "Names of the built-in device descriptions.");

  py::class_<rt::Binary>(m, "Binary")
      .def_static(
          "from_bytes",
          [](py::bytes data) {
            std::string_view view = data;
            py::gil_scoped_release release;
            return rt::Binary::fromBytes(view.data(), view.size());
          },
          py::arg("data"))
      .def_static("from_file", &rt::Binary::fromFile, py::arg("path"), py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("num_programs", &rt::Binary::numPrograms)
      .def("program_name", [](const rt::Binary& b, size_t i) {
        b.program(i);  // an error naming the programs when out of range
        return b.programName(i);
      })
      .def("program_is_private", [](const rt::Binary& b, size_t i) { return b.program(i).private_(); })
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
      .def_property_readonly("size", [](const rt::Binary& b) { return b.bytes().size(); });

  using Buffer = rt::fb::BufferType;
  py::class_<rt::Device, std::shared_ptr<rt::Device>>(m, "Device")
      .def_static("open_device", py::overload_cast<const std::string&>(&rt::Device::open), py::arg("name") = "n150")
      .def_static("open_device_for", py::overload_cast<const rt::Binary&>(&rt::Device::open), py::arg("binary"),
                  "Opens a device described by the binary's own system description.")
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

  m.def("submit", &rt::submit, py::arg("device"), py::arg("binary"), py::arg("program_index"), py::arg("inputs"),
        py::call_guard<py::gil_scoped_release>(),
        "Runs program `program_index` of `binary` on `device`; returns fresh host tensors.");
}
