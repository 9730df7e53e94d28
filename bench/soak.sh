#!/usr/bin/env bash
# Soak: several minutes of mixed load with backend and client faults against the built ShadowProxy, as a real
# process, printing RSS, open descriptors, threads and request-line counts at the start, as it goes, and at the end.
# Outside the default test run (the test is skipped unless SHADOWPROXY_SOAK_SECONDS is set).
#
#   bench/soak.sh [SECONDS]     default 240; CONFIGURATION=Release|Debug (default Release)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-240}"
configuration="${CONFIGURATION:-Release}"
report="$(mktemp -t shadowproxy-soak.XXXXXX)"
trap 'rm -f "$report"' EXIT

echo "building ($configuration)..." >&2
dotnet build tests/ShadowProxy.Tests -c "$configuration" -v quiet -nologo >&2

# The load generator is the test host's own .NET sockets: continuations inline on one event thread make it cheap
# enough that the proxy, not the generator, sets the pace on a small box (about 4,500 against 2,500 requests/s on
# the 2-core benchmark VM).
export DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS="${DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS:-1}"
export DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT="${DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT:-1}"

status=0
SHADOWPROXY_SOAK_SECONDS="$seconds" SHADOWPROXY_SOAK_REPORT="$report" \
    dotnet test tests/ShadowProxy.Tests -c "$configuration" --no-build -nologo \
    --filter "FullyQualifiedName~Reliability.SoakTests" >&2 || status=$?

cat "$report"
if [ "$status" -eq 0 ]; then echo "soak: PASSED"; else echo "soak: FAILED (dotnet test exit $status)"; fi
exit "$status"
