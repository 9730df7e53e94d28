#!/bin/bash
# redirect-settings-check.sh: shadowproxy-redirect's check of the settings file and the environment against
# SHADOWPROXY_PRODUCTION, without iptables, root or a running proxy. Each case runs `shadowproxy-redirect add` with
# READY_TIMEOUT=0 and nothing on PROXY_PORT: a setting the helper accepts ends in "the proxy does not answer" (exit 1:
# it would have gone on to wait for the proxy and add the rule), one it refuses ends in exit 2 before that.
#
# The cases that must be refused are settings files (with SHADOWPROXY_PRODUCTION unset, so that the file decides) and
# variables whose Production the proxy really reads (tried with the built program: it sends to 127.0.0.1:81 for each
# of them), while without the refusal the helper would check 127.0.0.1:80 (or SHADOWPROXY_PRODUCTION) and add the rule.
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
    env -u SHADOWPROXY_PRODUCTION REDIRECT_INTERFACE=lo PROXY_PORT=1 READY_TIMEOUT=0 PROXY_SETTINGS="$work/settings.json" "$@" \
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
    "Listen": "[::]:8001",
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

exit "$failed"
