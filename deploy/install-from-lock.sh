#!/usr/bin/env bash
# Installs Tani Hub with the given extras into VENV from uv.lock and nothing else, not editable:
# the install of a Raspberry Pi (deploy/gateway/install-pi.sh) and of the server image
# (deploy/Dockerfile). Every file is one the lock lists, its hash checked; nothing is resolved.
#
#   deploy/install-from-lock.sh VENV EXTRA...      e.g. /opt/tani-hub/.venv gateway
#
# UV_HOME: where the pinned uv lives (default: .uv in this checkout, made by bootstrap-uv.sh);
# PYTHON: the interpreter of VENV (default python3).
set -euo pipefail

[ $# -ge 2 ] || { echo "usage: $0 VENV EXTRA..." >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
venv=$1
shift
uv_home=${UV_HOME:-$root/.uv}
extras=()
for extra in "$@"; do
    extras+=(--extra "$extra")
done

"$root/deploy/bootstrap-uv.sh" "$uv_home"
# Only the package registries are reachable: Debian's Python, never one uv would download.
# Bytecode compiled once, now: the service's user cannot write it into VENV, and compiling
# on every start took a server process 4.5 s instead of 1.6 s here.
UV_PROJECT_ENVIRONMENT=$venv UV_PYTHON_DOWNLOADS=never \
    "$uv_home/bin/uv" sync --project "$root" --locked --no-editable --compile-bytecode \
    --python "${PYTHON:-python3}" "${extras[@]}"
