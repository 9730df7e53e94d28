#!/bin/bash
# redirect-settings-check.sh: shadowproxy-redirect's check of the settings file and the environment against
# SHADOWPROXY_LISTEN and SHADOWPROXY_PRODUCTION, without iptables, root or a running proxy. Each case runs
# `shadowproxy-redirect add` with READY_TIMEOUT=0 and nothing on the proxy's port (SHADOWPROXY_LISTEN=0.0.0.0:1, and
# PROXY_PORT=1 for a helper from before SHADOWPROXY_LISTEN): a setting the helper accepts ends in "the proxy does not
# answer" (exit 1: it would have gone on to wait for the proxy and add the rule), one it refuses ends in exit 2 before
# that.
#
# The cases that must be refused are settings files (with SHADOWPROXY_PRODUCTION unset, so that the file decides) and
# variables whose Production the proxy really reads (tried with the built program: it sends to 127.0.0.1:81 for each
# of them), while without the refusal the helper would check 127.0.0.1:80 (or SHADOWPROXY_PRODUCTION) and add the rule;
# and the same for Listen: a Listen the proxy reads, from the file or another spelling of the variable, that is not
# the port the rule would go to; a Listen the redirect cannot reach (one address only, port 0); a PROXY_PORT, the
# old setting, that says another port.
#
# Usage: deploy/test/redirect-settings-check.sh        Prints PASS or FAIL per case; exits 1 when any failed.
#        REDIRECT_HELPER=PATH runs another copy of the helper (an older one, to see a case fail).
set -uo pipefail

helper=${REDIRECT_HELPER:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/systemd/shadowproxy-redirect}
work=$(mktemp -d "${TMPDIR:-/tmp}/redirect-settings-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
failed=0

# check NAME EXPECTED_EXIT SETTINGS_TEXT [VAR=VALUE...]: runs add with that settings file (and environment)
check() {
    local name=$1 expected=$2 text=$3 rc=0
    shift 3
    printf '%s' "$text" >"$work/settings.json"
    env -u SHADOWPROXY_PRODUCTION -u SHADOWPROXY_LISTEN -u PROXY_PORT REDIRECT_INTERFACE=lo SHADOWPROXY_LISTEN=0.0.0.0:1 PROXY_PORT=1 \
        READY_TIMEOUT=0 PROXY_SETTINGS="$work/settings.json" "$@" \
        "$helper" add >/dev/null 2>"$work/err" || rc=$?
    if [[ $rc == "$expected" ]]; then
        echo "PASS $name"
    else
        echo "FAIL $name: exit $rc, expected $expected: $(cat "$work/err")"
        failed=1
    fi
}

installed='{
  // Production (where requests go) is not set here but in /etc/shadowproxy/redirect.env, as SHADOWPROXY_PRODUCTION:
  "ShadowProxy": {
    "Shadow": "10.0.0.7:8080",
    "ProductionTimeout": 30,
    "Exclude": "/production",
    "Format": "text"
  }
}'
check "install.sh's file (no Production; ProductionTimeout and a value that ends in production are no Production)" 1 "$installed"
check "the same Production in the file as in SHADOWPROXY_PRODUCTION" 1 '{ "ShadowProxy": { "Production": "10.0.0.5:80" } }' \
    SHADOWPROXY_PRODUCTION=10.0.0.5:80
check "another Production in the file" 2 '{ "ShadowProxy": { "Production": "127.0.0.1:81" } }'
check "a Production whose value is on the next line" 2 $'{ "ShadowProxy": {\n  "Production":\n    "127.0.0.1:81" } }'
# Spellings of the same key that the proxy's configuration reads as ShadowProxy:Production.
check "the configuration's path syntax, \"ShadowProxy:Production\"" 2 '{ "ShadowProxy:Production": "127.0.0.1:81" }'
check "a key whose colon is on the next line" 2 $'{ "ShadowProxy": {\n  "Production"\n    : "127.0.0.1:81" } }'
check "a key spelt with a \\u escape" 2 '{ "ShadowProxy": { "Pr\u006fduction": "127.0.0.1:81" } }'
# The proxy reads every SHADOWPROXY_ variable in any letter case, underscores dropped, as a setting.
check "SHADOWPROXY_PRODUCTION spelt another way, with another value" 2 '{}' shadowproxy_production=127.0.0.1:81
check "SHADOWPROXY_PRODUCTION and a second spelling with another value" 2 '{}' SHADOWPROXY_PRODUCTION=10.0.0.5:80 SHADOWPROXY_PRODUC_TION=127.0.0.1:81
check "SHADOWPROXY_PRODUCTION_TIMEOUT is not Production" 1 '{}' SHADOWPROXY_PRODUCTION_TIMEOUT=5


