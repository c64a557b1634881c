# pybind11 from the pip-installed `pybind11` package.
tt_python_query(_tt_pybind11_dir "__import__('pybind11').get_cmake_dir()")
set(PYBIND11_FINDPYTHON ON)
find_package(pybind11 CONFIG REQUIRED PATHS "${_tt_pybind11_dir}" NO_DEFAULT_PATH)
message(STATUS "pybind11: ${pybind11_VERSION} (${_tt_pybind11_dir})")
