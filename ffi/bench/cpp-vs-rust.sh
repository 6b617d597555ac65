#!/usr/bin/env bash
# The C ABI's cost, measured: the C++ round-trip benchmark over the C API
# (examples/cpp/cpp_pingpong.cpp: two byte rings of 8-byte items, one per direction)
# next to the Rust pingpong example's ring rows (two Spsc<u64, 8192>), in one run,
# alternating C++ and Rust for ROUNDS rounds, both pinned to CPUs A,B. Prints each
# median, the median of the medians and the ratio C++ / Rust per row.
#   ffi/bench/cpp-vs-rust.sh [ROUNDS=5] [PIN=0,1]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
rounds=${1:-5}
pin=${2:-0,1}
cd "$root"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
cargo build -q -p shmsync-ffi --release
cargo build -q --release --example pingpong
out="$target_dir/ffi-bench"
mkdir -p "$out"
c++ -std=c++17 -O2 -Iinclude -o "$out/cpp_pingpong" examples/cpp/cpp_pingpong.cpp \
  "$target_dir/release/libshmsync_ffi.a" -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "uptime: $(uptime)"
: >"$out/cpp.txt"
: >"$out/rust.jsonl"
for ((r = 1; r <= rounds; r++)); do
  "$out/cpp_pingpong" --pin "$pin" --iters 100000 --block-iters 4000 | tee -a "$out/cpp.txt"
  "$target_dir/release/examples/pingpong" --rows ring-block,ring-spin --pin "$pin" --json \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); [print(json.dumps({"key":r["key"],"median_ns":r["median_ns"]})) for r in d["rows"]]' \
    | tee -a "$out/rust.jsonl"
done
echo "uptime: $(uptime)"
python3 - "$out/cpp.txt" "$out/rust.jsonl" <<'PY'
import json, statistics, sys
cpp, rust = {}, {}
for line in open(sys.argv[1]):
    f = line.split()
    cpp.setdefault(f[0], []).append(float(f[2]))
for line in open(sys.argv[2]):
    d = json.loads(line)
    rust.setdefault(d["key"], []).append(float(d["median_ns"]))
print(f"{'row':<12} {'C++ medians (ns)':<28} {'Rust medians (ns)':<28} {'C++':>8} {'Rust':>8} {'ratio':>6}")
for row in ("ring-block", "ring-spin"):
    c, r = cpp.get(row, []), rust.get(row, [])
    if not c or not r:
        continue
    mc, mr = statistics.median(c), statistics.median(r)
    print(f"{row:<12} {str([round(x) for x in c]):<28} {str([round(x) for x in r]):<28} {mc:>8.0f} {mr:>8.0f} {mc / mr:>6.3f}")
PY
