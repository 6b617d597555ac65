#!/usr/bin/env bash
# RealtimeSanitizer lane (Linux x86_64): the `rtsan` feature against the real RTSan runtime.
#
#   1. tests/rtsan.rs: every blocking shmsync function called inside a real-time context is
#      reported by name and stops the process; the wait-free / may-wake set runs clean.
#   2. The audio example with `--helper-poll` (the callback never has to wake the helper)
#      runs for $RTSAN_SECONDS seconds with no report at all.
#   3. The same example without `--helper-poll` is reported (the futex `syscall` of the
#      first wake of a parked helper): proof that the sanitizer really watches the
#      callback, so the clean run of step 2 means something.
#
# Needs LLVM's runtime (this script refuses to let rtsan-standalone fetch or build one):
# `apt-get install libclang-rt-22-dev`, or point
# RTSAN_LIB_PATH at another libclang_rt.rtsan-x86_64.a. Run from the workspace root:
#   ci/rtsan-check.sh
set -euo pipefail

export RTSAN_ENABLE=1
export RTSAN_LIB_PATH="${RTSAN_LIB_PATH:-/usr/lib/llvm-22/lib/clang/22/lib/linux/libclang_rt.rtsan-x86_64.a}"
seconds="${RTSAN_SECONDS:-3}"

if [[ ! -f "$RTSAN_LIB_PATH" ]]; then
    echo "rtsan-check: no RTSan runtime at $RTSAN_LIB_PATH (apt-get install libclang-rt-22-dev)" >&2
    exit 1
fi

echo "== 1. tests/rtsan.rs (blocking calls reported, wait-free calls clean)"
cargo test --release --features rtsan --test rtsan

echo "== 2. audio_host --helper-poll, ${seconds} s: no report expected"
cargo build --release --features rtsan --example audio_host
exe=target/release/examples/audio_host
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

# Runs the example; prints its exit status. Removes the shared-memory name a host stopped
# by RTSan leaves behind (/dev/shm/shmsync-audio-<pid>).
run_host() {
    local status=0 pid
    "$exe" --seconds "$seconds" "$@" >"$log" 2>&1 &
    pid=$!
    wait "$pid" || status=$?
    rm -f "/dev/shm/shmsync-audio-$pid"
    echo "$status"
}

status="$(run_host --helper-poll)"
if [[ "$status" != 0 ]] || grep -q "RealtimeSanitizer" "$log"; then
    cat "$log"
    echo "rtsan-check: FAILED: audio_host --helper-poll exited $status or was reported" >&2
    exit 1
fi
grep -E "callbacks|xruns" "$log" || true
echo "audio_host --helper-poll: exit 0, no RealtimeSanitizer report"

echo "== 3. audio_host with a parking helper: the wake's futex syscall must be reported"
status="$(run_host)"
if [[ "$status" == 0 ]] || ! grep -q 'real-time unsafe function `syscall`' "$log"; then
    cat "$log"
    echo "rtsan-check: FAILED: expected RTSan to report the wake syscall (exit $status)" >&2
    exit 1
fi
echo "audio_host (parking helper): stopped by RTSan as expected (exit $status):"
grep -E "ERROR: RealtimeSanitizer|real-time context" "$log"
echo "rtsan-check: ok"
