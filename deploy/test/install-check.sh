#!/bin/bash
# install-check.sh: what deploy/install.sh leaves on disk, without a proxy, systemd or network namespaces. Installs
# into scratch roots (SHADOWPROXY_ROOT) from a stand-in publish directory, as an operator would, and checks the files.
#
# Usage (as root: install.sh sets owners and groups):  deploy/test/install-check.sh
# Prints PASS or FAIL per check; exits 1 when any failed. Takes about 2 seconds. Touches no iptables rule: every
# --uninstall, and so every helper call, runs in a network namespace of its own.
set -uo pipefail

if [[ $(id -u) -ne 0 ]]; then
    echo "install-check: run as root (install.sh sets owners and groups)" >&2
    exit 2
fi
deploy=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d /tmp/shadowproxy-install-check.XXXXXX)
ns=spx-install-check-$$
trap 'ip netns del "$ns" 2>/dev/null; [[ -n ${KEEP:-} ]] || rm -rf "$work"' EXIT
. "$(dirname "${BASH_SOURCE[0]}")/pass-fail.sh"   # pass, fail, $failed

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

# Exit codes as the proxy's: a bad value is one line naming it and exit 2; a missing publish output is exit 1. Nothing
# is installed either way.
bad=$work/bad
rc=0
out=$(SHADOWPROXY_ROOT=$bad "$deploy/install.sh" --publish-dir "$publish" --shadow shadow.example:80 --interface lo 2>&1) || rc=$?
rc_missing=0
SHADOWPROXY_ROOT=$bad "$deploy/install.sh" --publish-dir "$work/nothing" --shadow 10.0.0.42:80 --interface lo >/dev/null 2>&1 ||
    rc_missing=$?
if [[ $rc == 2 && $out == "install.sh: --shadow: expected IP:PORT"* && $(wc -l <<<"$out") == 1 && $rc_missing == 1 && ! -e $bad ]]; then
    pass "a bad value is one line and exit 2, as the proxy's; a missing publish output exits 1; nothing installed"
else
    fail "a bad value is one line and exit 2, as the proxy's; a missing publish output exits 1; nothing installed" \
        "bad --shadow: exit $rc: $out" "missing publish output: exit $rc_missing"
fi

# --help is asked for, not a mistake: the usage on stdout and exit 0, as the proxy's own --help, and for anyone (reading
# it needs no root). No option at all is still a bad call: the usage on stderr, exit 2.
rc_help=0 rc_none=0
help_out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$deploy/install.sh" --help 2>"$work/help.err") || rc_help=$?
none_out=$("$deploy/install.sh" 2>"$work/none.err") || rc_none=$?
if [[ $rc_help == 0 && $help_out == "install.sh: puts ShadowProxy on the production box"* && ! -s $work/help.err &&
    $rc_none == 2 && -z $none_out && $(head -n 1 "$work/none.err") == "install.sh: puts ShadowProxy"* ]]; then
    pass "--help: the usage on stdout, exit 0, also without root; no option: the usage on stderr, exit 2"
else
    fail "--help: the usage on stdout, exit 0, also without root; no option: the usage on stderr, exit 2" \
        "--help: exit $rc_help: stdout $(head -n 1 <<<"$help_out"); stderr $(head -n 1 "$work/help.err")" \
        "no option: exit $rc_none: stdout $(head -n 1 <<<"$none_out"); stderr $(head -n 1 "$work/none.err")"
fi

# Values that only look right: an IPv4 number over 255, an interface "name" that is a directory under /sys/class/net,
# a backend that is the proxy itself (loopback, the listen port). Each passed, to stop the running proxy and start one
# that exits 2, or to redirect nothing at all.
looks_right=()
for args in "--shadow 999.0.0.1:80 --interface lo" "--shadow 10.0.0.42:80 --production 127.0.0.256:80 --interface lo" \
    "--shadow 10.0.0.42:80 --interface ." "--shadow 10.0.0.42:80 --interface ../.." \
    "--shadow 127.0.0.1:8001 --interface lo" "--shadow 10.0.0.42:80 --production [::1]:9000 --listen-port 9000 --interface lo" \
    "--shadow 0.0.0.0:8001 --interface lo" "--shadow 10.0.0.42:80 --production [::]:8001 --interface lo"; do
    rc=0
    # shellcheck disable=SC2086 # the options, word by word
    out=$(SHADOWPROXY_ROOT=$bad "$deploy/install.sh" --publish-dir "$publish" $args 2>&1) || rc=$?
    [[ $rc == 2 && $(wc -l <<<"$out") == 1 ]] || looks_right+=("$args: exit $rc: $out")
