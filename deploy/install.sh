#!/bin/bash
# install.sh: puts ShadowProxy on the production box, and takes it off again. Run as root from a checkout.
#
#   deploy/install.sh --publish-dir DIR --shadow IP:PORT --interface IFACE [--production IP:PORT]
#                     [--port 80] [--listen-port 8001] [--log-group GROUP]
#       DIR: the output of `dotnet publish -p:PublishProfile=linux-x64` (it holds the ShadowProxy executable).
#       IP:PORT: an IP address ([IPv6] in brackets) or localhost, and a port: the proxy resolves no host names.
#       GROUP: may read the request log (Logstash's group); default logstash when that group exists, else adm.
#       --listen-port: where the proxy listens (on [::], or 0.0.0.0 without IPv6), written once, as
#       SHADOWPROXY_LISTEN in /etc/shadowproxy/redirect.env; the redirect goes to that port.
#       Installs the program (/usr/local/lib/shadowproxy), the settings (/etc/shadowproxy), the systemd unit, the
#       logrotate config and the log directory, then starts the unit. The unit adds the iptables (and ip6tables)
#       redirect of IFACE's TCP port 80 to the proxy only once the proxy answers, and removes it whenever the proxy
#       stops.
#
#   deploy/install.sh --uninstall [--purge]
#       The rollback. Removes the redirect FIRST (clients reach production directly from that moment), then stops
#       and removes the unit and the program. Keeps /etc/shadowproxy, /var/log/shadowproxy and the unit's drop-ins
#       (/etc/systemd/system/shadowproxy.service.d) unless --purge. Installs nothing (without iptables there is no
#       redirect to remove).
#
# Exit codes, as the proxy's: 2 for a bad option or value (the usage, or one line naming it), 1 when anything else
# fails (not root, no publish output, the unit does not come up, a redirect that could not be removed). --help prints
# this text on stdout, exit 0.
#
# SHADOWPROXY_ROOT=DIR installs into DIR instead of / and leaves systemd alone (deploy/test/netns-e2e.sh uses it).
# The iptables and ip6tables rules are always the current network namespace's.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=${SHADOWPROXY_ROOT:-}
lib=$root/usr/local/lib/shadowproxy
etc=$root/etc/shadowproxy
unit=$root/etc/systemd/system/shadowproxy.service
logrotate=$root/etc/logrotate.d/shadowproxy
logs=$root/var/log/shadowproxy

say() { echo "install.sh: $*" >&2; }
die() {
    say "$*"
    exit 1
}

# A bad option value: one line naming it, exit 2 (as the proxy's own).
bad_value() {
    say "$*"
    exit 2
}

# The header above. A bad call gets it on stderr and exit 2; --help, which asks for it, on stdout and exit 0.
usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}
help() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
    exit 0
}

with_systemd() {
    # Only on the real root of a box that runs systemd.
    [[ -z $root && -d /run/systemd/system ]]
}

need_iptables() {
    if ! command -v iptables >/dev/null; then
        say "installing iptables"
        # Retried after an update: on a fresh machine the package lists may be empty (as verify-unit.sh does for systemd).
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y -qq iptables >/dev/null ||
            { apt-get -o DPkg::Lock::Timeout=120 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y -qq iptables >/dev/null; } ||
            die "could not install iptables (apt-get, above): install it, then run again; nothing was changed"
    fi
}

# What the proxy takes for --shadow and --production: an IP address (IPv6 in brackets) or localhost, and a port. A host
# name would pass here only to fail the start, after the running proxy was stopped.
valid_endpoint() {
    [[ $1 =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}:[0-9]{1,5}$ || $1 =~ ^\[[0-9A-Fa-f:.]+\]:[0-9]{1,5}$ || $1 =~ ^localhost:[0-9]{1,5}$ ]] &&
        valid_octets "${1%:*}" && valid_port "${1##*:}"
}

