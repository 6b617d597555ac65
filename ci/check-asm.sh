#!/usr/bin/env bash
# Proves that shmsync_arch::cpu_relax emits the intended spin-wait instruction:
# `pause` on x86_64 and `isb` on aarch64, for Linux and Apple targets.
#
# It builds ci/asm-probe (its own workspace, depending on ../../arch) to one object file
# per target with `--emit=obj` (no linker needed), disassembles each probe function with
# llvm-objdump from the rustup `llvm-tools` component, and fails when an instruction is
# missing or a probe symbol cannot be found.
#
# Usage: ci/check-asm.sh            (from the repository root)
# Env:   CARGO_TARGET_DIR  defaults to target/asm-probe
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target/asm-probe}
host=$(rustc -vV | sed -n 's/^host: //p')
objdump="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-objdump"
[[ -x $objdump ]] || { echo "llvm-objdump not found at $objdump (rustup component add llvm-tools)"; exit 1; }

# target  instruction-mnemonic
checks=(
  "x86_64-unknown-linux-gnu pause"
  "x86_64-apple-darwin pause"
  "aarch64-unknown-linux-musl isb"
  "aarch64-apple-darwin isb"
)
probes=(shmsync_probe_cpu_relax shmsync_probe_backoff_spin)

failed=0
for check in "${checks[@]}"; do
  read -r target insn <<<"$check"
  deps="$CARGO_TARGET_DIR/$target/release/deps"
  obj=
  for attempt in 1 2; do
    cargo rustc --quiet --manifest-path ci/asm-probe/Cargo.toml --release --lib \
      --target "$target" -- --emit=obj
    # The newest object is this build's (a stale one from an older probe hash is older).
    obj=$(ls -t "$deps"/shmsync_asm_probe-*.o 2>/dev/null | head -n 1 || true)
    [[ -n $obj ]] && break
    # Cargo judged the build fresh but the object is gone (cargo does not track it):
    # make the probe look modified and build once more.
    touch ci/asm-probe/src/lib.rs
  done
  if [[ -z $obj ]]; then
    echo "FAIL $target: cargo wrote no probe object under $deps"
    failed=1
    continue
  fi
  for probe in "${probes[@]}"; do
    # Mach-O prefixes C symbols with an underscore, so try both spellings; the awk keeps
    # the instructions printed below the function's "<name>:" label.
    body=
    for sym in "$probe" "_$probe"; do
      body=$("$objdump" -d --no-show-raw-insn --disassemble-symbols="$sym" "$obj" 2>/dev/null |
        awk '/^[0-9a-f]+ <.*>:$/ { on = 1; next } on && NF { print }')
      [[ -n $body ]] && break
    done
    if [[ -z $body ]]; then
      echo "FAIL $target: symbol $probe not found in $obj"
      failed=1
    elif grep -Eq "[[:space:]]$insn([[:space:]]|$)" <<<"$body"; then
      n=$(grep -Ec "[[:space:]]$insn([[:space:]]|$)" <<<"$body")
      echo "ok   $target: $probe contains $insn ($n)"
    else
      echo "FAIL $target: $probe has no $insn; disassembly:"
      sed 's/^/     /' <<<"$body"
      failed=1
    fi
  done
done
exit "$failed"
