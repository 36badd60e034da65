# Finds the installed TensorFlow pip package through its own sysconfig, so the
# op library is compiled with exactly the flags the framework was built with.
# Defines TensorFlow_FOUND and the imported target TensorFlow::framework.
find_package(Python3 REQUIRED COMPONENTS Interpreter)

execute_process(
  COMMAND "${Python3_EXECUTABLE}" -c
    "import tensorflow as tf; print(tf.sysconfig.get_include()); print(tf.sysconfig.get_lib()); print(tf.__version__)"
  OUTPUT_VARIABLE _tf_out
  ERROR_QUIET
  RESULT_VARIABLE _tf_rc
  OUTPUT_STRIP_TRAILING_WHITESPACE)

if(_tf_rc EQUAL 0)
  string(REPLACE "\n" ";" _tf_lines "${_tf_out}")
  list(LENGTH _tf_lines _n)
  math(EXPR _last "${_n} - 1")
  list(GET _tf_lines ${_last} TensorFlow_VERSION)
  math(EXPR _lib_i "${_n} - 2")
  math(EXPR _inc_i "${_n} - 3")
  list(GET _tf_lines ${_lib_i} TensorFlow_LIB_DIR)
  list(GET _tf_lines ${_inc_i} TensorFlow_INCLUDE_DIR)
  find_file(TensorFlow_FRAMEWORK libtensorflow_framework.so.2 PATHS "${TensorFlow_LIB_DIR}" NO_DEFAULT_PATH)
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(TensorFlow
  REQUIRED_VARS TensorFlow_INCLUDE_DIR TensorFlow_FRAMEWORK
  VERSION_VAR TensorFlow_VERSION)

if(TensorFlow_FOUND AND NOT TARGET TensorFlow::framework)
  add_library(TensorFlow::framework SHARED IMPORTED)
  set_target_properties(TensorFlow::framework PROPERTIES
    IMPORTED_LOCATION "${TensorFlow_FRAMEWORK}"
    INTERFACE_INCLUDE_DIRECTORIES "${TensorFlow_INCLUDE_DIR}"
    INTERFACE_COMPILE_DEFINITIONS "EIGEN_MAX_ALIGN_BYTES=64")
endif()
