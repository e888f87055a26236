#!/usr/bin/env bash
# Installs the Tani Hub gateway on Raspberry Pi OS (Debian 12 based), from this checkout.
#   sudo deploy/gateway/install-pi.sh
# Installs only the "gateway" extra (pyserial, pymodbus, paho-mqtt) from uv.lock, exactly the
# versions and files the tests ran with (aarch64 and armv7l wheels): no server packages. Needs the
# package registry once, for the locked uv and wheels; Raspberry Pi OS's extra index is not used.
set -euo pipefail

[ "$(id -u)" -eq 0 ] || { echo "run as root: sudo $0" >&2; exit 1; }
src=$(cd "$(dirname "$0")/../.." && pwd)
prefix=/opt/tani-hub

apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    python3 python3-venv systemd-timesyncd

id tani >/dev/null 2>&1 || useradd --system --home /var/lib/tani-gateway --shell /usr/sbin/nologin \
    --groups dialout tani
install -d -o tani -g dialout -m 0750 /var/lib/tani-gateway
install -d -m 0755 /etc/tani

mkdir -p "$prefix"
cp -a "$src/." "$prefix/"
UV_HOME="$prefix/.uv" PYTHON=/usr/bin/python3 "$prefix/deploy/install-from-lock.sh" "$prefix/.venv" gateway

if [ ! -f /etc/tani/gateway.toml ]; then
    install -m 0640 -o root -g tani "$src/deploy/examples/gateway.toml" /etc/tani/gateway.toml
    echo "Edit /etc/tani/gateway.toml (gateway_id, broker, password, serial ports), then:"
fi
install -m 0644 "$src/deploy/gateway/tani-gateway.service" /etc/systemd/system/tani-gateway.service
systemctl daemon-reload
systemctl enable tani-gateway.service
echo "  sudo systemctl restart tani-gateway && journalctl -u tani-gateway -f"
