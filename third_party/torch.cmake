# libtorch from the installed torch wheel (its CMake package lives in
# torch.utils.cmake_prefix_path). Provides: the `torch` target and TORCH_PYTHON_LIBRARY.
tt_python_query(_tt_torch_prefix "__import__('torch.utils').utils.cmake_prefix_path")
list(APPEND CMAKE_PREFIX_PATH "${_tt_torch_prefix}")

# Torch's CMake package looks for CUDA and friends only when the wheel was built with
# them; the pinned CPU wheel needs nothing else.
find_package(Torch REQUIRED CONFIG)

find_library(TORCH_PYTHON_LIBRARY torch_python
  PATHS "${TORCH_INSTALL_PREFIX}/lib" NO_DEFAULT_PATH REQUIRED)
set(TORCH_LIBRARY_DIR "${TORCH_INSTALL_PREFIX}/lib")
message(STATUS "torch: ${TORCH_INSTALL_PREFIX}")
