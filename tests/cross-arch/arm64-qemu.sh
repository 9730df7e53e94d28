#!/usr/bin/env bash
# The linux-arm64 build on an x86-64 box, under qemu's user-mode emulation: publishes ShadowProxy for linux-arm64,
# runs the demo with it, then the whole test suite with the process-level tests running that arm64 executable
# (SHADOWPROXY_TEST_PROGRAM; the in-process tests stay x86-64). What it checks: the transport's arm64 side (the
# epoll_event layout is 16 bytes there, 12 on x86-64), the published arm64 runtime, and every process-level behaviour.
# What it cannot check: arm64's weaker memory ordering (qemu runs the guest on the host's stronger one) and real
# arm64 timing. About 6 minutes on 2 cores; not part of .ci/run.
#
# Usage: tests/cross-arch/arm64-qemu.sh        (as root on Debian 12: adds the arm64 architecture to dpkg and installs
#                                    qemu-user-static and the arm64 C libraries when missing)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if ! command -v qemu-aarch64-static >/dev/null || [[ ! -e /lib/ld-linux-aarch64.so.1 ]]; then
    echo "arm64: installing qemu-user-static and the arm64 C libraries" >&2
    dpkg --add-architecture arm64
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static libc6:arm64 libstdc++6:arm64 libgcc-s1:arm64 >/dev/null
fi

echo "arm64: publishing ShadowProxy for linux-arm64" >&2
dotnet publish "$root/src/ShadowProxy" -c Release -r linux-arm64 --self-contained -o "$work/publish" --nologo -v quiet >&2

# The tests start the program by path; the container may have no binfmt_misc to hand an arm64 ELF to qemu by itself.
cat >"$work/ShadowProxy" <<EOF
#!/bin/sh
exec qemu-aarch64-static "$work/publish/ShadowProxy" "\$@"
EOF
chmod +x "$work/ShadowProxy"
cp "$work/publish/appsettings.json" "$work/"

echo "arm64: $("$work/ShadowProxy" --version)" >&2
"$work/ShadowProxy" demo >"$work/demo.out" 2>"$work/demo.err" || { cat "$work/demo.err" >&2; echo "arm64: FAIL: the demo exited non-zero" >&2; exit 1; }
lines=$(grep -cE '^/[^ ]* [0-9.]+ [0-9.]+ -?[0-9.]+ [0-9]{3} [0-9]{3}$' "$work/demo.out" || true)
[[ $lines -eq 48 ]] || { cat "$work/demo.out" >&2; echo "arm64: FAIL: the demo printed $lines request lines, not 48" >&2; exit 1; }
echo "arm64: demo OK (48 request lines)" >&2

SHADOWPROXY_TEST_PROGRAM="$work/ShadowProxy" dotnet test "$root/ShadowProxy.sln" -c Release
echo "arm64: PASS" >&2
