#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds Release and runs every CTest test
# (unit, kernel, e2e; root tests skip when not root), then builds the unit and kernel tests
# with ASan+UBSan and runs them too.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
ctest --test-dir build --output-on-failure --timeout 600 -j2
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLOOKOUT_SANITIZE=ON \
      -DLOOKOUT_BENCH=OFF >/dev/null
cmake --build build-asan --parallel "$(nproc)" --target lookout_unit_tests lookout_kernel_tests
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure --timeout 900 -L 'unit|kernel' -j2
