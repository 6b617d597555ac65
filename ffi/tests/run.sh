#!/usr/bin/env bash
# Builds the shmsync-ffi static library and runs the C11 and C++17 test suites against it
# (ffi/tests/c/: forked processes; see suite.h). Used by ci/check.sh's ffi lane.
#   ffi/tests/run.sh [--debug]      (default: release library)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
profile=release
[[ "${1:-}" == "--debug" ]] && profile=debug
target_dir="${CARGO_TARGET_DIR:-$root/target}"
flags=()
[[ "$profile" == release ]] && flags+=(--release)
cargo build -p shmsync-ffi "${flags[@]}" --manifest-path "$root/Cargo.toml"
lib="$target_dir/$profile/libshmsync_ffi.a"
out="$target_dir/ffi-tests"
mkdir -p "$out"
# What a Rust static library needs from the system on Linux (rustc --print native-static-libs).
libs=(-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc)
warn=(-Wall -Wextra -Werror -Wno-unused-function)
cc -std=c11 -O2 "${warn[@]}" -I"$root/include" -o "$out/test_c" "$root/ffi/tests/c/test_c.c" "$lib" "${libs[@]}"
c++ -std=c++17 -O2 "${warn[@]}" -I"$root/include" -o "$out/test_cpp" "$root/ffi/tests/c/test_cpp.cpp" "$lib" "${libs[@]}"
"$out/test_c"
"$out/test_cpp"
