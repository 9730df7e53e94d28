#!/bin/bash
# verify-unit.sh: checks deploy/systemd/shadowproxy.service with `systemd-analyze verify`, strictly: any message
# (an unknown key, a value systemd would ignore, a missing command) is a failure, although systemd-analyze itself
# exits 0 for most of them. Needs no running systemd: the unit is checked inside a scratch root that holds the
# unit, the real redirect helper, a stand-in for the proxy binary and a copy of the system's own units.
#
# Usage (as root, or as any user when systemd is already installed):  deploy/test/verify-unit.sh
# Installs Debian's systemd package when systemd-analyze is missing. Takes about a second.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
unit=$here/../systemd/shadowproxy.service
helper=$here/../systemd/shadowproxy-redirect

if ! command -v systemd-analyze >/dev/null; then
    echo "verify-unit: installing systemd (for systemd-analyze)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y -qq systemd >/dev/null ||
        { apt-get -o DPkg::Lock::Timeout=120 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y -qq systemd >/dev/null; }
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

mkdir -p "$root/etc/systemd/system" "$root/usr/local/lib/shadowproxy" "$root/etc/shadowproxy" "$root/usr/lib/systemd"
cp "$unit" "$root/etc/systemd/system/shadowproxy.service"
install -m 0755 "$helper" "$root/usr/local/lib/shadowproxy/shadowproxy-redirect"
printf '#!/bin/sh\nexit 0\n' >"$root/usr/local/lib/shadowproxy/ShadowProxy"
chmod 0755 "$root/usr/local/lib/shadowproxy/ShadowProxy"
printf 'REDIRECT_INTERFACE=eth0\n' >"$root/etc/shadowproxy/redirect.env"
# multi-user.target, network-online.target, sysinit.target: the dependencies verify loads.
cp -a /lib/systemd/system "$root/usr/lib/systemd/"

set +e
output=$(systemd-analyze verify --root="$root" --man=no --generators=no shadowproxy.service 2>&1)
rc=$?
set -e

echo "systemd-analyze verify shadowproxy.service: exit $rc"
if [[ -n $output ]]; then
    echo "$output"
fi
if ((rc != 0)) || [[ -n $output ]]; then
    echo "FAIL verify-unit: shadowproxy.service"
    exit 1
fi

# Informational: systemd's own rating of the sandbox (lower is better).
if systemd-analyze security --help 2>/dev/null | grep -q -- '--offline'; then
    systemd-analyze security --offline=yes --root="$root" shadowproxy.service 2>/dev/null | tail -n 1 || true
fi
echo "PASS verify-unit: shadowproxy.service"
