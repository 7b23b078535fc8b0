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
