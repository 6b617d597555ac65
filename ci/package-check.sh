#!/usr/bin/env bash
# Publish-readiness: `cargo package --workspace` (which builds each crate from its packed
# sources against its packed siblings), then each unpacked crate's tests are built and run
# from the package alone, with its siblings taken from their packages too. Catches what a
# workspace build hides: a file left out of `include`/`exclude`, a test that needs a path
# dev-dependency cargo strips on publish, a README or license file missing.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
pkg=$target/package
rm -rf "$pkg"
# cargo verifies each package against the others through a local registry under
# target/package, and extracts those into $CARGO_HOME/registry/src — where an extraction
# left by an earlier run with the same target path would be reused as is, with its old
# sources. None of these crates comes from crates.io here: drop every such copy first.
cargo_home=${CARGO_HOME:-$HOME/.cargo}
for d in "$cargo_home"/registry/src/*/shmsync-*-"$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"; do
  if [[ -d $d ]]; then rm -rf "$d"; fi
done
echo "+ cargo package --workspace"
cargo package --workspace

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
crates=(shmsync-arch shmsync-hal shmsync-derive shmsync)
patch=()
for c in "${crates[@]}"; do
  patch+=(--config "patch.crates-io.$c.path=\"$pkg/$c-$version\"")
done

for c in "${crates[@]}"; do
  dir=$pkg/$c-$version
  for f in README.md LICENSE-MIT LICENSE-APACHE; do
    [[ -f $dir/$f ]] || { echo "$c: the package has no $f"; exit 1; }
  done
done

# Each crate's tests with the features they need (hal's integration tests declare
# required-features; the core's dev-dependencies turn on hal's).
run() {
  local c=$1
  shift
  echo "+ ($c) cargo test $*"
  (cd "$pkg/$c-$version" && CARGO_TARGET_DIR="$pkg/target" cargo test "${patch[@]}" "$@")
}
run shmsync-arch --no-fail-fast
run shmsync-derive --no-fail-fast
run shmsync-hal --features std,count-syscalls,testing --no-fail-fast
run shmsync --no-fail-fast
echo "every packed crate's tests build and pass from its package"