# An IPv4 address's four numbers are 0 to 255 (999.0.0.1 is no address to the proxy); anything else passes here.
valid_octets() {
    local octet
    [[ $1 =~ ^[0-9.]+$ ]] || return 0
    for octet in ${1//./ }; do
        ((10#$octet <= 255)) || return 1
    done
}

# loops ENDPOINT: ENDPOINT is the proxy itself, $listen_port of a loopback address, which the proxy refuses (exit 2)
# only once the running one has been stopped; or of 0.0.0.0 or [::], which a connection takes for this box too.
loops() {
    [[ ${1%:*} =~ ^(127\.[0-9.]+|0\.0\.0\.0|localhost|\[(0*:)*:?0*1?\])$ ]] && ((10#${1##*:} == listen_port))
}

# A TCP port, 1 to 65535: 0 or 70000 would pass a digits check only to fail the start (or the iptables rule).
valid_port() { [[ $1 =~ ^[0-9]{1,5}$ ]] && ((10#$1 >= 1 && 10#$1 <= 65535)); }

# keep_or_replace FILE: puts FILE.new in FILE's place. Settings that differ (an operator's edits, or other options) are
# kept in a backup of their own, never written over by a later run; the same settings again (a plain re-run) leave the
# file and the backups as they are.
keep_or_replace() {
    local file=$1 stamp backup n=1
    if [[ -e $file ]] && cmp -s "$file.new" "$file"; then
        rm -f "$file.new"
        return 0
    fi
    if [[ -e $file ]]; then
        stamp=$file.bak-$(date +%Y%m%d-%H%M%S)
        backup=$stamp
        while [[ -e $backup ]]; do   # a second run within the same second
            backup=$stamp-$n
            n=$((n + 1))
        done
        cp -a "$file" "$backup"
        say "replaced $file, which differed from these options; the previous one is $backup (carry over any edits you want to keep)"
    fi
    mv -f "$file.new" "$file"
}

# migration_notes OLD_REDIRECT_ENV LISTEN_PORT: what an operator must know when the file being replaced comes from an
# earlier install. PROXY_PORT was the listen port's setting before SHADOWPROXY_LISTEN (and Listen was in
# appsettings.json); and a listen port other than the one the earlier install wrote is said out loud, since the options
# of this run, not the old file, decide it.
migration_notes() {
    local file=$1 listen_port=$2 old_port
    [[ -e $file ]] || return 0
    if grep -q '^PROXY_PORT=' "$file"; then
        say "$file: PROXY_PORT is no longer used; the listen address is SHADOWPROXY_LISTEN there now, the one place it is set, for the proxy and the redirect alike (appsettings.json no longer holds Listen)"
    fi
    old_port=$(sed -n -E 's/^(SHADOWPROXY_LISTEN=.*:|PROXY_PORT=)0*([0-9]+)[[:space:]]*$/\2/p' "$file" | tail -n 1)
    if [[ -n $old_port && $old_port != "$listen_port" ]]; then
        say "the previous install listened on port $old_port; this one listens on $listen_port (--listen-port): run again with --listen-port $old_port to keep it"
    fi
}

install_proxy() {
    local publish_dir="" shadow="" interface="" production=127.0.0.1:80 port=80 listen_port=8001 log_group=""
    while (($# > 0)); do
        # An option without its value (the last word, or an empty one) is a bad option: one line, exit 2, not bash's
        # "parameter null or not set" and exit 1.
        if [[ $1 == --@(publish-dir|shadow|interface|production|port|listen-port|log-group) ]] && [[ -z ${2:-} ]]; then
            bad_value "$1: expected a value after it"
        fi
        case $1 in
            --publish-dir) publish_dir=$2; shift 2 ;;
            --shadow) shadow=$2; shift 2 ;;
            --interface) interface=$2; shift 2 ;;
            --production) production=$2; shift 2 ;;
            --port) port=$2; shift 2 ;;
            --listen-port) listen_port=$2; shift 2 ;;
            --log-group) log_group=$2; shift 2 ;;
            *) usage ;;
        esac
    done
    [[ -n $publish_dir && -n $shadow && -n $interface ]] || usage
    [[ -x $publish_dir/ShadowProxy ]] || die "no executable $publish_dir/ShadowProxy: run dotnet publish first (deploy/README.md)"
    # A name only: "." or "../.." would find a directory under /sys/class/net and give a rule that matches nothing.
    [[ $interface =~ ^[^/[:space:]]{1,15}$ && $interface != @(.|..) && -e /sys/class/net/$interface ]] ||
        bad_value "--interface: no network interface '$interface' here"
    valid_endpoint "$shadow" || bad_value "--shadow: expected IP:PORT ([IPv6]:PORT, or localhost:PORT), got '$shadow'"
    valid_endpoint "$production" || bad_value "--production: expected IP:PORT ([IPv6]:PORT, or localhost:PORT), got '$production'"
    valid_port "$port" && valid_port "$listen_port" || bad_value "--port and --listen-port take a port from 1 to 65535"
    port=$((10#$port)) listen_port=$((10#$listen_port))   # 080 is 80: written the one way the helper compares
    ! loops "$shadow" || bad_value "--shadow $shadow is where the proxy listens (--listen-port $listen_port): requests would loop"
    ! loops "$production" || bad_value "--production $production is where the proxy listens (--listen-port $listen_port): requests would loop"
    if [[ -z $log_group ]]; then
        log_group=adm   # Debian's group for reading logs
        ! getent group logstash >/dev/null || log_group=logstash
    fi
    getent group "$log_group" >/dev/null || bad_value "--log-group: no group '$log_group' here"
    need_iptables

    # Not only an active unit: one that is activating (ExecStartPost waiting for production, or between two tries of
    # Restart=on-failure) or deactivating runs the program too, and is-active fails for it. Copying over the running
    # executable would fail (Text file busy) and leave install.sh half done.
    local state=""
    ! with_systemd || state=$(systemctl is-active shadowproxy 2>/dev/null) || true
    if [[ $state == @(active|activating|deactivating|reloading) ]]; then
        say "stopping the running shadowproxy ($state; its redirect goes with it)"
        systemctl stop shadowproxy
    fi

    install -d -m 0755 "$lib" "$etc" "$(dirname "$unit")" "$(dirname "$logrotate")"
    # The program: the single file and whatever the publish put beside it (appsettings.json, the .pdb). Root's alone,
    # whoever owned the publish directory (a deploy user who copied it over): the unit runs shadowproxy-redirect from
    # this directory as root, so a user who could write here could run code as root. Not cp -a, which gave the
    # directory and the files the publish directory's owner and mode; chown also repairs an install made that way.
    cp -R --preserve=mode,timestamps "$publish_dir"/. "$lib"/
    chown -R root:root "$lib"
    chmod -R go-w "$lib"
    install -m 0755 "$here/systemd/shadowproxy-redirect" "$lib/shadowproxy-redirect"

    # [::] takes IPv4 and IPv6 clients on one socket, so the redirect can cover both; a box without IPv6 gets 0.0.0.0.
    local listen_address=0.0.0.0
    [[ ! -e /proc/net/if_inet6 ]] || listen_address='[::]'
    # Listen and Production are set once, in redirect.env: the unit gives that file to the proxy (which reads
    # SHADOWPROXY_LISTEN and SHADOWPROXY_PRODUCTION as its Listen and Production, over the settings file) and to the
    # redirect helper, which redirects to that port and checks that production answers there before the rule goes in.
    # A second copy in appsettings.json could drift from it.
    cat >"$etc/appsettings.json.new" <<JSON
{
  // Where the proxy listens and where requests go are not set here but in $etc/redirect.env, as
  // SHADOWPROXY_LISTEN and SHADOWPROXY_PRODUCTION: the redirect uses those values too. Another one here
  // would have no effect, and stops the redirect.
  "ShadowProxy": {
    "Shadow": "$shadow",
    "Format": "text"
  }
}
JSON
    cat >"$etc/redirect.env.new" <<ENV
# Read by shadowproxy.service, for the proxy and for shadowproxy-redirect (see that script for each setting).
# SHADOWPROXY_LISTEN and SHADOWPROXY_PRODUCTION are the proxy's Listen and Production: the one place each is set (not
# in appsettings.json). The redirect goes to SHADOWPROXY_LISTEN's port.
REDIRECT_INTERFACE=$interface
REDIRECT_PORT=$port
SHADOWPROXY_LISTEN=$listen_address:$listen_port
SHADOWPROXY_PRODUCTION=$production
PROXY_SETTINGS=$etc/appsettings.json
ENV
    migration_notes "$etc/redirect.env" "$listen_port"
    keep_or_replace "$etc/appsettings.json"
    keep_or_replace "$etc/redirect.env"
    chmod 0644 "$etc/appsettings.json" "$etc/redirect.env"

    install -m 0644 "$here/systemd/shadowproxy.service" "$unit"
    install -m 0644 "$here/logrotate/shadowproxy" "$logrotate"
    # The request log is for Logstash, which runs as its own user: the directory and the file are readable by
    # log_group. The file is made here because systemd would make it on the first start as root, with the unit's
    # UMask (0600), which only root can read. copytruncate keeps the file, so its owner and mode stay.
    install -d -m 0750 -g "$log_group" "$logs"
    [[ -e $logs/requests.log ]] || : >>"$logs/requests.log"
    chown "root:$log_group" "$logs/requests.log"
    chmod 0640 "$logs/requests.log"

    if ! with_systemd; then
        say "installed under ${root:-/}; systemd is not managing it here: start the proxy yourself, as the unit does, then run"
        say "  $lib/shadowproxy-redirect add   (both with the settings of $etc/redirect.env in the environment)"
        return 0
    fi

    systemctl daemon-reload
    systemctl enable --quiet shadowproxy
    # A unit that failed its start limit (a crash loop before this run) would refuse the start below.
    systemctl reset-failed shadowproxy 2>/dev/null || true
    # Returns once ExecStartPost has seen the proxy answer and added the redirect, or fails (and then it is removed).
    if ! systemctl start shadowproxy; then
        say "shadowproxy did not start; no redirect is in place. See: journalctl -u shadowproxy -n 50"
        say "systemd tries again (Restart=on-failure) and adds the redirect once the proxy and production answer; to stop that: systemctl stop shadowproxy"
        exit 1
    fi
    "$lib/shadowproxy-redirect" status >/dev/null || die "shadowproxy runs but no redirect is in place"
    say "running; $interface tcp/$port now goes through ShadowProxy. Request lines: $logs/requests.log (group $log_group)"
    say "rollback: $0 --uninstall"
}

uninstall_proxy() {
    local purge=no
    while (($# > 0)); do
        case $1 in
            --purge) purge=yes; shift ;;
            *) usage ;;
        esac
    done
    # Nothing to install for a rollback (the box may have no reachable package mirror): the rules are added with
    # iptables, so a box without it has none to remove.
    local have_iptables=yes
    if ! command -v iptables >/dev/null; then
        have_iptables=no
        say "no iptables on this box, so no redirect to remove"
    fi

    # The rule first: from here on clients reach production directly, whatever happens next. A rule that may still be
    # there keeps the proxy running, and installed: stopping it would leave the rule sending port 80 nowhere.
    if [[ $have_iptables == yes ]] && ! "$here/systemd/shadowproxy-redirect" remove; then
        die "a redirect may still be in place (above), so the proxy is left running and installed: fix that, then run --uninstall again"
    fi

    if with_systemd; then
        systemctl disable --now --quiet shadowproxy 2>/dev/null || true
    fi
    rm -f "$unit" "$logrotate"
    rm -rf "$lib"
    if [[ $purge == yes ]]; then
        # The operator's drop-ins (systemctl edit shadowproxy): left behind, they would apply again to a later install.
        rm -rf "$unit.d"
    fi
    if with_systemd; then
        systemctl daemon-reload
        systemctl reset-failed shadowproxy 2>/dev/null || true
    fi
    if [[ $purge == yes ]]; then
        rm -rf "$etc" "$logs"
    fi

    local state=1
    if [[ $have_iptables == yes ]]; then
        state=0
        "$here/systemd/shadowproxy-redirect" status >/dev/null 2>&1 || state=$?
    fi
    if ((state != 1)); then   # 0: a rule is still there; 2: a table could not be listed
        die "a redirect may still be in place: iptables -t nat -S PREROUTING; ip6tables -t nat -S PREROUTING"
    fi
    say "rolled back: no redirect, clients reach production directly"
}

# Reading the usage needs no root.
[[ ${1:-} != @(-h|--help) ]] || help
if [[ $(id -u) -ne 0 ]]; then
    die "run as root (iptables, systemd, /usr/local, /etc)"
fi

case ${1:-} in
    --uninstall) shift; uninstall_proxy "$@" ;;
    "") usage ;;
    *) install_proxy "$@" ;;
esac