done
if [[ ${#looks_right[@]} == 0 && ! -e $bad ]]; then
    pass "an IPv4 number over 255, an interface . or ../.., a backend that is the proxy: one line, exit 2; nothing installed"
else
    fail "an IPv4 number over 255, an interface . or ../.., a backend that is the proxy: one line, exit 2; nothing installed" \
        "${looks_right[@]}"
fi

# An option without its value, as the last word or an empty one, is a bad option too.
rc_last=0 rc_empty=0
out_last=$(SHADOWPROXY_ROOT=$bad "$deploy/install.sh" --publish-dir "$publish" --interface lo --shadow 2>&1) || rc_last=$?
out_empty=$(SHADOWPROXY_ROOT=$bad "$deploy/install.sh" --publish-dir "$publish" --shadow "" --interface lo 2>&1) || rc_empty=$?
if [[ $rc_last == 2 && $rc_empty == 2 && $out_last == "install.sh: --shadow: expected a value after it" &&
    $out_empty == "$out_last" && ! -e $bad ]]; then
    pass "an option without its value (last, or empty) is one line and exit 2; nothing installed"
else
    fail "an option without its value (last, or empty) is one line and exit 2; nothing installed" \
        "last: exit $rc_last: $out_last" "empty: exit $rc_empty: $out_empty"
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

# --uninstall on a box without iptables and without a package mirror: a rollback installs nothing (no iptables, no
# rule to remove) and removes the rest. PATH without /usr/sbin (iptables, ip6tables) and with an apt-get that fails
# as one without a mirror does, and says that it was called.
offline=$work/offline
install_into "$offline"
mkdir -p "$work/offline-bin"
printf '#!/bin/sh\necho "apt-get $*" >>"%s"\necho "E: Unable to locate package iptables" >&2\nexit 100\n' \
    "$work/apt-get.log" >"$work/offline-bin/apt-get"
chmod 0755 "$work/offline-bin/apt-get"
offline_path=$work/offline-bin:/usr/local/bin:/usr/bin:/bin
rc=0
out=$(ip netns exec "$ns" env PATH="$offline_path" SHADOWPROXY_ROOT="$offline" "$deploy/install.sh" --uninstall 2>&1) || rc=$?
left=$(find "$offline/usr" "$offline/etc/systemd" "$offline/etc/logrotate.d" -iname '*shadowproxy*')
if [[ $rc == 0 && -z $left && ! -e $work/apt-get.log && -e $offline/etc/shadowproxy/redirect.env ]] &&
    ! PATH=$offline_path command -v iptables >/dev/null; then
    pass "install.sh --uninstall without iptables or a package mirror: installs nothing, removes the unit and the program"
else
    fail "install.sh --uninstall without iptables or a package mirror: installs nothing, removes the unit and the program" \
        "exit $rc: $out" "left: $left" "apt-get: $(cat "$work/apt-get.log" 2>/dev/null)" \
        "iptables in that PATH: $(PATH=$offline_path command -v iptables)"
fi

# Installing there does need iptables: apt-get fails, and install.sh says so in a line of its own, exit 1 (a failed
# install, not apt-get's 100), nothing installed.
rc=0
out=$(ip netns exec "$ns" env PATH="$offline_path" SHADOWPROXY_ROOT="$work/offline-install" "$deploy/install.sh" \
    --publish-dir "$publish" --shadow 10.0.0.42:80 --interface lo 2>&1) || rc=$?
if [[ $rc == 1 && $(tail -n 1 <<<"$out") == "install.sh: could not install iptables"* && ! -e $work/offline-install ]]; then
    pass "install.sh without iptables or a package mirror: exit 1, says it could not install iptables; nothing installed"
else
    fail "install.sh without iptables or a package mirror: exit 1, says it could not install iptables; nothing installed" \
        "exit $rc: $out"
fi

# --uninstall where the redirect cannot be removed (here: iptables cannot list the nat table): it stops there and says
# why, the program and the unit still installed (a proxy stopped under a rule left in place would take port 80 down).
stuck=$work/stuck
install_into "$stuck"
mkdir -p "$work/stuck-bin"
printf '#!/bin/sh\necho "iptables: Another app is currently holding the xtables lock." >&2\nexit 4\n' >"$work/stuck-bin/iptables"
chmod 0755 "$work/stuck-bin/iptables"
rc=0
out=$(ip netns exec "$ns" env PATH="$work/stuck-bin:$PATH" SHADOWPROXY_ROOT="$stuck" "$deploy/install.sh" --uninstall 2>&1) || rc=$?
if [[ $rc == 1 && $(tail -n 1 <<<"$out") == "install.sh: a redirect may still be in place (above), so the proxy is left"* &&
    -x $stuck/usr/local/lib/shadowproxy/ShadowProxy && -e $stuck/etc/systemd/system/shadowproxy.service ]]; then
    pass "install.sh --uninstall with a redirect it cannot remove: exit 1, says so last, leaves the proxy installed"
else
    fail "install.sh --uninstall with a redirect it cannot remove: exit 1, says so last, leaves the proxy installed" \
        "exit $rc: $out" "$(ls "$stuck/usr/local/lib/shadowproxy" 2>&1)"
fi

# ---- install.sh on a box with systemd, as far as its own steps go ---------------------------------------------------
# In a network namespace (the helper's status) and a mount namespace whose /etc, /usr and /var are overlays of the
# real ones (writes go to the scratch space) and whose /run is a tmpfs with /run/systemd/system (what install.sh takes
# for a running systemd). systemctl is a stand-in that logs each call and answers is-active with STATE.
mkdir -p "$work/bin"
cat >"$work/bin/systemctl" <<'SH'
#!/bin/bash
echo "$*" >>"$WORK/systemctl.log"
case $1 in
    is-active)   # exit 0 for active (and reloading) only, as systemctl does: 3 for activating, inactive, failed
        [[ $* == *--quiet* ]] || echo "$STATE"
        [[ $STATE == active ]] || exit 3 ;;
    stop)   # what stopping the unit does to its process
        [[ ! -s $WORK/proxy.pid ]] || { kill "$(cat "$WORK/proxy.pid")"; sleep 0.2; } ;;
    start)  # what ExecStartPost does once the proxy answers: the tagged rule
        iptables -w 5 -t nat -I PREROUTING -p tcp --dport 80 -m comment --comment shadowproxy-redirect -j REDIRECT --to-ports 8001 ;;
