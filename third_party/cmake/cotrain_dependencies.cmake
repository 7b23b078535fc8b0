# Every external dependency, found from the system (Debian -dev packages) or, for libtorch,
# through CMAKE_PREFIX_PATH. Nothing is vendored or downloaded at build time.
find_package(Threads REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(CLI11 REQUIRED)
find_package(ZLIB REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(UTF8PROC REQUIRED IMPORTED_TARGET libutf8proc)
pkg_check_modules(SENTENCEPIECE REQUIRED IMPORTED_TARGET sentencepiece)
pkg_check_modules(SECCOMP REQUIRED IMPORTED_TARGET libseccomp)
if(COTRAIN_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()

if(COTRAIN_WITH_TORCH)
  # The pip wheel: cmake -DCMAKE_PREFIX_PATH=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
  # A CUDA libtorch (>= 2.5) is used the same way by pointing CMAKE_PREFIX_PATH at it.
  find_package(Torch REQUIRED)
  set(CMAKE_CXX_FLAGS "${CMAKE_CXX_FLAGS} ${TORCH_CXX_FLAGS}")

  # tcmalloc (libgoogle-perftools-dev) for the executables that train and generate: it keeps the
  # large blocks libtorch frees, which glibc unmaps and faults in again every step (a third of
  # the CPU time of a bf16 training step went to the kernel). Optional: without it cotrain is
  # slower, not different.
  find_library(COTRAIN_TCMALLOC NAMES tcmalloc_minimal)
  if(NOT COTRAIN_TCMALLOC)
    message(WARNING "tcmalloc_minimal not found (Debian: libgoogle-perftools-dev): CPU training and generation will be slower")
  endif()

  # c10d (distributed training, src/train/distributed.cpp). libtorch has Gloo compiled in but
  # ships none of Gloo's headers, which c10d's ProcessGroupGloo.hpp includes: Debian's
  # libgloo-dev provides them (headers only are used; we link libtorch, never -lgloo).
  find_path(COTRAIN_GLOO_INCLUDE_DIR gloo/config.h)
  if(NOT COTRAIN_GLOO_INCLUDE_DIR)
    message(FATAL_ERROR "Gloo's headers (gloo/config.h) were not found: install Debian's libgloo-dev "
                        "(scripts/setup.sh does)")
  endif()
  # NCCL: a CUDA libtorch built with it tells its users so (USE_C10D_NCCL among its targets'
  # compile definitions); ProcessGroupNCCL.hpp must also compile here (it needs nccl.h). A CPU
  # libtorch, or one without NCCL, builds without it: several ranks on CUDA are then refused.
  set(COTRAIN_WITH_NCCL OFF)
  set(torch_definitions)
  set(torch_includes)
  foreach(target torch torch_cpu torch_cuda torch::cudart)
    if(TARGET ${target})
      get_target_property(definitions ${target} INTERFACE_COMPILE_DEFINITIONS)
      get_target_property(includes ${target} INTERFACE_INCLUDE_DIRECTORIES)
      if(definitions)
        list(APPEND torch_definitions ${definitions})
      endif()
      if(includes)
        list(APPEND torch_includes ${includes})
      endif()
    endif()
  endforeach()
  if("USE_C10D_NCCL" IN_LIST torch_definitions)
    include(CheckCXXSourceCompiles)
    # Compile only, with the headers' directories rather than the targets (a try_compile project
    # cannot resolve libtorch's own imported dependencies).
    set(CMAKE_REQUIRED_INCLUDES ${TORCH_INCLUDE_DIRS} ${torch_includes} ${CUDAToolkit_INCLUDE_DIRS} ${CUDA_INCLUDE_DIRS})
    set(CMAKE_REQUIRED_DEFINITIONS -DUSE_C10D_NCCL -DUSE_DISTRIBUTED)
    set(CMAKE_REQUIRED_FLAGS "-std=c++20 ${TORCH_CXX_FLAGS}")
    set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
    check_cxx_source_compiles("#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
int main() { return 0; }" COTRAIN_NCCL_HEADERS_COMPILE)
    unset(CMAKE_REQUIRED_INCLUDES)
    unset(CMAKE_REQUIRED_DEFINITIONS)
    unset(CMAKE_REQUIRED_FLAGS)
    unset(CMAKE_TRY_COMPILE_TARGET_TYPE)
    if(COTRAIN_NCCL_HEADERS_COMPILE)
      set(COTRAIN_WITH_NCCL ON)
    else()
      message(WARNING "libtorch has NCCL but c10d/ProcessGroupNCCL.hpp does not compile (is nccl.h on the "
                      "include path?): building without NCCL")
    endif()
  endif()
  if(COTRAIN_WITH_NCCL)
    message(STATUS "cotrain: c10d backends: gloo, nccl")
  else()
    message(STATUS "cotrain: c10d backends: gloo")
  endif()
endif()

# libtorch's include directory carries its own, newer {fmt}, which would shadow the system
# {fmt} that spdlog is built against. A directory holding only a link to the system's fmt/
# headers is searched before libtorch's (see src/CMakeLists.txt).
if(COTRAIN_WITH_TORCH)
  find_path(COTRAIN_SYSTEM_FMT_INCLUDE fmt/format.h PATHS /usr/include /usr/local/include NO_CACHE REQUIRED)
  set(COTRAIN_FMT_SHIM ${CMAKE_BINARY_DIR}/fmt-shim)
  file(MAKE_DIRECTORY ${COTRAIN_FMT_SHIM})
  file(CREATE_LINK ${COTRAIN_SYSTEM_FMT_INCLUDE}/fmt ${COTRAIN_FMT_SHIM}/fmt SYMBOLIC)
endif()
