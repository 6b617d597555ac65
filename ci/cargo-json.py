#!/usr/bin/env python3
"""Small queries over cargo's JSON output, for ci/check.sh (python3 only, no packages).

  cargo metadata --no-deps --format-version 1 | ci/cargo-json.py features-all [SKIP...]
      every workspace feature as `package/feature`, comma-separated (`default` and the
      features named in SKIP left out); empty output when there are none
  cargo metadata --no-deps --format-version 1 | ci/cargo-json.py with-feature FEATURE
      the workspace packages that declare FEATURE, one per line
  cargo metadata --no-deps --format-version 1 | ci/cargo-json.py hal-users
      shmsync-hal and every workspace package with a normal dependency on it, one per line
  cargo build --message-format=json ... | ci/cargo-json.py executables [--tests-only]
      `package<TAB>kind<TAB>path<TAB>target` for every executable artifact cargo reported
      (test binaries, examples, bins); --tests-only keeps test harness binaries only
  cargo metadata --no-deps --format-version 1 | ci/cargo-json.py examples
      `package<TAB>example` for every example target in the workspace
"""

import json
import sys

HAL = "shmsync-hal"


def metadata():
    return json.load(sys.stdin)


def members(meta):
    ids = set(meta["workspace_members"])
    return [p for p in meta["packages"] if p["id"] in ids]


def features_all(skip):
    out = []
    for p in members(metadata()):
        for f in sorted(p["features"]):
            if f != "default" and f not in skip:
                out.append(f"{p['name']}/{f}")
    print(",".join(out))


def with_feature(feature):
    for p in members(metadata()):
        if feature in p["features"]:
            print(p["name"])


def hal_users():
    for p in members(metadata()):
        normal = [d for d in p["dependencies"] if d["kind"] is None]
        if p["name"] == HAL or any(d["name"] == HAL for d in normal):
            print(p["name"])


def executables(tests_only):
    for line in sys.stdin:
        line = line.strip()
        if not line.startswith("{"):
            continue
        msg = json.loads(line)
        if msg.get("reason") != "compiler-artifact" or not msg.get("executable"):
            continue
        if tests_only and not msg["profile"]["test"]:
            continue
        kind = ",".join(msg["target"]["kind"])
        if msg["profile"]["test"]:
            kind = "test:" + kind
        name = msg["target"]["name"]
        print(f"{package_name(msg)}\t{kind}\t{msg['executable']}\t{name}")


def examples():
    for p in members(metadata()):
        for t in p["targets"]:
            if "example" in t["kind"]:
                print(f"{p['name']}\t{t['name']}")


def package_name(msg):
    """Name from a package id: `path+file:///dir#name@1.0`, `path+file:///name#1.0`
    (name equals the directory) or the older `name 1.0 (path+file:///dir)`."""
    pid = msg["package_id"]
    if "#" in pid:
        url, frag = pid.rsplit("#", 1)
        if "@" in frag:
            return frag.rsplit("@", 1)[0]
        return url.rstrip("/").rsplit("/", 1)[-1]
    return pid.split(" ", 1)[0]


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "features-all":
        features_all(set(args))
    elif cmd == "with-feature" and len(args) == 1:
        with_feature(args[0])
    elif cmd == "hal-users" and not args:
        hal_users()
    elif cmd == "examples" and not args:
        examples()
    elif cmd == "executables" and args in ([], ["--tests-only"]):
        executables(bool(args))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
