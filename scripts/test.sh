#!/usr/bin/env bash
# Sets up, builds and runs every test: gtest (plain and ASan/UBSan builds,
# through ctest) and pytest. Usage: bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "== C++ tests (release build) =="
ctest --test-dir build --output-on-failure -j2

echo "== C++ tests (AddressSanitizer + UBSan) =="
cmake -S . -B build-asan -DASC_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug \
  -DASC_BUILD_TF_OPS=OFF -DASC_BUILD_PYBIND=OFF -DASC_OUTPUT_DIR="$PWD/build-asan/lib" >/dev/null
cmake --build build-asan -j2
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j2

echo "== Python tests =="
TF_CPP_MIN_LOG_LEVEL=2 python3 -m pytest -q tests "$@"
