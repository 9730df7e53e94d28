#!/bin/bash
# install-check.sh: what deploy/install.sh leaves on disk, without a proxy, systemd or network namespaces. Installs
# into scratch roots (SHADOWPROXY_ROOT) from a stand-in publish directory, as an operator would, and checks the files.
#
# Usage (as root: install.sh sets owners and groups):  deploy/test/install-check.sh
# Prints PASS or FAIL per check; exits 1 when any failed. Takes about a second. Touches no iptables rule: the only
# helper call, by --uninstall, runs in a network namespace of its own.
set -uo pipefail

if [[ $(id -u) -ne 0 ]]; then
    echo "install-check: run as root (install.sh sets owners and groups)" >&2
    exit 2
fi
deploy=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d /tmp/shadowproxy-install-check.XXXXXX)
ns=spx-install-check-$$
trap 'ip netns del "$ns" 2>/dev/null; rm -rf "$work"' EXIT
failed=0
pass() { echo "PASS $1"; }
fail() {
    echo "FAIL $1"
    shift
    printf '        %s\n' "$@"
    failed=1
}

# A publish directory as it arrives on the box: copied there by a deploy user (here nobody, uid 65534), not root,
# group-writable as a umask of 002 leaves it.
publish=$work/publish
mkdir -p "$publish"
printf '#!/bin/sh\nexit 0\n' >"$publish/ShadowProxy"
echo '{}' >"$publish/appsettings.json"
chmod 0775 "$publish" "$publish/ShadowProxy"
chmod 0664 "$publish/appsettings.json"
chown -R 65534:65534 "$publish"

install_into() {   # install_into ROOT: install.sh with the test's options into ROOT
    SHADOWPROXY_ROOT=$1 "$deploy/install.sh" --publish-dir "$publish" --shadow 10.0.0.42:80 --interface lo >>"$work/install.log" 2>&1
}

# The program directory holds shadowproxy-redirect, which the unit runs as root ("+"): whoever can write to that
# directory, or to a file in it, can run code as root. It must be root's alone, whoever owned the publish directory.
root=$work/root
install_into "$root"
lib=$root/usr/local/lib/shadowproxy
not_root=$(find "$lib" \( ! -user root -o ! -group root -o -perm /022 \) -printf '%M %u:%g %p\n' 2>&1)
if [[ -x $lib/ShadowProxy && -x $lib/shadowproxy-redirect && -z $not_root ]]; then
    pass "the program directory (the root-run redirect helper's) is root's alone, not the publish directory's owner's"
else
    fail "the program directory (the root-run redirect helper's) is root's alone, not the publish directory's owner's" \
        "$not_root" "$(tail -3 "$work/install.log")"
fi

# --uninstall --purge: nothing of ShadowProxy's is left, drop-ins included. deploy/README.md has operators add them
# (systemctl edit shadowproxy: SHADOWPROXY_SHADOW_LOOP, the rolling file sink with StandardOutput=null); one left
# behind would apply again, unseen, to the next install. The helper's remove runs in a namespace of its own.
purged=$work/purged
install_into "$purged"
mkdir -p "$purged/etc/systemd/system/shadowproxy.service.d"
printf '[Service]\nStandardOutput=null\n' >"$purged/etc/systemd/system/shadowproxy.service.d/override.conf"
ip netns add "$ns"
left=$(SHADOWPROXY_ROOT=$purged ip netns exec "$ns" "$deploy/install.sh" --uninstall --purge >>"$work/install.log" 2>&1 &&
    find "$purged" -iname '*shadowproxy*')
if [[ $? == 0 && -z $left ]]; then
    pass "install.sh --uninstall --purge leaves nothing of ShadowProxy's, drop-ins included"
else
    fail "install.sh --uninstall --purge leaves nothing of ShadowProxy's, drop-ins included" "${left:-uninstall failed}" \
        "$(tail -3 "$work/install.log")"
fi

exit "$failed"
