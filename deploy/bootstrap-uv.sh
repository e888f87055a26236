#!/usr/bin/env bash
# Puts the uv that uv.lock pins into a small venv of its own, checked against the lock's hashes.
# uv is the one tool that installs everything else from the lock (make, the Dockerfile and
# deploy/gateway/install-pi.sh all call this first), so it comes from the lock too.
#
#   deploy/bootstrap-uv.sh DIR      DIR/bin/uv afterwards; quick and silent when it is there
#
# PYTHON picks the interpreter (default python3, 3.11 or newer: tomllib reads the lock).
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$1
python=${PYTHON:-python3}

# "uv==X.Y.Z --hash=sha256:... ..." for every wheel and the sdist the lock lists for uv.
requirement=$("$python" - "$root/uv.lock" <<'EOF'
import sys
import tomllib

with open(sys.argv[1], "rb") as handle:
    lock = tomllib.load(handle)
found = [p for p in lock["package"] if p["name"] == "uv"]
if len(found) != 1:
    sys.exit(f"{sys.argv[1]} pins no single uv: run 'make lock' on a machine with network")
package = found[0]
hashes = [w["hash"] for w in package.get("wheels", [])]
hashes += [package["sdist"]["hash"]] if "sdist" in package else []
print(f"uv=={package['version']}", *(f"--hash={h}" for h in hashes))
EOF
)
version=${requirement%% *}
version=${version#uv==}

if [ -x "$dir/bin/uv" ] && [ "$("$dir/bin/uv" --version 2>/dev/null | cut -d' ' -f2)" = "$version" ]; then
    exit 0
fi
echo "Installing uv $version (pinned by uv.lock) into $dir"
"$python" -m venv "$dir" || { echo "python3 -m venv failed: on Debian install python3-venv" >&2; exit 1; }
printf '%s\n' "$requirement" >"$dir/uv-requirement.txt"
# --require-hashes: pip refuses any file whose hash the lock does not list.
"$dir/bin/python" -m pip install -q --disable-pip-version-check --require-hashes --no-deps \
    -r "$dir/uv-requirement.txt"
