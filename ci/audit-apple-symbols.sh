#!/usr/bin/env bash
# Symbol audit for Mach-O artifacts (test binaries, examples) built for Apple targets.
#
# For every file it lists the imported symbols (`llvm-nm -m --undefined-only`, which also
# says whether an import is weak) and applies these rules:
#
#   all profiles     no strong import of `_os_sync_*`: the os_sync calls exist only on
#                    macOS 14.4+, so they must be resolved with dlsym (or weak-imported),
#                    or the binary would not launch on older systems;
#   app-store-safe   no import of `___ulock*`, `_bootstrap_register2` or
#                    `_xpc_dictionary_set_mach_send` (private API), and none of the strings
#                    `__ulock`, `bootstrap_register2`, `xpc_dictionary_set_mach_send` anywhere
#                    in the file (a dlsym of a private name is still a private-API use);
#   --require-import SYM      every file must import SYM;
#   --require-import-any SYM  at least one of the files must import SYM (a crate's test
#                    binary that never waits legitimately imports no wait/wake symbol, so
#                    "the crate uses the symbol" is checked over all its artifacts).
#
# Note: zig's libSystem stub (cargo zigbuild) also exports private symbols, so a successful
# link proves only that a name exists; this audit is the App Store gate.
#
# Usage: ci/audit-apple-symbols.sh [--profile default|app-store-safe]
#            [--require-import SYM]... [--require-import-any SYM]... [--quiet] FILE...
# Exit status: 0 when every rule holds, 1 when any rule is broken, 2 on bad usage.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

profile=default
quiet=0
require_all=()
require_any=()
files=()
while (($#)); do
  case $1 in
    --profile) profile=${2:?}; shift 2 ;;
    --require-import) require_all+=("${2:?}"); shift 2 ;;
    --require-import-any) require_any+=("${2:?}"); shift 2 ;;
    --quiet) quiet=1; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; files+=("$@"); break ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) files+=("$1"); shift ;;
  esac
done
case $profile in
  default | app-store-safe) ;;
  *) echo "unknown profile '$profile' (default | app-store-safe)" >&2; exit 2 ;;
esac
((${#files[@]})) || { echo "no files to audit" >&2; exit 2; }

host=$(rustc -vV | sed -n 's/^host: //p')
nm="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-nm"
[[ -x $nm ]] || { echo "llvm-nm not found at $nm (rustup component add llvm-tools)" >&2; exit 2; }

# Imported names that make an app-store-safe artifact fail (extended regex over the name).
private_imports='^(___ulock.*|_bootstrap_register2|_xpc_dictionary_set_mach_send)$'
# Byte strings that make an app-store-safe artifact fail wherever they appear.
private_strings=(__ulock bootstrap_register2 xpc_dictionary_set_mach_send)

problems=0
declare -A any_found=()
problem() {
  echo "  FAIL $1"
  problems=$((problems + 1))
}

for f in "${files[@]}"; do
  echo "== $f ($profile)"
  if [[ ! -f $f ]]; then
    problem "no such file"
    continue
  fi
  # 64-bit Mach-O (feedfacf, little-endian on disk), 32-bit Mach-O, or a universal binary.
  magic=$(od -An -tx1 -N4 "$f" | tr -d ' \n')
  case $magic in
    cffaedfe | cefaedfe | cafebabe) ;;
    *) problem "not a Mach-O file (magic $magic)"; continue ;;
  esac
  # Lines look like: "(undefined) external ___ulock_wake (from libSystem)" or
  # "(undefined) weak external _os_sync_wake_by_address_any (from libSystem)".
  listing=$("$nm" -m --undefined-only "$f")
  count=$(grep -c . <<<"$listing" || true)
  echo "  $count imported symbols"
  ((quiet)) || sed 's/^[[:space:]]*/    /' <<<"$listing"

  # name<TAB>weak|strong for each import.
  imports=$(awk '{
      weak = ($2 == "weak") ? "weak" : "strong"
      for (i = 1; i <= NF; i++) if ($i == "external") { print $(i + 1) "\t" weak; break }
    }' <<<"$listing")

  while IFS=$'\t' read -r name kind; do
    [[ -n $name ]] || continue
    if [[ $name == _os_sync_* && $kind == strong ]]; then
      problem "strong import of $name (resolve it with dlsym, or weak-import it)"
    fi
    if [[ $profile == app-store-safe && $name =~ $private_imports ]]; then
      problem "app-store-safe artifact imports private symbol $name"
    fi
  done <<<"$imports"

  if [[ $profile == app-store-safe ]]; then
    for s in "${private_strings[@]}"; do
      if grep -qaF -- "$s" "$f"; then
        problem "app-store-safe artifact contains the string '$s'"
      fi
    done
  fi

  for sym in "${require_all[@]}"; do
    if ! cut -f1 <<<"$imports" | grep -qxF -- "$sym"; then
      problem "does not import $sym (required)"
    fi
  done
  for sym in "${require_any[@]}"; do
    if cut -f1 <<<"$imports" | grep -qxF -- "$sym"; then
      any_found[$sym]=1
    fi
  done
done

for sym in "${require_any[@]}"; do
  if [[ -z ${any_found[$sym]:-} ]]; then
    echo "== (all ${#files[@]} files)"
    problem "none of the files imports $sym (required in at least one)"
  fi
done

if ((problems)); then
  echo "audit: $problems problem(s) in ${#files[@]} file(s) [$profile]"
  exit 1
fi
echo "audit: ${#files[@]} file(s) clean [$profile]"