# Listen, in one place: SHADOWPROXY_LISTEN (here 0.0.0.0:1 unless a case says otherwise) is where the rule goes.
check "the same Listen in the file as in SHADOWPROXY_LISTEN" 1 '{ "ShadowProxy": { "Listen": "0.0.0.0:1" } }'
check "SHADOWPROXY_LISTEN on [::] (IPv4 and IPv6 clients)" 1 '{}' 'SHADOWPROXY_LISTEN=[::]:1'
check "MetricsListen, and SHADOWPROXY_METRICS_LISTEN, are not Listen" 1 '{ "ShadowProxy": { "MetricsListen": "127.0.0.1:9090" } }' \
    SHADOWPROXY_METRICS_LISTEN=127.0.0.1:9091
check "another Listen in the file" 2 '{ "ShadowProxy": { "Listen": "[::]:8002" } }'
check "the install's Listen left in the file while SHADOWPROXY_LISTEN moved the port" 2 '{ "ShadowProxy": { "Listen": "[::]:8001" } }' \
    'SHADOWPROXY_LISTEN=[::]:8002' PROXY_PORT=
check "the old layout: Listen in the file, PROXY_PORT in redirect.env, no SHADOWPROXY_LISTEN" 2 \
    '{ "ShadowProxy": { "Listen": "[::]:1" } }' SHADOWPROXY_LISTEN=
check "a Listen whose value is on the next line" 2 $'{ "ShadowProxy": {\n  "Listen":\n    "0.0.0.0:1" } }'
check "Listen in the configuration's path syntax, \"ShadowProxy:Listen\"" 2 '{ "ShadowProxy:Listen": "0.0.0.0:2" }'
check "a Listen key whose colon is on the next line" 2 $'{ "ShadowProxy": {\n  "Listen"\n    : "0.0.0.0:2" } }'
check "a Listen key spelt with a \\u escape" 2 '{ "ShadowProxy": { "List\u0065n": "0.0.0.0:2" } }'
check "SHADOWPROXY_LISTEN spelt another way, with another value" 2 '{}' shadowproxy_listen=0.0.0.0:2
check "SHADOWPROXY_LISTEN and a second spelling with another value" 2 '{}' SHADOWPROXY_LIS_TEN=0.0.0.0:2
# What the proxy would listen on but the redirect cannot reach: clients arrive at the interface's own address.
check "SHADOWPROXY_LISTEN on 127.0.0.1 only" 2 '{}' SHADOWPROXY_LISTEN=127.0.0.1:1
check "SHADOWPROXY_LISTEN on localhost" 2 '{}' SHADOWPROXY_LISTEN=localhost:1
check "SHADOWPROXY_LISTEN on one IPv6 address" 2 '{}' 'SHADOWPROXY_LISTEN=[::1]:1'
check "SHADOWPROXY_LISTEN on port 0 (the kernel picks one)" 2 '{}' SHADOWPROXY_LISTEN=0.0.0.0:0 PROXY_PORT=
check "SHADOWPROXY_LISTEN without a port" 2 '{}' SHADOWPROXY_LISTEN=0.0.0.0 PROXY_PORT=
# An interface "name" that is a directory under /sys/class/net but no interface: a rule on it would match nothing.
check "REDIRECT_INTERFACE=." 2 '{}' REDIRECT_INTERFACE=.
check "REDIRECT_INTERFACE=../.." 2 '{}' REDIRECT_INTERFACE=../..
# PROXY_PORT, the listen port before SHADOWPROXY_LISTEN, no longer read: one that says another port is a drift.
check "PROXY_PORT set to another port than SHADOWPROXY_LISTEN's" 2 '{}' PROXY_PORT=8001

exit "$failed"
