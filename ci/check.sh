#!/usr/bin/env bash
# shmsync's test command: every CI lane, from a fresh clone, on Linux x86_64.
#
#   ci/check.sh                 set up what is missing, then run every lane
#   ci/check.sh --quick         fmt, clippy (host) and test (host): the inner loop
#   ci/check.sh --lane NAME...  only these lanes (repeat --lane, or NAME,NAME)
#   ci/check.sh --list          the lanes and what each proves
#
# Set-up is idempotent and quiet (rustup targets and components, a nightly toolchain with
# Miri, pip `ziglang cargo-zigbuild`, apt `qemu-user`); it installs only what the selected
# lanes need. Each lane's output goes to ci/out/<lane>.log (the tail is printed when a lane
# fails); the run ends with a table of lanes, results and durations and the line
# `lanes: N passed, M failed`. Exit status: 0 when every selected lane passed.
#
# Environment:
#   SHMSYNC_CI_REQUIRE_ULOCK=auto  apple-link: 1 = some default-feature artifact of every
#                                  crate that uses shmsync-hal must import ___ulock_wake;
#                                  0 = off; auto (default) = on when hal/src declares
#                                  `fn __ulock_wake(`, i.e. once the ulock backend is in
#                                  the tree
#   SHMSYNC_CI_SKIP_FEATURES="a b" features left out of the host all-features clippy run
#   SHMSYNC_CI_MIRIFLAGS           MIRIFLAGS for the Miri lanes (default: none)
#   LOOM_MAX_PREEMPTIONS           loom's preemption bound in the loom lane (default 3)
set -euo pipefail
exec </dev/null # CI runs without stdin; nothing here may prompt.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out="$root/ci/out"
mkdir -p "$out"

apple_targets=(aarch64-apple-darwin x86_64-apple-darwin)
thumb_targets=(thumbv7em-none-eabihf thumbv6m-none-eabi)
musl_target=aarch64-unknown-linux-musl
no_std_crates=(-p shmsync-arch -p shmsync-hal -p shmsync)

# Lanes in run order, with what each proves (shown by --list and in the README).
lanes=(fmt clippy clippy-cross test asm apple-link no-std miri-host miri-apple-arm64
  miri-apple-x86_64 qemu-aarch64 loom pingpong rtsan)
declare -A about=(
  [fmt]="rustfmt --check (workspace and ci/ crates); the workflow lists the same lanes"
  [clippy]="clippy -D warnings, host, all targets, default and all features"
  [clippy-cross]="clippy -D warnings for both Apple targets (default, app-store-safe) and the thumb targets"
  [test]="cargo test --workspace on the host (futex backend), plus count-syscalls runs"
  [asm]="disassembly shows cpu_relax emits pause (x86_64) and isb (aarch64)"
  [apple-link]="zigbuild links Mach-O tests+examples for both Apple targets and feature sets; symbol audit and its self-test"
  [no-std]="arch, hal and core build for thumbv7em-none-eabihf and thumbv6m-none-eabi"
  [miri-host]="Miri runs the workspace's in-process tests on the host (futex backend)"
  [miri-apple-arm64]="Miri runs the in-process tests for aarch64-apple-darwin"
  [miri-apple-x86_64]="Miri runs the in-process tests for x86_64-apple-darwin"
  [qemu-aarch64]="tests built for aarch64-unknown-linux-musl run under qemu-aarch64 (isb, weak memory order)"
  [loom]="loom model checks (tests named 'loom', built with --cfg loom)"
  [pingpong]="the main job runs every row across two processes, counts every message, and fails on an injected loss"
  [rtsan]="RealtimeSanitizer: blocking shmsync calls in a real-time context are reported by name; wait-free ones and audio_host --helper-poll run clean"
)
quick_lanes=(fmt clippy test)

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

wants() {
  local l w
  for w in "$@"; do
    for l in "${run[@]}"; do [[ $l == "$w" ]] && return 0; done
  done
  return 1
}

fmt_secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# ---------------------------------------------------------------- set-up (idempotent)

host_triple() { rustc -vV | sed -n 's/^host: //p'; }

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else
    echo "need root for: $*" >&2
    return 1
  fi
}