esac
exit 0
SH
chmod 0755 "$work/bin/systemctl"
# with_systemd STATE: install.sh as an operator runs it on the box, over an installed proxy that is running (its
# program a copy of sleep, so that the file is busy as a running executable is) while the unit is in STATE.
with_systemd() {
    local state=$1
    mkdir -p "$work/$state"/{etc,usr,var}/{upper,work}
    : >"$work/systemctl.log"
    ip netns exec "$ns" env WORK="$work" STATE="$state" PATH="$work/bin:$PATH" unshare --mount --propagation private bash -c '
        set -e
        mount -n -t tmpfs tmpfs /run   # -n: no utab entry, and no /run/mount made on the real /run
        mkdir -p /run/systemd/system
        for dir in etc usr var; do
            mount -n -t overlay overlay -o "lowerdir=/$dir,upperdir=$WORK/$STATE/$dir/upper,workdir=$WORK/$STATE/$dir/work" "/$dir"
        done
        mkdir -p /usr/local/lib/shadowproxy
        cp /bin/sleep /usr/local/lib/shadowproxy/ShadowProxy
        /usr/local/lib/shadowproxy/ShadowProxy 30 &
        echo $! >"$WORK/proxy.pid"
        trap "kill $! 2>/dev/null || true" EXIT
        "$1" --publish-dir "$2" --shadow 10.0.0.42:80 --interface lo' _ "$deploy/install.sh" "$publish" >"$work/$state.log" 2>&1
}
ip netns list | grep -qw "$ns" || ip netns add "$ns"
for state in active activating; do
    ip netns exec "$ns" iptables -w 5 -t nat -F PREROUTING
    if with_systemd "$state" && [[ $(head -n 2 "$work/systemctl.log" | tail -n 1) == "stop shadowproxy" ]] &&
        grep -qx 'start shadowproxy' "$work/systemctl.log"; then
        pass "install.sh over a unit that is $state: stops it before it replaces the program, then starts it"
    else
        fail "install.sh over a unit that is $state: stops it before it replaces the program, then starts it" \
            "systemctl calls: $(paste -sd, "$work/systemctl.log")" "$(tail -3 "$work/$state.log")"
    fi
done

exit "$failed"