setup() {
  export PATH="$HOME/.cargo/bin:$HOME/.local/bin:$PATH"
  if ! command -v rustup >/dev/null; then
    echo "installing rustup (stable, minimal profile)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
      sh -s -- -y --profile minimal --default-toolchain stable --no-modify-path
  fi

  local have missing t c
  have=$(rustup target list --installed)
  missing=()
  for t in "${apple_targets[@]}" "$musl_target" "${thumb_targets[@]}"; do
    grep -qx "$t" <<<"$have" || missing+=("$t")
  done
  if ((${#missing[@]})); then rustup target add "${missing[@]}"; fi
  have=$(rustup component list --installed)
  missing=()
  for c in clippy rustfmt llvm-tools; do
    grep -q "^$c" <<<"$have" || missing+=("$c")
  done
  if ((${#missing[@]})); then rustup component add "${missing[@]}"; fi

  if wants miri-host miri-apple-arm64 miri-apple-x86_64; then
    if ! rustup toolchain list | grep -q '^nightly'; then
      rustup toolchain install nightly --profile minimal
    fi
    have=$(rustup +nightly component list --installed)
    missing=()
    for c in miri rust-src; do
      grep -q "^$c" <<<"$have" || missing+=("$c")
    done
    if ((${#missing[@]})); then rustup +nightly component add "${missing[@]}"; fi
    have=$(rustup +nightly target list --installed)
    missing=()
    for t in "${apple_targets[@]}"; do grep -qx "$t" <<<"$have" || missing+=("$t"); done
    if ((${#missing[@]})); then rustup +nightly target add "${missing[@]}"; fi
    # Build Miri's sysroots up front, so the lanes time tests rather than sysroots.
    for t in "$(host_triple)" "${apple_targets[@]}"; do
      cargo +nightly miri setup --target "$t"
    done
  fi

  if wants apple-link qemu-aarch64; then
    if ! command -v cargo-zigbuild >/dev/null || ! python3 -c 'import ziglang' 2>/dev/null; then
      if ! python3 -m pip --version >/dev/null 2>&1; then
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip
      fi
      local pip=(python3 -m pip install --quiet --disable-pip-version-check ziglang cargo-zigbuild)
      # Debian/Ubuntu mark the system Python "externally managed" (PEP 668).
      "${pip[@]}" || "${pip[@]}" --break-system-packages
      if command -v pyenv >/dev/null; then pyenv rehash; fi
      hash -r
    fi
    command -v cargo-zigbuild >/dev/null || { echo "cargo-zigbuild is not on PATH after pip install"; return 1; }
  fi

  # RealtimeSanitizer's runtime, from Debian (never built from source: ci/rtsan-check.sh
  # always points RTSAN_LIB_PATH at this package's archive).
  if wants rtsan && ! ls /usr/lib/llvm-22/lib/clang/22/lib/linux/libclang_rt.rtsan-x86_64.a >/dev/null 2>&1; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libclang-rt-22-dev
  fi

  if wants qemu-aarch64 && ! command -v qemu-aarch64 >/dev/null; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user
  fi

  rustc -V
  cargo -V
  if wants miri-host miri-apple-arm64 miri-apple-x86_64; then cargo +nightly miri --version; fi
  if wants apple-link qemu-aarch64; then
    echo "cargo-zigbuild $(python3 -m pip show cargo-zigbuild 2>/dev/null | sed -n 's/^Version: //p')"
    echo "zig $(python3 -m ziglang version)"
  fi
  if wants qemu-aarch64; then qemu-aarch64 --version | head -n 1; fi
}

# ---------------------------------------------------------------- helpers for lanes

metadata() { cargo metadata --no-deps --format-version 1; }
# Every command a lane runs is echoed to its log first.
x() {
  echo "+ $*"
  "$@"
}

# Feature sets the Apple lanes build: the default, app-store-safe, and each known extra
# Apple backend switch that some workspace crate declares (force-mach: the Mach backend on
# every macOS). The switch is only built once a crate has it (cargo metadata).
apple_feature_sets() {
  echo default
  echo app-store-safe
  local f
  for f in force-mach; do
    if [[ -n $(metadata | python3 ci/cargo-json.py with-feature "$f") ]]; then echo "$f"; fi
  done
}

# 1 when the apple-link lane requires default builds to import ___ulock_wake (see the
# header: SHMSYNC_CI_REQUIRE_ULOCK), else 0.
require_ulock() {
  case ${SHMSYNC_CI_REQUIRE_ULOCK:-auto} in
    1) echo 1 ;;
    0) echo 0 ;;
    auto)
      # The FFI declaration `fn __ulock_wake(`, not a mention in a comment.
      if grep -rqsE --include='*.rs' 'fn[[:space:]]+__ulock_wake[[:space:]]*\(' hal/src; then
        echo 1
      else
        echo 0
      fi
      ;;
    *) echo "SHMSYNC_CI_REQUIRE_ULOCK must be 0, 1 or auto" >&2; echo 1 ;;
  esac
}

# The audit profile for a feature set: anything that must link no private symbol.
audit_profile() {
  case $1 in
    default) echo default ;;
    *) echo app-store-safe ;;
  esac
}

# ---------------------------------------------------------------- lanes

lane_fmt() {
  # Every check runs, so one log shows all that is wrong.
  local bad=0 m
  x cargo fmt --all -- --check --color never || bad=1
  for m in ci/asm-probe/Cargo.toml ci/fixtures/*/Cargo.toml; do
    x cargo fmt --manifest-path "$m" -- --check --color never || bad=1
  done
  # The GitHub workflow's lane matrix must list exactly the lanes of this script.
  local wf=.github/workflows/ci.yml listed
  listed=$(awk '/^ +lane:$/ { on = 1; next } on && /^ +- / { print $2; next } on { exit }' "$wf")
  if [[ $listed == "$(printf '%s\n' "${lanes[@]}")" ]]; then
    echo "$wf lists the same ${#lanes[@]} lanes"
  else
    echo "$wf lane matrix differs from ci/check.sh lanes:"
    diff <(printf '%s\n' "${lanes[@]}") <(echo "$listed") || true
    bad=1
  fi
  return "$bad"
}

lane_clippy() {
  x cargo clippy --workspace --all-targets -- -D warnings
  local features
  # shellcheck disable=SC2086 # a word list by design
  features=$(metadata | python3 ci/cargo-json.py features-all ${SHMSYNC_CI_SKIP_FEATURES:-})
  if [[ -n $features ]]; then
    x cargo clippy --workspace --all-targets --features "$features" -- -D warnings
  fi
}

lane_clippy_cross() {
  local t
  local fs flags
  for t in "${apple_targets[@]}"; do
    for fs in $(apple_feature_sets); do
      flags=()
      [[ $fs == default ]] || flags=(--features "$fs")
      x cargo clippy --workspace --all-targets --target "$t" "${flags[@]}" -- -D warnings
    done
  done
  for t in "${thumb_targets[@]}"; do
    x cargo clippy "${no_std_crates[@]}" --lib --no-default-features --target "$t" -- -D warnings
  done
}

lane_test() {
  x cargo test --workspace --no-fail-fast
  local p
  for p in $(metadata | python3 ci/cargo-json.py with-feature count-syscalls); do
    x cargo test -p "$p" --features count-syscalls --no-fail-fast
  done
}

lane_asm() {
  x bash ci/check-asm.sh
}

lane_apple_link() {
  export CARGO_TARGET_DIR="$root/target/zig"
  local t fs json list users u n total=0 examples missing
  users=$(metadata | python3 ci/cargo-json.py hal-users)
  examples=$(metadata | python3 ci/cargo-json.py examples)
  for t in "${apple_targets[@]}"; do
    for fs in $(apple_feature_sets); do
      local flags=()
      [[ $fs == default ]] || flags=(--features "$fs")
      json="$out/apple-link-$t-$fs.json"
      list="$out/apple-link-$t-$fs.artifacts"
      x cargo zigbuild --workspace --tests --examples --target "$t" "${flags[@]}" \
        --message-format=json-render-diagnostics >"$json"
      python3 ci/cargo-json.py executables <"$json" >"$list"
      n=$(grep -c . "$list" || true)
      echo "$t $fs: $n Mach-O artifacts"
      sed 's/^/    /' "$list"
      ((n > 0)) || { echo "no artifacts: the link produced nothing to audit"; return 1; }
      total=$((total + n))
      # Cargo silently skips an example whose required-features are off: say so and fail.
      missing=$(comm -23 <(cut -f2 <<<"$examples" | sed '/^$/d' | sort -u) \
        <(awk -F'\t' '$2 == "example" { print $4 }' "$list" | sort -u))
      if [[ -n $missing ]]; then
        echo "examples not built for $t $fs (required-features?):" $missing
        return 1
      fi
      # Audit right away: the next feature set rewrites the uplifted example files.
      x bash ci/audit-apple-symbols.sh --profile "$(audit_profile "$fs")" $(cut -f3 "$list")
      if [[ $fs == default && $(require_ulock) == 1 ]]; then
        for u in $users; do
          local files
          files=$(awk -F'\t' -v p="$u" '$1 == p { print $3 }' "$list")
          [[ -n $files ]] || continue
          # shellcheck disable=SC2086 # one path per word
          x bash ci/audit-apple-symbols.sh --quiet --profile default \
            --require-import-any ___ulock_wake $files
        done
      else
        [[ $fs == default ]] && echo "(___ulock_wake rule off: SHMSYNC_CI_REQUIRE_ULOCK=${SHMSYNC_CI_REQUIRE_ULOCK:-auto}; auto turns it on once hal/src declares __ulock_wake)"
      fi
    done
  done
  echo "audited $total artifacts"

  # Self-test: the audit must reject deliberately bad artifacts.
  export CARGO_TARGET_DIR="$root/target/fixtures"
  local fixture profile expect
  for t in "${apple_targets[@]}"; do
    for fixture in bad-ulock:app-store-safe:___ulock_wait bad-os-sync:default:_os_sync_wake_by_address_any; do
      IFS=: read -r name profile expect <<<"$fixture"
      x cargo zigbuild --quiet --manifest-path "ci/fixtures/$name/Cargo.toml" --target "$t"
      local bin="$CARGO_TARGET_DIR/$t/debug/$name" report
      if report=$(bash ci/audit-apple-symbols.sh --quiet --profile "$profile" "$bin"); then
        echo "$report"
        echo "SELF-TEST FAILED: the audit accepted $name ($t, $profile)"
        return 1
      fi
      echo "$report"
      grep -q "$expect" <<<"$report" || {
        echo "SELF-TEST FAILED: the audit rejected $name but did not name $expect"
        return 1
      }
      echo "self-test ok: $name rejected for $expect ($t, $profile)"
    done
  done
}

lane_no_std() {
  local t
  for t in "${thumb_targets[@]}"; do
    x cargo build "${no_std_crates[@]}" --no-default-features --target "$t"
  done
}

# Miri: in-process tests only. Tests that fork or map MAP_SHARED memory are
# `#[cfg(not(miri))]` in their crates (Miri can do neither); lanes test and qemu-aarch64
# run them. Cargo keeps Miri's builds under target/miri.
miri() {
  x env MIRIFLAGS="${SHMSYNC_CI_MIRIFLAGS:-}" cargo +nightly miri test --workspace --no-fail-fast "$@"
}
lane_miri_host() { miri; }
# On the Apple targets Miri must really execute the os_sync backend (it shims dlsym and
# os_sync_*): the hal's `miri_selects_os_sync` test asserts backend() == OsSync, and the
# lane fails if that test did not run and pass.
miri_apple() {
  local log="$out/miri-$1.txt"
  miri --target "$1" 2>&1 | tee "$log"
  grep -q 'miri_selects_os_sync \.\.\. ok' "$log" || {
    echo "the os_sync selection test did not run and pass under Miri for $1"
    return 1
  }
}
lane_miri_apple_arm64() { miri_apple aarch64-apple-darwin; }
lane_miri_apple_x86_64() { miri_apple x86_64-apple-darwin; }

lane_qemu_aarch64() {
  export CARGO_TARGET_DIR="$root/target/zig"
  local json="$out/qemu-aarch64.json" list="$out/qemu-aarch64.artifacts"
  x cargo zigbuild --workspace --tests --target "$musl_target" \
    --message-format=json-render-diagnostics >"$json"
  python3 ci/cargo-json.py executables --tests-only <"$json" >"$list"
  local n
  n=$(grep -c . "$list" || true)
  ((n > 0)) || { echo "no test binaries were built"; return 1; }
  local pkg kind bin dir failed=0
  while IFS=$'\t' read -r pkg kind bin _; do
    # Like cargo test: run each binary from its package's directory.
    dir=$(metadata | python3 -c 'import json,sys,os
m = json.load(sys.stdin)
print(next(os.path.dirname(p["manifest_path"]) for p in m["packages"] if p["name"] == sys.argv[1]))' "$pkg")
    echo "== $pkg ($kind): qemu-aarch64 $bin"
    # qemu-user has no seccomp user-notification listener: the audio proof test then
    # counts syscalls with the hal's counters only (it says so in its output).
    if ! (cd "$dir" && SHMSYNC_AUDIO_RT_NO_SECCOMP=1 qemu-aarch64 "$bin"); then
      echo "FAILED under qemu-aarch64: $bin"
      failed=$((failed + 1))
    fi
  done <"$list"
  echo "$n test binaries run under qemu-aarch64, $failed failed"
  ((failed == 0))
}

lane_loom() {
  export CARGO_TARGET_DIR="$root/target/loom"
  export RUSTFLAGS="--cfg loom"
  export LOOM_MAX_PREEMPTIONS=${LOOM_MAX_PREEMPTIONS:-3}
  local log="$out/loom-tests.txt"
  # --tests: unit and integration tests, no doctests (rustdoc would not see --cfg loom).
  x cargo test --workspace --release --tests --no-fail-fast -- loom | tee "$log"
  local ran models
  ran=$(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^passed/) n += $i } END { print n + 0 }' "$log")
  models=$(grep -rlE 'loom::model' --include='*.rs' src arch hal tests benches examples 2>/dev/null || true)
  if [[ -n $models ]]; then
    echo "sources with loom models:"
    sed 's/^/    /' <<<"$models"
    ((ran > 0)) || {
      echo "loom models exist but 0 tests matching 'loom' ran: name them so the filter finds them"
      return 1
    }
    echo "$ran loom tests passed"
  else
    echo "0 loom models yet (no source calls loom::model): lane passes vacuously"
  fi
}

lane_pingpong() {
  local bin=(cargo run --release --quiet --example pingpong --)
  x cargo build --release --example pingpong
  # Every row, two processes, every message counted (exit 1 on a lost/duplicated one).
  x "${bin[@]}" --duration 0.3 --rounds 1 --no-hist
  # The JSON report (verdicts, per-round medians, histogram buckets) and the SVG CDF
  # (one curve per row) say what they should.
  echo "+ ${bin[*]} --json --duration 0.2 --rounds 2 --plot $out/pingpong.svg >$out/pingpong.json"
  "${bin[@]}" --json --duration 0.2 --rounds 2 --plot "$out/pingpong.svg" >"$out/pingpong.json"
  x python3 ci/check-pingpong-report.py "$out/pingpong.json" "$out/pingpong.svg"
  # No run leaves a shared-memory name behind: the object is passed as a descriptor.
  local before after
  before=$(find /dev/shm -maxdepth 1 -name 'shmsync-pp*' 2>/dev/null | wc -l)
  # An injected loss must fail the run, naming the problem.
  local report
  if report=$("${bin[@]}" --rows hal-block --count 1000 --rounds 1 --warmup 0 \
    --inject-drop 500 --stall-timeout 2 2>&1); then
    echo "$report"
    echo "pingpong did not detect the injected loss"
    return 1
  fi
  echo "$report" | tail -n 3
  echo "injected loss detected: exit non-zero"
  # A run killed mid-row, and one that fails at start-up (a CPU that does not exist).
  "${bin[@]}" --duration 30 --rounds 1 --no-hist >/dev/null 2>&1 &
  local pid=$!
  sleep 3
  pkill -KILL -P "$pid" || true
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if report=$("${bin[@]}" --pin 0,4096 --duration 0.1 2>&1); then
    echo "pingpong accepted --pin 0,4096"
    return 1
  fi
  echo "$report" | tail -n 1
  grep -q 'CPU 4096' <<<"$report" || { echo "the --pin error does not name the CPU"; return 1; }
  after=$(find /dev/shm -maxdepth 1 -name 'shmsync-pp*' 2>/dev/null | wc -l)
  if ((after != before)); then
    echo "pingpong runs left $((after - before)) shared-memory name(s) in /dev/shm"
    return 1
  fi
  echo "killed, failing and lost-message runs left no /dev/shm entry"
}

lane_rtsan() {
  x bash ci/rtsan-check.sh
}

# ---------------------------------------------------------------- main

# Everything runs from this function: bash has parsed all of it before the first lane
# starts, so editing or merging this file during a run cannot derail the run.
main() {
  selected=()
  while (($#)); do
    case $1 in
      --quick) selected+=("${quick_lanes[@]}"); shift ;;
      --lane)
        [[ $# -ge 2 ]] || { echo "--lane needs a name (see --list)" >&2; exit 2; }
        IFS=, read -r -a names <<<"$2"
        selected+=("${names[@]}")
        shift 2
        ;;
      --lane=*) IFS=, read -r -a names <<<"${1#--lane=}"; selected+=("${names[@]}"); shift ;;
      --list)
        for l in "${lanes[@]}"; do printf '%-18s %s\n' "$l" "${about[$l]}"; done
        exit 0
        ;;
      -h | --help) usage; exit 0 ;;
      *) echo "unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
  done
  if ((${#selected[@]} == 0)); then
    selected=("${lanes[@]}")
  fi
  for l in "${selected[@]}"; do
    [[ -n ${about[$l]:-} ]] || { echo "unknown lane '$l' (see --list)" >&2; exit 2; }
  done
  # Keep the canonical order and drop duplicates.
  run=()
  for l in "${lanes[@]}"; do
    for s in "${selected[@]}"; do
      if [[ $l == "$s" ]]; then run+=("$l"); break; fi
    done
  done

  echo "shmsync ci: ${#run[@]} lane(s): ${run[*]}"
  echo "logs: $out/"
  start=$(date +%s)
  echo -n "setup ... "
  set +e
  (
    set -euo pipefail
    setup
  ) >"$out/setup.log" 2>&1
  rc=$?
  set -e
  export PATH="$HOME/.cargo/bin:$HOME/.local/bin:$PATH"
  hash -r
  setup_secs=$(($(date +%s) - start))
  if ((rc != 0)); then
    echo "FAILED ($(fmt_secs $setup_secs)); tail of $out/setup.log:"
    tail -n 40 "$out/setup.log" | sed 's/^/    /'
    echo "lanes: 0 passed, ${#run[@]} failed"
    exit 1
  fi
  echo "ok ($(fmt_secs $setup_secs))"

  declare -A result=() took=()
  passed=0
  failed=0
  i=0
  for l in "${run[@]}"; do
    i=$((i + 1))
    log="$out/$l.log"
    printf '[%2d/%d] %-18s ... ' "$i" "${#run[@]}" "$l"
    t0=$(date +%s)
    set +e
    (
      set -euo pipefail
      "lane_${l//-/_}"
    ) >"$log" 2>&1
    rc=$?
    set -e
    took[$l]=$(($(date +%s) - t0))
    if ((rc == 0)); then
      result[$l]=pass
      passed=$((passed + 1))
      echo "pass ($(fmt_secs "${took[$l]}"))"
    else
      result[$l]=FAIL
      failed=$((failed + 1))
      echo "FAIL ($(fmt_secs "${took[$l]}")); tail of $log:"
      tail -n 60 "$log" | sed 's/^/    /'
    fi
  done

  total=$(($(date +%s) - start))
  echo
  printf '%-18s %-6s %s\n' lane result duration
  printf '%-18s %-6s %s\n' setup ok "$(fmt_secs $setup_secs)"
  for l in "${run[@]}"; do
    printf '%-18s %-6s %s\n' "$l" "${result[$l]}" "$(fmt_secs "${took[$l]}")"
  done
  printf '%-18s %-6s %s\n' total "" "$(fmt_secs $total)"
  echo "lanes: $passed passed, $failed failed"
  ((failed == 0))
}

# `exit` on the same line: bash never reads past it, even if this file changed meanwhile.
main "$@"; exit
