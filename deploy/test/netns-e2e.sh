#!/bin/bash
# netns-e2e.sh: ShadowProxy in the real production topology, end to end, inside network namespaces.
#
# Usage (as root):
#   deploy/test/netns-e2e.sh PROXY_COMMAND...
#   SHADOWPROXY_CMD="PROXY_COMMAND" deploy/test/netns-e2e.sh
# PROXY_COMMAND runs the proxy and gets the options appended, e.g.
#   deploy/test/netns-e2e.sh src/ShadowProxy/bin/publish/linux-x64/ShadowProxy
#   deploy/test/netns-e2e.sh dotnet src/ShadowProxy/bin/Release/net10.0/ShadowProxy.dll
# The directory of the program (or of the .dll) is what install.sh installs, as --publish-dir.
# Installs iproute2, iptables and python3 from Debian when missing. Takes about 20 seconds.
# IPTABLES_BACKEND=legacy runs it with the legacy iptables back end instead of the box's default (nf_tables).
#
# Topology (every address is private to namespaces this script creates; nothing has a route out of them):
#
#   client ns             box ns ("the production box")                        shadow ns
#   c0 10.200.1.1 ----- out0 10.200.1.2   [nat PREROUTING -i out0 tcp/80 -> 8001, iptables and ip6tables]
#      fd00:200:1::1         fd00:200:1::2
#                         ShadowProxy [::]:8001 (IPv4 and IPv6) -> production 127.0.0.1:80
#                         production app  0.0.0.0:80 and [::]:80
#                         sh0 10.200.2.1 ------------------------------------ sh0 10.200.2.2, shadow app :8080
#                         (the box forwards IPv4: the client reaches 10.200.2.0/24   and "a host behind the box" :80
#                          through it)
#
# The box is set up with deploy/install.sh (SHADOWPROXY_ROOT: into a scratch directory, not /), and the proxy is
# driven the way systemd drives shadowproxy.service: this script reads ExecStartPost=, ExecStop= and ExecStopPost=
# from the installed unit and runs exactly those commands, with the unit's EnvironmentFile, at the moments systemd
# would. ExecStart= is the unit's too, with PROXY_COMMAND in place of the installed program.
# Prints PASS or FAIL per check; exits 1 when any check failed. Cleans up everything it made on exit.
set -uo pipefail

if (($# == 1)) && [[ ! -e $1 && $1 == *" "* ]]; then
    read -r -a proxy_cmd <<<"$1"   # the whole command as one argument: "dotnet path/ShadowProxy.dll"
elif (($# > 0)); then
    proxy_cmd=("$@")
elif [[ -n ${SHADOWPROXY_CMD:-} ]]; then
    read -r -a proxy_cmd <<<"$SHADOWPROXY_CMD"
else
    sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "netns-e2e: run as root (network namespaces, iptables)" >&2
    exit 2
fi

deploy=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
started=$SECONDS

# ---- prerequisites -------------------------------------------------------------------------------------------------
missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v iptables >/dev/null || missing+=(iptables)
[[ -x /usr/bin/python3 ]] || missing+=(python3)
if ((${#missing[@]} > 0)); then
    echo "netns-e2e: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=120 install -y -qq "${missing[@]}" >/dev/null ||
        { apt-get -o DPkg::Lock::Timeout=120 update -qq && apt-get -o DPkg::Lock::Timeout=120 install -y -qq "${missing[@]}" >/dev/null; } ||
        { echo "netns-e2e: cannot install ${missing[*]}" >&2; exit 2; }
fi
python=/usr/bin/python3

# The program's directory: install.sh copies it, as it would copy a publish directory.
if [[ ${proxy_cmd[0]} == dotnet || ${proxy_cmd[0]} == */dotnet ]]; then
    publish_dir=$(cd "$(dirname "${proxy_cmd[-1]}")" && pwd)
else
    proxy_cmd[0]=$(realpath "${proxy_cmd[0]}")
    publish_dir=$(dirname "${proxy_cmd[0]}")
fi

# ---- scratch space, namespaces, cleanup ----------------------------------------------------------------------------
work=$(mktemp -d /tmp/shadowproxy-netns.XXXXXX)
chmod 0755 "$work"         # the installed request log is read below as another user, as Logstash reads it
root=$work/root            # install.sh's target instead of /
client=spx-client-$$
box=spx-box-$$
shadow=spx-shadow-$$
pids=()

cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill -KILL "$pid" 2>/dev/null
    done
    wait 2>/dev/null
    ip netns del "$client" 2>/dev/null
    ip netns del "$box" 2>/dev/null
    ip netns del "$shadow" 2>/dev/null
    [[ -z ${box_etc:-} ]] || rm -rf "$box_etc"
    [[ -z ${made_netns_etc:-} ]] || rmdir /etc/netns 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# IPTABLES_BACKEND=legacy: every iptables and ip6tables call (the helper's, install.sh's, this script's) goes to the
# legacy back end instead of the box's default (nf_tables on Debian 12), through links first in PATH.
if [[ ${IPTABLES_BACKEND:-} == legacy ]]; then
    mkdir "$work/legacy-bin"
    ln -s "$(command -v iptables-legacy)" "$work/legacy-bin/iptables" &&
        ln -s "$(command -v ip6tables-legacy)" "$work/legacy-bin/ip6tables" ||
        { echo "netns-e2e: IPTABLES_BACKEND=legacy, but iptables-legacy or ip6tables-legacy is missing" >&2; exit 2; }
    export PATH="$work/legacy-bin:$PATH"
fi
backend=$(iptables --version | sed -n 's/.*(\(.*\)).*/\1/p')   # nf_tables or legacy
echo "netns-e2e: iptables back end: ${backend:-unknown}"

in_client() { ip netns exec "$client" "$@"; }
# Functions, so never used with "&": a background function is a subshell, and $! would not be the program's pid.
in_box() { ip netns exec "$box" "$@"; }
in_shadow() { ip netns exec "$shadow" "$@"; }

failures=0
pass() { printf 'PASS  %s\n' "$1"; }
fail() {
    printf 'FAIL  %s\n' "$1"
    shift
    local detail
    for detail in "$@"; do
        printf '        %s\n' "$detail"
    done
    failures=$((failures + 1))
}
check() {   # check "description" command...: PASS when the command succeeds
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

# ---- the small apps: production, shadow, client --------------------------------------------------------------------
cat >"$work/app.py" <<'PY'
import http.server, socket, sys, urllib.request

class IPv6OnlyServer(http.server.ThreadingHTTPServer):
    # Beside a 0.0.0.0 server on the same port: IPv6 clients only, so that the log shows each peer as it is.
    address_family = socket.AF_INET6

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        super().server_bind()

def serve(name, host, port, log, status):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            # One line per request received: who connected (the peer address) and what it asked for.
            with open(log, "a") as f:
                f.write(f"{self.client_address[0]} {self.command} {self.path}\n")
            body = f"{name} {self.path}\n".encode()
            self.send_response(int(status))
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = IPv6OnlyServer if ":" in host else http.server.ThreadingHTTPServer
    server((host, int(port)), Handler).serve_forever()

def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            print(response.status, response.read().decode().strip())
    except Exception as error:  # refused, reset, timeout: the test prints which
        print("ERROR", error)
        sys.exit(1)

def grok(patterns_file, name, log):
    # Expands the Logstash grok pattern NAME from deploy/logstash/patterns the way grok does (%{PATTERN:field:type}
    # becomes a named group) and prints "url production_status shadow_status" per line, or NOMATCH and the line.
    import re
    definitions = {"NOTSPACE": r"\S+"}
    for line in open(patterns_file):
        if line.strip() and not line.startswith("#"):
            key, _, value = line.strip().partition(" ")
            definitions[key] = value

    def expand(pattern):
        def reference(match):
            parts = match.group(1).split(":")
            body = expand(definitions[parts[0]])
            return f"(?P<{parts[1]}>{body})" if len(parts) > 1 else f"(?:{body})"
        return re.sub(r"%\{([^}]+)\}", reference, pattern)

    regex = re.compile("^" + expand("%{" + name + "}") + "$")
    for line in open(log):
        match = regex.match(line.rstrip("\n"))
        print(f"{match['url']} {match['production_status']} {match['shadow_status']}" if match else f"NOMATCH {line.strip()}")

def notify(path):
    # Plays systemd's side of Type=notify: receives the service's sd_notify datagrams until READY=1 (20 s at most).
    import os, socket
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(path + ".tmp")
    os.rename(path + ".tmp", path)  # the path appears only once it is bound
    receiver.settimeout(20)
    try:
        while "READY=1" not in receiver.recv(4096).decode().split("\n"):
            pass
    except socket.timeout:
        sys.exit(1)

if sys.argv[1] == "serve":
    serve(*sys.argv[2:])
elif sys.argv[1] == "notify":
    notify(sys.argv[2])
elif sys.argv[1] == "grok":
    grok(*sys.argv[2:])
else:
    get(sys.argv[2])
PY

wait_port() {   # wait_port NS-RUNNER HOST PORT: until a TCP connect succeeds (10 s at most)
    local runner=$1 host=$2 port=$3 i
    for ((i = 0; i < 100; i++)); do
        "$runner" timeout 1 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

get_from_client() { in_client "$python" "$work/app.py" get "$1"; }
get() { get_from_client "http://10.200.1.2$1"; }   # from the client, to the box's port 80
get6() { in_client "$python" "$work/app.py" get "http://[fd00:200:1::2]$1"; }   # the same, over IPv6

# requests_from LOG PATH: the peer addresses that LOG recorded for PATH, one per line
requests_from() { awk -v path="$2" '$3 == path { print $1 }' "$1"; }
# logged LOG PATH: waits (5 s at most) until LOG has a line for PATH. The client has production's answer before the
# shadow necessarily has its copy: a look at the shadow's log right after the answer would race the copy.
logged() {
    local i
    for ((i = 0; i < 50; i++)); do
        [[ -n $(requests_from "$1" "$2") ]] && return 0
        sleep 0.1
    done
    return 1
}
# $1 log, $2 peer: each of the five /mirror requests is in the log exactly once, from that peer.
each_mirrored_once_from() {
    local i
    for i in 1 2 3 4 5; do
        logged "$1" "/mirror/$i?q=$i" && [[ $(requests_from "$1" "/mirror/$i?q=$i") == "$2" ]] || return 1
    done
}

# ---- build the topology --------------------------------------------------------------------------------------------
ip netns add "$client" && ip netns add "$box" && ip netns add "$shadow" || { echo "netns-e2e: ip netns add failed" >&2; exit 2; }
ip -n "$box" link add out0 type veth peer name c0 netns "$client"
ip -n "$box" link add sh0 type veth peer name sh0 netns "$shadow"
ip -n "$client" addr add 10.200.1.1/24 dev c0
ip -n "$box" addr add 10.200.1.2/24 dev out0
ip -n "$box" addr add 10.200.2.1/24 dev sh0
# nodad: usable at once, without waiting for duplicate address detection.
ip -n "$client" addr add fd00:200:1::1/64 dev c0 nodad
ip -n "$box" addr add fd00:200:1::2/64 dev out0 nodad
ip -n "$shadow" addr add 10.200.2.2/24 dev sh0
for ns in "$client" "$box" "$shadow"; do
    ip -n "$ns" link set lo up
done
# The box's IPv6 sockets are IPv6-only unless they ask otherwise (some distributions ship this): the proxy's [::]
# listener must still take IPv4 clients. The setting is the namespace's own.
ip netns exec "$box" sysctl -qw net.ipv6.bindv6only=1
ip -n "$client" link set c0 up
ip -n "$box" link set out0 up
ip -n "$box" link set sh0 up
ip -n "$shadow" link set sh0 up
# The box also routes (as a Docker or Kubernetes node, or a gateway does): the client reaches the shadow's network
# through it. Port 80 of another host, passing through out0, is that host's business, not the proxy's.
ip netns exec "$box" sysctl -qw net.ipv4.ip_forward=1
ip -n "$client" route add 10.200.2.0/24 via 10.200.1.2
ip -n "$shadow" route add 10.200.1.0/24 via 10.200.2.1

# "ip netns exec" execs the program, so $! is the program itself.
ip netns exec "$box" "$python" "$work/app.py" serve production 0.0.0.0 80 "$work/production.log" 200 &
pids+=($!)
ip netns exec "$box" "$python" "$work/app.py" serve production :: 80 "$work/production.log" 200 &
pids+=($!)
ip netns exec "$shadow" "$python" "$work/app.py" serve shadow 10.200.2.2 8080 "$work/shadow.log" 202 &
pids+=($!)
ip netns exec "$shadow" "$python" "$work/app.py" serve behind 10.200.2.2 80 "$work/behind.log" 200 &   # a host behind the box
pids+=($!)
touch "$work/production.log" "$work/shadow.log"
wait_port in_box 127.0.0.1 80 && wait_port in_box ::1 80 && wait_port in_shadow 10.200.2.2 8080 && wait_port in_shadow 10.200.2.2 80 || { echo "netns-e2e: the test apps did not start" >&2; exit 2; }

echo "netns-e2e: proxy command: ${proxy_cmd[*]}"
if [[ $(get /before) == '200 production /before' && $(requests_from "$work/production.log" /before) == 10.200.1.1 ]]; then
    pass "topology: client reaches production directly before anything is installed"
else
    fail "topology: client reaches production directly before anything is installed"
fi
if [[ $(get6 /before6) == '200 production /before6' && $(requests_from "$work/production.log" /before6) == fd00:200:1::1 ]]; then
    pass "topology: the client reaches production directly over IPv6 too"
else
    fail "topology: the client reaches production directly over IPv6 too" "$(tail -2 "$work/production.log")"
fi

# ---- install, the way an operator does (into the scratch root) -----------------------------------------------------
install_log=$work/install.log
# A shadow given by host name: the proxy takes IP addresses (and localhost) only, so install.sh must refuse it
# before it installs anything (on a real box: before it stops the running proxy), not leave a unit that cannot start.
if ! SHADOWPROXY_ROOT=$work/refused in_box "$deploy/install.sh" --publish-dir "$publish_dir" --shadow shadow.example:8080 \
    --interface out0 >"$work/refused.log" 2>&1 && grep -q -- "--shadow: expected IP:PORT" "$work/refused.log" &&
    [[ ! -e $work/refused ]]; then
    pass "install.sh refuses a shadow given by host name (the proxy takes IP addresses) before installing anything"
else
    fail "install.sh refuses a shadow given by host name (the proxy takes IP addresses) before installing anything" \
        "$(cat "$work/refused.log")"
fi
# A port out of range would pass a digits check and fail only at the start (or in iptables).
if ! SHADOWPROXY_ROOT=$work/refused-port in_box "$deploy/install.sh" --publish-dir "$publish_dir" --shadow 10.200.2.2:8080 \
    --interface out0 --listen-port 70000 >"$work/refused-port.log" 2>&1 &&
    grep -q -- "--port and --listen-port take a port from 1 to 65535" "$work/refused-port.log" && [[ ! -e $work/refused-port ]]; then
    pass "install.sh refuses a listen port over 65535 before installing anything"
else
    fail "install.sh refuses a listen port over 65535 before installing anything" "$(cat "$work/refused-port.log")"
fi
if SHADOWPROXY_ROOT=$root in_box "$deploy/install.sh" --publish-dir "$publish_dir" --shadow 10.200.2.2:8080 \
    --interface out0 >"$install_log" 2>&1 &&
    [[ -x $root/usr/local/lib/shadowproxy/ShadowProxy && -x $root/usr/local/lib/shadowproxy/shadowproxy-redirect &&
        -f $root/etc/systemd/system/shadowproxy.service && -f $root/etc/logrotate.d/shadowproxy &&
        -d $root/var/log/shadowproxy ]] &&
    grep -q '"Shadow": "10.200.2.2:8080"' "$root/etc/shadowproxy/appsettings.json" &&
    grep -q '^REDIRECT_INTERFACE=out0$' "$root/etc/shadowproxy/redirect.env"; then
    pass "install.sh installs program, settings, unit, redirect helper, logrotate config, log directory"
else
    fail "install.sh installs program, settings, unit, redirect helper, logrotate config, log directory" "$(cat "$install_log")"
fi

# Production is written once: SHADOWPROXY_PRODUCTION in redirect.env, which the unit gives to the proxy and to the
# redirect helper alike; the settings file has no second copy that could drift from it. An IPv6 production too: the
# value survives the EnvironmentFile read as it is written (brackets and all).
settings=$root/etc/shadowproxy/appsettings.json
redirect_env=$root/etc/shadowproxy/redirect.env
production_key='"production"[[:space:]]*:'
if SHADOWPROXY_ROOT=$work/v6 in_box "$deploy/install.sh" --publish-dir "$publish_dir" --shadow 10.200.2.2:8080 \
    --interface out0 --production '[::1]:80' >"$work/v6.log" 2>&1 &&
    [[ $(grep -c '^SHADOWPROXY_PRODUCTION=127.0.0.1:80$' "$redirect_env") == 1 ]] && ! grep -qi "$production_key" "$settings" &&
    [[ $(bash -c 'set -a; . "$1"; echo "$SHADOWPROXY_PRODUCTION"' _ "$work/v6/etc/shadowproxy/redirect.env") == '[::1]:80' ]] &&
    ! grep -qi "$production_key" "$work/v6/etc/shadowproxy/appsettings.json"; then
    pass "install.sh writes production once, as SHADOWPROXY_PRODUCTION in redirect.env (127.0.0.1:80, or --production [::1]:80), not in appsettings.json"
else
    fail "install.sh writes production once, as SHADOWPROXY_PRODUCTION in redirect.env (127.0.0.1:80, or --production [::1]:80), not in appsettings.json" \
        "$(grep -Hi production "$redirect_env" "$settings" "$work/v6/etc/shadowproxy/"{redirect.env,appsettings.json} 2>&1)" "$(tail -3 "$work/v6.log")"
fi

# The listen address is written once too: SHADOWPROXY_LISTEN in redirect.env ([::]:8001, or --listen-port's port), which
# the proxy reads as its Listen and the helper redirects to; no Listen in appsettings.json, no PROXY_PORT beside it.
listen_key='[":]listen"[[:space:]]*:'
if SHADOWPROXY_ROOT=$work/port in_box "$deploy/install.sh" --publish-dir "$publish_dir" --shadow 10.200.2.2:8080 \
    --interface out0 --listen-port 08002 >"$work/port.log" 2>&1 &&
    [[ $(grep -c '^SHADOWPROXY_LISTEN=\[::\]:8001$' "$redirect_env") == 1 ]] && ! grep -qi "$listen_key" "$settings" &&
    [[ $(bash -c 'set -a; . "$1"; echo "$SHADOWPROXY_LISTEN"' _ "$work/port/etc/shadowproxy/redirect.env") == '[::]:8002' ]] &&
    ! grep -qi "$listen_key" "$work/port/etc/shadowproxy/appsettings.json" &&
    ! grep -q PROXY_PORT "$redirect_env" "$work/port/etc/shadowproxy/redirect.env"; then
    pass "install.sh writes the listen address once, as SHADOWPROXY_LISTEN in redirect.env ([::]:8001, or --listen-port 08002 as [::]:8002), not in appsettings.json, no PROXY_PORT"
else
    fail "install.sh writes the listen address once, as SHADOWPROXY_LISTEN in redirect.env ([::]:8001, or --listen-port 08002 as [::]:8002), not in appsettings.json, no PROXY_PORT" \
        "$(grep -Hi -e listen -e PROXY_PORT "$redirect_env" "$settings" "$work/port/etc/shadowproxy/"{redirect.env,appsettings.json} 2>&1)" "$(tail -3 "$work/port.log")"
fi

# An upgrade from an install before SHADOWPROXY_LISTEN (Listen in appsettings.json, PROXY_PORT in redirect.env, here
# moved to 9001 in both): the new layout replaces both files, the old ones are kept in backups, and install.sh says
# that PROXY_PORT is gone and that the port changes unless --listen-port 9001 is given again.
old_etc=$work/port/etc/shadowproxy
printf '{\n  "ShadowProxy": {\n    "Listen": "[::]:9001",\n    "Shadow": "10.200.2.2:8080",\n    "Format": "text"\n  }\n}\n' >"$old_etc/appsettings.json"
printf 'REDIRECT_INTERFACE=out0\nREDIRECT_PORT=80\nPROXY_PORT=9001\nSHADOWPROXY_PRODUCTION=127.0.0.1:80\nPROXY_SETTINGS=/etc/shadowproxy/appsettings.json\n' \
    >"$old_etc/redirect.env"
if SHADOWPROXY_ROOT=$work/port in_box "$deploy/install.sh" --publish-dir "$publish_dir" --shadow 10.200.2.2:8080 \
    --interface out0 >"$work/upgrade.log" 2>&1 &&
    grep -qx 'SHADOWPROXY_LISTEN=\[::\]:8001' "$old_etc/redirect.env" && ! grep -q PROXY_PORT "$old_etc/redirect.env" &&
    ! grep -qi "$listen_key" "$old_etc/appsettings.json" &&
    [[ $(grep -lx 'PROXY_PORT=9001' "$old_etc"/redirect.env.bak* 2>/dev/null | wc -l) == 1 ]] &&
    [[ $(grep -l '"Listen": "\[::\]:9001"' "$old_etc"/appsettings.json.bak* 2>/dev/null | wc -l) == 1 ]] &&
    grep -q 'PROXY_PORT is no longer used; the listen address is SHADOWPROXY_LISTEN there now' "$work/upgrade.log" &&
    grep -q 'the previous install listened on port 9001; this one listens on 8001 (--listen-port): run again with --listen-port 9001' "$work/upgrade.log"; then
    pass "install.sh over an install with PROXY_PORT: SHADOWPROXY_LISTEN replaces it (old files in backups), and it says so, and that port 9001 becomes 8001"
else
    fail "install.sh over an install with PROXY_PORT: SHADOWPROXY_LISTEN replaces it (old files in backups), and it says so, and that port 9001 becomes 8001" \
        "$(grep -H -e LISTEN -e PROXY_PORT -e Listen "$old_etc"/* 2>&1)" "$(cat "$work/upgrade.log")"
fi

# ---- install.sh again (an upgrade): a plain re-run changes nothing; an operator's edits are never lost ------------
reinstall() {
    SHADOWPROXY_ROOT=$root in_box "$deploy/install.sh" --publish-dir "$publish_dir" --shadow 10.200.2.2:8080 \
        --interface out0 >>"$install_log" 2>&1
}
cp "$settings" "$work/settings.installed"
cp "$redirect_env" "$work/redirect.env.installed"
reinstall
same_again=$(cmp -s "$settings" "$work/settings.installed" && cmp -s "$redirect_env" "$work/redirect.env.installed" &&
    find "$root/etc/shadowproxy" -name '*.bak*' | wc -l)
sed -i 's#"Format": "text"#"Format": "text",\n    "Exclude": "/operator-edit"#' "$settings"   # the operator's edits
echo 'READY_TIMEOUT=30   # operator-edit' >>"$redirect_env"
reinstall && reinstall
if [[ $same_again == 0 ]] && cmp -s "$settings" "$work/settings.installed" &&
    [[ $(grep -l '"Exclude": "/operator-edit"' "$settings".bak* 2>/dev/null | wc -l) == 1 ]]; then
    pass "install.sh again: the same settings stay as they are, no backup; an edited settings file survives two more runs, in a backup"
else
    fail "install.sh again: the same settings stay as they are, no backup; an edited settings file survives two more runs, in a backup" \
        "backups after a plain re-run: ${same_again:-settings changed}" "$(grep -H Exclude "$settings"* 2>&1)" "$(tail -3 "$install_log")"
fi
# redirect.env holds production now: an operator's edit of it is kept the same way, not silently written over.
if cmp -s "$redirect_env" "$work/redirect.env.installed" &&
    [[ $(grep -l 'operator-edit' "$redirect_env".bak* 2>/dev/null | wc -l) == 1 ]]; then
    pass "install.sh again: an edited redirect.env survives two more runs, in a backup"
else
    fail "install.sh again: an edited redirect.env survives two more runs, in a backup" \
        "$(grep -H operator-edit "$redirect_env"* 2>&1)" "$(ls "$root/etc/shadowproxy")"
fi

# ---- systemd, as far as the unit's commands go ---------------------------------------------------------------------
unit=$root/etc/systemd/system/shadowproxy.service
unit_value() { sed -n "s/^$1=//p" "$unit"; }
# A unit path on the box, as a path under the scratch root.
rooted() {
    sed -e "s#/usr/local/lib/shadowproxy#$root/usr/local/lib/shadowproxy#g" -e "s#/etc/shadowproxy#$root/etc/shadowproxy#g" \
        -e "s#/var/log/shadowproxy#$root/var/log/shadowproxy#g"
}
env_file=$(unit_value EnvironmentFile | rooted)
# The proxy's stdout, as systemd gives it: StandardOutput=append:FILE, opened by root with O_APPEND, and created (when
# missing) with the unit's UMask.
requests_log=$(unit_value StandardOutput | sed 's/^append://' | rooted)
unit_umask=$(unit_value UMask)

# run_unit_commands KEY: every KEY= line of the unit, in order, in the box, with the unit's environment file.
# "+" (full privileges) is what root in this script has anyway.
run_unit_commands() {
    local line rc=0
    local -a argv
    while IFS= read -r line; do
        line=${line#[+\-!@:]}
        read -r -a argv <<<"$(rooted <<<"$line")"
        in_box bash -c 'set -a; . "$1"; set +a; shift; exec "$@"' _ "$env_file" "${argv[@]}" || rc=$?
    done < <(unit_value "$1")
    return "$rc"
}

proxy_pid=
proxy_runs=0
ready=()
# start: ExecStart (PROXY_COMMAND + the unit's arguments) with the unit's EnvironmentFile (systemd gives it to every
# command of the unit: SHADOWPROXY_PRODUCTION is the proxy's Production) and a NOTIFY_SOCKET; once READY=1 arrives on it
# (Type=notify), ExecStartPost. Returns non-zero when the proxy never signals readiness or ExecStartPost fails. A proxy
# that exits before READY=1 (a settings file it refuses) fails the start at its exit, as systemd does, not after the
# receiver's 20 s; its exit code and stderr are printed and kept in ready[].
start_service() {
    local -a args
    local socket receiver i first= code
    read -r -a args <<<"$(unit_value ExecStart | rooted)"
    proxy_runs=$((proxy_runs + 1))
    socket=$work/notify-$proxy_runs.sock
    "$python" "$work/app.py" notify "$socket" &
    receiver=$!
    pids+=("$receiver")
    for ((i = 0; i < 100; i++)); do
        [[ -S $socket ]] && break
        sleep 0.05
    done
    (
        umask "$unit_umask"
        exec ip netns exec "$box" env NOTIFY_SOCKET="$socket" bash -c 'set -a; . "$1"; set +a; shift; exec "$@"' _ \
            "$env_file" "${proxy_cmd[@]}" "${args[@]:1}" >>"$requests_log" 2>"$work/proxy-$proxy_runs.err"
    ) &
    proxy_pid=$!
    pids+=("$proxy_pid")
    # Whichever ends first: the receiver (READY=1 came, or 20 s passed) or the proxy (it exited before it was ready).
    wait -n -p first "$receiver" "$proxy_pid"
    code=$?
    if [[ $first == "$proxy_pid" ]]; then
        kill -TERM "$receiver" 2>/dev/null
        wait "$receiver" 2>/dev/null
        ready+=("run $proxy_runs: the proxy exited with code $code before READY=1; stderr: $(tail -c 2000 "$work/proxy-$proxy_runs.err")")
        echo "netns-e2e: ${ready[-1]}"
        return 1
    fi
    if ((code != 0)); then
        ready+=("run $proxy_runs: no READY=1 within 20 s")
        return 1
    fi
    ready+=("run $proxy_runs: READY=1")
    run_unit_commands ExecStartPost 2>>"$work/redirect.log"
}
# rule_count [ip6tables]: the helper's rules in the box's nat table (iptables unless said)
rule_count() { in_box "${1:-iptables}" -w 5 -t nat -S PREROUTING | grep -c -- 'shadowproxy-redirect'; }
# all_rules: the redirect rules in place, IPv4 and IPv6 together
all_rules() { echo $(($(rule_count) + $(rule_count ip6tables))); }

# ---- 1. a failed start adds no redirect ----------------------------------------------------------------------------
if ! READY_TIMEOUT=2 in_box bash -c 'set -a; . "$1"; set +a; READY_TIMEOUT=2 exec "$2" add' _ "$env_file" \
    "$root/usr/local/lib/shadowproxy/shadowproxy-redirect" 2>>"$work/redirect.log" && [[ $(rule_count) == 0 && $(rule_count ip6tables) == 0 ]] &&
    grep -q 'does not answer on 127.0.0.1:8001 after 2s; no redirect' "$work/redirect.log" &&
    [[ $(get /no-proxy-yet) == '200 production /no-proxy-yet' ]]; then
    pass "fail-safe: ExecStartPost refuses to add the redirect while nothing answers on 8001; production still served"
else
    fail "fail-safe: ExecStartPost refuses to add the redirect while nothing answers on 8001; production still served" \
        "rules: $(rule_count)" "$(tail -3 "$work/redirect.log")"
fi

# ---- 1b. a proxy that takes no IPv6 clients gets no IPv6 redirect ---------------------------------------------------
# Listening on 0.0.0.0 only (an operator's own settings): an ip6tables rule would send IPv6 clients to a port where
# nothing takes them, so add leaves IPv6 alone and those clients keep reaching production.
read -r -a ipv4_only_args <<<"$(unit_value ExecStart | rooted)"
ip netns exec "$box" bash -c 'set -a; . "$1"; set +a; shift; exec "$@"' _ "$env_file" \
    "${proxy_cmd[@]}" "${ipv4_only_args[@]:1}" --listen 0.0.0.0:8001 \
    >>"$work/ipv4-only.log" 2>"$work/proxy-ipv4-only.err" &
ipv4_only_pid=$!
pids+=("$ipv4_only_pid")

# ---- 1c. a proxy that cannot reach production gets no redirect ------------------------------------------------------
# The proxy answers, but production does not answer where the proxy sends (here 127.0.0.1:81; on a real box, say, a
# web server that listens on the public address only): a redirect would answer every client 502.
if wait_port in_box 127.0.0.1 8001 &&
    ! in_box bash -c 'set -a; . "$1"; set +a; SHADOWPROXY_PRODUCTION=127.0.0.1:81 READY_TIMEOUT=2 exec "$2" add' _ "$env_file" \
        "$root/usr/local/lib/shadowproxy/shadowproxy-redirect" 2>>"$work/redirect.log" &&
    [[ $(rule_count) == 0 && $(rule_count ip6tables) == 0 ]] &&
    grep -q 'production does not answer on 127.0.0.1:81 after 2s; no redirect' "$work/redirect.log" &&
    [[ $(get /production-unreachable) == '200 production /production-unreachable' ]]; then
    pass "fail-safe: ExecStartPost adds no redirect while production does not answer where the proxy sends; production still served"
else
    fail "fail-safe: ExecStartPost adds no redirect while production does not answer where the proxy sends; production still served" \
        "rules: $(rule_count) IPv4, $(rule_count ip6tables) IPv6" "$(tail -3 "$work/redirect.log")"
    run_unit_commands ExecStopPost 2>>"$work/redirect.log"   # so that the next checks start without a rule
fi

# ---- 1d. production given as localhost is checked where the proxy sends: 127.0.0.1 ----------------------------------
# The proxy reads localhost:PORT as 127.0.0.1:PORT. With Debian's /etc/hosts (localhost is ::1 too, tried first), a
# production on [::1] only must not pass the helper's check: the proxy would answer every redirected client 502.
# ip netns exec gives the box /etc/netns/BOX/hosts as its /etc/hosts.
box_etc=/etc/netns/$box
[[ -d /etc/netns ]] || made_netns_etc=yes
mkdir -p "$box_etc"
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$box_etc/hosts"
ip netns exec "$box" "$python" "$work/app.py" serve production-v6 ::1 8090 "$work/production-v6.log" 200 &
v6_production_pid=$!
pids+=("$v6_production_pid")
if wait_port in_box ::1 8090 && [[ $(in_box getent ahosts localhost | head -n 1) == "::1 "* ]] &&
    ! in_box bash -c 'set -a; . "$1"; set +a; SHADOWPROXY_PRODUCTION=localhost:8090 READY_TIMEOUT=2 exec "$2" add' _ "$env_file" \
        "$root/usr/local/lib/shadowproxy/shadowproxy-redirect" 2>>"$work/redirect.log" &&
    [[ $(rule_count) == 0 && $(rule_count ip6tables) == 0 ]] &&
    grep -q 'production does not answer on localhost:8090 (127.0.0.1:8090, as the proxy reads it) after 2s; no redirect' "$work/redirect.log"; then
    pass "fail-safe: production given as localhost is checked at 127.0.0.1, as the proxy sends, not at ::1; no redirect while only ::1 answers"
else
    fail "fail-safe: production given as localhost is checked at 127.0.0.1, as the proxy sends, not at ::1; no redirect while only ::1 answers" \
        "rules: $(rule_count) IPv4, $(rule_count ip6tables) IPv6" "localhost is: $(in_box getent ahosts localhost | head -n 1)" \
        "$(tail -3 "$work/redirect.log")"
    run_unit_commands ExecStopPost 2>>"$work/redirect.log"   # so that the next checks start without a rule
fi
kill -TERM "$v6_production_pid" 2>/dev/null
wait "$v6_production_pid" 2>/dev/null
rm -rf "$box_etc"
[[ -z ${made_netns_etc:-} ]] || rmdir /etc/netns 2>/dev/null

if run_unit_commands ExecStartPost 2>>"$work/redirect.log" && [[ $(rule_count) == 1 && $(rule_count ip6tables) == 0 ]] &&
    grep -q 'does not answer on \[::1\]:8001 (Listen is not \[::\], or ::1 is not configured): no IPv6 redirect' "$work/redirect.log" &&
    [[ $(get6 /ipv4-only-proxy) == '200 production /ipv4-only-proxy' ]] &&
    [[ $(requests_from "$work/production.log" /ipv4-only-proxy) == fd00:200:1::1 ]]; then
    pass "fail-safe: with the proxy on 0.0.0.0 only, ExecStartPost adds the IPv4 redirect and no IPv6 one; IPv6 clients reach production"
else
    fail "fail-safe: with the proxy on 0.0.0.0 only, ExecStartPost adds the IPv4 redirect and no IPv6 one; IPv6 clients reach production" \
        "rules: $(rule_count) IPv4, $(rule_count ip6tables) IPv6" "$(tail -3 "$work/redirect.log")" "$(tail -3 "$work/proxy-ipv4-only.err")"
fi
run_unit_commands ExecStop 2>>"$work/redirect.log"
kill -TERM "$ipv4_only_pid"
wait "$ipv4_only_pid" 2>/dev/null

# ---- 2. running: through the proxy ---------------------------------------------------------------------------------
redirect_rule='-A PREROUTING -i out0 -p tcp -m tcp --dport 80 .*REDIRECT --to-ports 8001'
if start_service && [[ $(rule_count) == 1 && $(rule_count ip6tables) == 1 ]] &&
    in_box iptables -w 5 -t nat -S PREROUTING | grep -q -- "$redirect_rule" &&
    in_box ip6tables -w 5 -t nat -S PREROUTING | grep -q -- "$redirect_rule"; then
    pass "start: ExecStartPost adds one REDIRECT tcp/80 -> 8001 for IPv4 and one for IPv6, on out0 only, once the proxy answers"
else
    fail "start: ExecStartPost adds one REDIRECT tcp/80 -> 8001 for IPv4 and one for IPv6, on out0 only, once the proxy answers" \
        "$(in_box iptables -t nat -S PREROUTING)" "$(in_box ip6tables -t nat -S PREROUTING)" "$(tail -5 "$work/redirect.log")" "$(tail -5 "$work/proxy-1.err")"
fi

answers=ok
for i in 1 2 3 4 5; do
    [[ $(get "/mirror/$i?q=$i") == "200 production /mirror/$i?q=$i" ]] || answers="/mirror/$i?q=$i: $(get "/mirror/$i?q=$i")"
done
check "client -> box:80 gets production's response (5 requests)" test "$answers" = ok

if each_mirrored_once_from "$work/production.log" 127.0.0.1; then
    pass "production got each request exactly once, from 127.0.0.1 (through the proxy, no loop)"
else
    fail "production got each request exactly once, from 127.0.0.1 (through the proxy, no loop)" "$(grep mirror "$work/production.log")"
fi

if each_mirrored_once_from "$work/shadow.log" 10.200.2.1; then
    pass "the shadow got each request exactly once, from the box"
else
    fail "the shadow got each request exactly once, from the box" "$(cat "$work/shadow.log")"
fi

# The text request lines, parsed with the Logstash grok pattern of deploy/logstash/patterns/shadowproxy.
# Lines are written once both backends finished; give the last one a moment to reach the file.
for ((i = 0; i < 50; i++)); do
    (($(grep -c mirror "$requests_log") >= 5)) && break
    sleep 0.1
done
parsed=$("$python" "$work/app.py" grok "$deploy/logstash/patterns/shadowproxy" SHADOWPROXY_LINE "$requests_log")
expected=$(for i in 1 2 3 4 5; do echo "/mirror/$i?q=$i 200 202"; done)
if [[ $parsed == "$expected" ]]; then
    pass "stdout holds exactly the 5 request lines; the Logstash grok pattern parses each (URL, statuses 200 / 202)"
else
    fail "stdout holds exactly the 5 request lines; the Logstash grok pattern parses each (URL, statuses 200 / 202)" \
        "$(cat "$requests_log")" "parsed: $parsed"
fi

# Logstash tails the request log as its own user, not root: a member of the group install.sh gives the log
# (logstash when that group exists, else adm) reads it through the installed directory.
log_group=adm
! getent group logstash >/dev/null || log_group=logstash
if [[ -s $requests_log ]] &&
    setpriv --reuid=65534 --regid="$(getent group "$log_group" | cut -d: -f3)" --clear-groups cat "$requests_log" >"$work/as-logstash.log" 2>&1 &&
    cmp -s "$requests_log" "$work/as-logstash.log"; then
    pass "the request log (the unit's StandardOutput=append:) is readable by group $log_group, as Logstash reads it"
else
    fail "the request log (the unit's StandardOutput=append:) is readable by group $log_group, as Logstash reads it" \
        "$(ls -ld "$root/var/log/shadowproxy" "$requests_log" 2>&1)" "$(cat "$work/as-logstash.log")"
fi

# An IPv6 client: through the ip6tables rule to the same proxy socket ([::]), mirrored and logged like the others.
answer6=$(get6 /mirror6)
for ((i = 0; i < 50; i++)); do   # the line is written once both backends have answered
    grep -q '^/mirror6 ' "$requests_log" && break
    sleep 0.1
done
if [[ $answer6 == '200 production /mirror6' ]] &&
    [[ $(requests_from "$work/production.log" /mirror6) == 127.0.0.1 && $(requests_from "$work/shadow.log" /mirror6) == 10.200.2.1 ]] &&
    grep -Eq '^/mirror6 [0-9.]+ [0-9.]+ -?[0-9.]+ 200 202$' "$requests_log"; then
    pass "an IPv6 client gets production's response; production and the shadow each got it once, through the proxy; one request line"
else
    fail "an IPv6 client gets production's response; production and the shadow each got it once, through the proxy; one request line" \
        "client: $answer6" "$(grep mirror6 "$work/production.log" "$work/shadow.log" "$requests_log")"
fi

# The rule is on out0 only: the shadow's side of the box, and the box itself, reach production on port 80 directly.
if [[ $(in_shadow "$python" "$work/app.py" get http://10.200.2.1/side-door) == '200 production /side-door' ]] &&
    [[ $(requests_from "$work/production.log" /side-door) == 10.200.2.2 ]] &&
    [[ $(in_box "$python" "$work/app.py" get http://10.200.1.2/from-the-box) == '200 production /from-the-box' ]] &&
    [[ $(requests_from "$work/production.log" /from-the-box) == 10.200.1.2 ]] &&
    ! grep -q -e side-door -e from-the-box "$requests_log"; then
    pass "port 80 arriving on another interface, or from the box itself, is not redirected"
else
    fail "port 80 arriving on another interface, or from the box itself, is not redirected" "$(tail -3 "$work/production.log")"
fi

if [[ ${ready[0]} == "run 1: READY=1" ]]; then
    pass "Type=notify: the proxy sends READY=1 to NOTIFY_SOCKET (AddSystemd), and ExecStartPost runs after it"
else
    fail "Type=notify: the proxy sends READY=1 to NOTIFY_SOCKET (AddSystemd), and ExecStartPost runs after it" "${ready[@]}"
fi

# Routed through the box to another host's port 80: not the box's traffic, so neither redirected nor mirrored.
if [[ $(get_from_client http://10.200.2.2/routed) == '200 behind /routed' ]] &&
    [[ $(requests_from "$work/behind.log" /routed) == 10.200.1.1 ]] &&
    ! grep -q /routed "$work/production.log" "$requests_log"; then
    pass "port 80 of another host, routed through the box, is not redirected (only the box's own addresses are)"
else
    fail "port 80 of another host, routed through the box, is not redirected (only the box's own addresses are)" \
        "client: $(get_from_client http://10.200.2.2/routed-again)" "$(grep routed "$work/production.log" "$requests_log")"
fi

# ---- 3. crash: kill -9, then what systemd does when the main process dies ------------------------------------------
kill -KILL "$proxy_pid"
wait "$proxy_pid" 2>/dev/null
if ! get /after-crash-before-failsafe >/dev/null; then
    pass "after kill -9, with the redirect still in place, the client is refused (what the fail-safe is for)"
else
    fail "after kill -9, with the redirect still in place, the client is refused (what the fail-safe is for)"
fi
# A crash after a successful start: systemd runs ExecStop=, then ExecStopPost=. ExecStopPost= alone must suffice
# (a start that failed runs only that one), so only it runs here.
run_unit_commands ExecStopPost 2>>"$work/redirect.log"
if [[ $(rule_count) == 0 && $(rule_count ip6tables) == 0 ]] && [[ $(get /after-crash) == '200 production /after-crash' ]] &&
    [[ $(requests_from "$work/production.log" /after-crash) == 10.200.1.1 ]] &&
    [[ $(get6 /after-crash6) == '200 production /after-crash6' ]] &&
    [[ $(requests_from "$work/production.log" /after-crash6) == fd00:200:1::1 ]]; then
    pass "fail-safe: ExecStopPost removes both redirects; the client gets production directly (peers 10.200.1.1, fd00:200:1::1)"
else
    fail "fail-safe: ExecStopPost removes both redirects; the client gets production directly (peers 10.200.1.1, fd00:200:1::1)" \
        "rules: $(rule_count) IPv4, $(rule_count ip6tables) IPv6" "$(tail -3 "$work/redirect.log")"
fi

# ---- 4. Restart=on-failure: back through the proxy -----------------------------------------------------------------
if start_service && [[ $(get /restarted) == '200 production /restarted' ]] &&
    [[ $(requests_from "$work/production.log" /restarted) == 127.0.0.1 ]] &&
    logged "$work/shadow.log" /restarted && [[ $(requests_from "$work/shadow.log" /restarted) == 10.200.2.1 ]]; then
    pass "restart: the redirect is back and requests go through the proxy again"
else
    fail "restart: the redirect is back and requests go through the proxy again" "$(tail -5 "$work/proxy-$proxy_runs.err")"
fi

# ---- 4b. a rule that cannot be deleted does not keep the other table's -------------------------------------------
# iptables -D failing for IPv4 (the xtables lock held by another tool past -w, say): remove must still take the IPv6
# rule away, then fail and name the one left, instead of stopping at the first failure.
# The stand-in runs the iptables this run uses (nft or legacy: whichever is first in PATH), not a fixed one.
mkdir -p "$work/failing-iptables"
cat >"$work/failing-iptables/iptables" <<SH
#!/bin/bash
for argument; do
    [[ \$argument != -D ]] || { echo "iptables: Resource temporarily unavailable (the test's)" >&2; exit 4; }
done
exec $(command -v iptables) "\$@"
SH
chmod 0755 "$work/failing-iptables/iptables"
if ! in_box env PATH="$work/failing-iptables:$PATH" bash -c 'set -a; . "$1"; set +a; exec "$2" remove' _ "$env_file" \
    "$root/usr/local/lib/shadowproxy/shadowproxy-redirect" 2>>"$work/redirect.log" &&
    [[ $(rule_count) == 1 && $(rule_count ip6tables) == 0 ]] && grep -q 'cannot remove (ipt): ' "$work/redirect.log" &&
    [[ $(get6 /one-rule-stuck) == '200 production /one-rule-stuck' ]] &&
    [[ $(requests_from "$work/production.log" /one-rule-stuck) == fd00:200:1::1 ]]; then
    pass "fail-safe: an IPv4 rule that cannot be deleted makes remove fail, after the IPv6 rule is gone (IPv6 clients reach production)"
else
    fail "fail-safe: an IPv4 rule that cannot be deleted makes remove fail, after the IPv6 rule is gone (IPv6 clients reach production)" \
        "rules: $(rule_count) IPv4, $(rule_count ip6tables) IPv6" "$(tail -3 "$work/redirect.log")"
fi
run_unit_commands ExecStartPost 2>>"$work/redirect.log"   # both rules again, for the stop below

# ---- 5. systemctl stop: ExecStop removes the redirect, then SIGTERM drains and exits 0 -----------------------------
run_unit_commands ExecStop 2>>"$work/redirect.log"
stop_rules=$(all_rules)
direct=$(get /stopping)
kill -TERM "$proxy_pid"
wait "$proxy_pid"
exit_code=$?
run_unit_commands ExecStopPost 2>>"$work/redirect.log"
if [[ $stop_rules == 0 && $direct == '200 production /stopping' && $exit_code == 0 ]] &&
    [[ $(requests_from "$work/production.log" /stopping) == 10.200.1.1 ]] && grep -q '^/restarted ' "$requests_log"; then
    pass "stop: ExecStop removes the redirect before SIGTERM; the proxy drains, writes its lines, exits 0"
else
    fail "stop: ExecStop removes the redirect before SIGTERM; the proxy drains, writes its lines, exits 0" \
        "rules after ExecStop: $stop_rules, client: $direct, exit code: $exit_code"
fi

# ---- 5b. production is set in one place: the proxy sends where the redirect checks --------------------------------
# An operator moves production by editing one file. Whatever the edit, the helper must check the address the proxy
# really sends to, or refuse: a redirect to a proxy that sends elsewhere answers every client 502.
cp "$settings" "$work/settings.before-5b"
cp "$env_file" "$work/redirect.env.before-5b"
stop_service() {   # systemctl stop, or what systemd does after a failed start: ExecStop, SIGTERM, ExecStopPost
    run_unit_commands ExecStop 2>>"$work/redirect.log"
    kill -TERM "$proxy_pid" 2>/dev/null
    wait "$proxy_pid" 2>/dev/null
    run_unit_commands ExecStopPost 2>>"$work/redirect.log"
}
restore_5b() {
    cp "$work/settings.before-5b" "$settings"
    cp "$work/redirect.env.before-5b" "$env_file"
}
# start_refusable: starts the service with a short readiness wait (the one-place checks below expect the helper to
# refuse, or production to be missing); started_ok says whether the start succeeded
start_refusable() {
    echo READY_TIMEOUT=2 >>"$env_file"
    started_ok=yes
    start_service || started_ok=no
}
# set_settings_production VALUE: the operator's edit of appsettings.json, with or without a Production key there
set_settings_production() {
    if grep -q '"Production"' "$settings"; then
        sed -i -E "s#\"Production\": \"[^\"]*\"#\"Production\": \"$1\"#" "$settings"
    else
        sed -i "s#\"ShadowProxy\": {#\"ShadowProxy\": {\n    \"Production\": \"$1\",#" "$settings"
    fi
}
# set_env_production VALUE: the operator's edit of redirect.env
set_env_production() {
    if grep -q '^SHADOWPROXY_PRODUCTION=' "$env_file"; then
        sed -i "s#^SHADOWPROXY_PRODUCTION=.*#SHADOWPROXY_PRODUCTION=$1#" "$env_file"
    else
        echo "SHADOWPROXY_PRODUCTION=$1" >>"$env_file"
    fi
}

# Production changed in the settings file only (to where nothing answers): the redirect must not go in.
set_settings_production 127.0.0.1:81
start_refusable
one_place_rules=$(all_rules)
one_place_answer=$(get /settings-file-only)
stop_service
if [[ $started_ok == no && $one_place_rules == 0 && $one_place_answer == '200 production /settings-file-only' ]] &&
    [[ $(requests_from "$work/production.log" /settings-file-only) == 10.200.1.1 ]] &&
    grep -q 'sets Production 127.0.0.1:81, but the proxy sends to 127.0.0.1:80' "$work/redirect.log"; then
    pass "one place: a Production edited into appsettings.json only makes the start fail, naming both addresses; no redirect, production served directly"
else
    fail "one place: a Production edited into appsettings.json only makes the start fail, naming both addresses; no redirect, production served directly" \
        "start succeeded: $started_ok, rules: $one_place_rules, client: $one_place_answer" "$(tail -3 "$work/redirect.log")"
fi
restore_5b

# Production moved in redirect.env (the one place) to where nothing answers: the proxy sends there (a client that
# connects to 8001 directly gets 502), and the helper checks there, so no redirect.
set_env_production 127.0.0.1:81
start_refusable
one_place_rules=$(all_rules)
one_place_answer=$(get /env-only)
direct_8001=$(get_from_client http://10.200.1.2:8001/straight-to-the-proxy)
stop_service
if [[ $started_ok == no && $one_place_rules == 0 && $one_place_answer == '200 production /env-only' ]] &&
    [[ $direct_8001 == *502* ]] && grep -q 'production does not answer on 127.0.0.1:81 after 2s' "$work/redirect.log"; then
    pass "one place: production moved in redirect.env is where the proxy sends (502 on 8001) and where the helper checks (no redirect)"
else
    fail "one place: production moved in redirect.env is where the proxy sends (502 on 8001) and where the helper checks (no redirect)" \
        "start succeeded: $started_ok, rules: $one_place_rules, client: $one_place_answer, straight to 8001: $direct_8001" \
        "$(tail -3 "$work/redirect.log")"
fi
restore_5b

# Production at [::1]:80, in redirect.env, and the same value in a commented settings file: agreed, so the redirect goes
# in, and production sees the proxy come from ::1.
set_env_production '[::1]:80'
set_settings_production '[::1]:80'
sed -i 's#"ShadowProxy": {#// operator note: production moved to the IPv6 loopback\n  "ShadowProxy": { /* see redirect.env */#' "$settings"
if start_service && [[ $(rule_count) == 1 && $(rule_count ip6tables) == 1 ]] &&
    [[ $(get /production-on-ipv6) == '200 production /production-on-ipv6' ]] &&
    [[ $(requests_from "$work/production.log" /production-on-ipv6) == ::1 ]] &&
    logged "$work/shadow.log" /production-on-ipv6 && [[ $(requests_from "$work/shadow.log" /production-on-ipv6) == 10.200.2.1 ]]; then
    pass "one place: production at [::1]:80 (redirect.env, and the same in a settings file with comments): redirected, production sees ::1"
else
    fail "one place: production at [::1]:80 (redirect.env, and the same in a settings file with comments): redirected, production sees ::1" \
        "rules: $(rule_count) IPv4, $(rule_count ip6tables) IPv6" "$(tail -3 "$work/redirect.log")" "$(tail -3 "$work/proxy-$proxy_runs.err")" \
        "$(tail -2 "$work/production.log")"
fi
stop_service
restore_5b

# A Production key whose value the helper cannot read on its line (no JSON parser on the box): refused, not guessed.
sed -i 's#"ShadowProxy": {#"ShadowProxy": {\n    "Production":\n      "127.0.0.1:80",#' "$settings"
rc=0
in_box bash -c 'set -a; . "$1"; set +a; exec "$2" add' _ "$env_file" "$root/usr/local/lib/shadowproxy/shadowproxy-redirect" \
    2>>"$work/redirect.log" || rc=$?
if [[ $rc == 2 && $(rule_count) == 0 ]] && grep -q 'has a Production whose value is not a string on the same line' "$work/redirect.log"; then
    pass "one place: a Production the helper cannot read (its value on the next line) is refused, exit 2, no redirect"
else
    fail "one place: a Production the helper cannot read (its value on the next line) is refused, exit 2, no redirect" \
        "exit: $rc, rules: $(rule_count)" "$(tail -2 "$work/redirect.log")"
    run_unit_commands ExecStopPost 2>>"$work/redirect.log"
fi
restore_5b

# ---- 5c. the listen address is set in one place: the rule goes where the proxy listens ------------------------------
# The same for Listen: the proxy reads SHADOWPROXY_LISTEN over its settings file, and the helper redirects to that
# port, or refuses. A redirect to a port where the proxy is not refuses every client, or hands it to whatever else
# listens there.
# set_settings_listen VALUE, set_env_listen VALUE: the operator's edits, as for production above
set_settings_listen() { sed -i "s#\"ShadowProxy\": {#\"ShadowProxy\": {\n    \"Listen\": \"$1\",#" "$settings"; }
set_env_listen() {
    if grep -q '^SHADOWPROXY_LISTEN=' "$env_file"; then
        sed -i "s#^SHADOWPROXY_LISTEN=.*#SHADOWPROXY_LISTEN=$1#" "$env_file"
    else
        echo "SHADOWPROXY_LISTEN=$1" >>"$env_file"
    fi
}
# accepts_in_box HOST PORT: a TCP connection to it from the box is accepted
accepts_in_box() { in_box timeout 1 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

# Listen changed in the settings file only: it has no effect (the proxy stays on SHADOWPROXY_LISTEN's 8001), and the
# helper refuses, naming both, rather than leave the operator believing the port moved.
set_settings_listen '[::]:8002'
start_refusable
listen_rules=$(all_rules)
on_8001=no
! accepts_in_box 127.0.0.1 8001 || on_8001=yes
listen_answer=$(get /listen-settings-only)
stop_service
if [[ $started_ok == no && $listen_rules == 0 && $on_8001 == yes && $listen_answer == '200 production /listen-settings-only' ]] &&
    [[ $(requests_from "$work/production.log" /listen-settings-only) == 10.200.1.1 ]] &&
    grep -q 'sets Listen \[::\]:8002, but the proxy listens on \[::\]:8001 (SHADOWPROXY_LISTEN' "$work/redirect.log"; then
    pass "one place: a Listen edited into appsettings.json only makes the start fail, naming both (the proxy stays on 8001); no redirect, production served directly"
else
    fail "one place: a Listen edited into appsettings.json only makes the start fail, naming both (the proxy stays on 8001); no redirect, production served directly" \
        "start succeeded: $started_ok, rules: $listen_rules, proxy on 8001: $on_8001, client: $listen_answer" "$(tail -3 "$work/redirect.log")"
fi
restore_5b

# The port moved in redirect.env (the one place) to 8002, while something else listens on 8001 (a decoy that answers
# 418): the proxy listens on 8002 and the rules go there, so clients get production through the proxy, never the decoy.
ip netns exec "$box" "$python" "$work/app.py" serve decoy 0.0.0.0 8001 "$work/decoy.log" 418 &
decoy_pid=$!
pids+=("$decoy_pid")
touch "$work/decoy.log"
set_env_listen '[::]:8002'
if wait_port in_box 127.0.0.1 8001 && start_service && [[ $(rule_count) == 1 && $(rule_count ip6tables) == 1 ]] &&
    in_box iptables -w 5 -t nat -S PREROUTING | grep -q -- '--dport 80 .*REDIRECT --to-ports 8002' &&
    in_box ip6tables -w 5 -t nat -S PREROUTING | grep -q -- '--dport 80 .*REDIRECT --to-ports 8002' &&
    [[ $(get /listen-moved) == '200 production /listen-moved' && $(get6 /listen-moved6) == '200 production /listen-moved6' ]] &&
    logged "$work/shadow.log" /listen-moved &&
    [[ $(requests_from "$work/production.log" /listen-moved) == 127.0.0.1 && $(requests_from "$work/shadow.log" /listen-moved) == 10.200.2.1 ]] &&
    [[ $(requests_from "$work/production.log" /listen-moved6) == 127.0.0.1 ]] && [[ ! -s $work/decoy.log ]]; then
    pass "one place: the port moved in redirect.env (SHADOWPROXY_LISTEN [::]:8002) moves the proxy and both rules; a decoy on 8001 gets nothing"
else
    fail "one place: the port moved in redirect.env (SHADOWPROXY_LISTEN [::]:8002) moves the proxy and both rules; a decoy on 8001 gets nothing" \
        "rules: $(in_box iptables -w 5 -t nat -S PREROUTING | grep shadowproxy)" "client: $(get /listen-moved-again)" \
        "decoy saw: $(cat "$work/decoy.log")" "$(tail -3 "$work/redirect.log")" "$(tail -3 "$work/proxy-$proxy_runs.err")"
fi
stop_service
kill -TERM "$decoy_pid" 2>/dev/null
wait "$decoy_pid" 2>/dev/null
restore_5b

# A Listen on 127.0.0.1 only: the proxy answers the helper's check there, but REDIRECT hands clients to out0's own
# address, where nothing would take them, so a rule would refuse every client. The helper refuses instead.
set_env_listen 127.0.0.1:8001
start_refusable
listen_rules=$(all_rules)
on_8001=no
! accepts_in_box 127.0.0.1 8001 || on_8001=yes
listen_answer=$(get /listen-loopback)
stop_service
if [[ $started_ok == no && $listen_rules == 0 && $on_8001 == yes && $listen_answer == '200 production /listen-loopback' ]] &&
    [[ $(requests_from "$work/production.log" /listen-loopback) == 10.200.1.1 ]] &&
    grep -q 'SHADOWPROXY_LISTEN=127.0.0.1:8001 listens on 127.0.0.1 only' "$work/redirect.log"; then
    pass "one place: a proxy listening on 127.0.0.1 only gets no redirect (clients would be refused); the start fails, production served directly"
else
    fail "one place: a proxy listening on 127.0.0.1 only gets no redirect (clients would be refused); the start fails, production served directly" \
        "start succeeded: $started_ok, rules: $listen_rules, proxy on 127.0.0.1:8001: $on_8001, client: $listen_answer" "$(tail -3 "$work/redirect.log")"
fi
restore_5b

# ---- 5d. a settings file the proxy refuses: the start fails when the proxy exits, not at the readiness timeout -----
# The proxy refuses a shadow given by host name and exits 2 before it listens. systemd fails a Type=notify start at
# that exit; start_service does the same, with the exit code and the proxy's stderr, instead of waiting out the 20 s
# for a READY=1 that cannot come.
sed -i 's#"Shadow": "10.200.2.2:8080"#"Shadow": "shadow.example:8080"#' "$settings"
refused_since=$EPOCHREALTIME
started_ok=yes
start_service || started_ok=no
refused_ms=$(((${EPOCHREALTIME/./} - ${refused_since/./}) / 1000))
refused_rules=$(all_rules)
refused_answer=$(get /refused-settings)
stop_service
if [[ $started_ok == no ]] && ((refused_ms < 5000)) && [[ $refused_rules == 0 && $refused_answer == '200 production /refused-settings' ]] &&
    [[ ${ready[-1]} == "run $proxy_runs: the proxy exited with code 2 before READY=1; "*"'shadow.example:8080' is not an address"* ]]; then
    pass "start: a settings file the proxy refuses fails the start when the proxy exits (${refused_ms} ms), with its exit code and stderr; no redirect"
else
    fail "start: a settings file the proxy refuses fails the start when the proxy exits (${refused_ms} ms), with its exit code and stderr; no redirect" \
        "start succeeded: $started_ok, rules: $refused_rules, client: $refused_answer" "${ready[-1]}"
fi
restore_5b

# ---- 6. rollback: install.sh --uninstall, with the proxy running and redirecting -----------------------------------
start_service
through=$(requests_from "$work/production.log" /before-rollback; get /before-rollback >/dev/null; requests_from "$work/production.log" /before-rollback)
if SHADOWPROXY_ROOT=$root in_box "$deploy/install.sh" --uninstall >>"$install_log" 2>&1 &&
    [[ $through == 127.0.0.1 && $(rule_count) == 0 && $(rule_count ip6tables) == 0 ]] &&
    [[ $(get /after-rollback) == '200 production /after-rollback' ]] &&
    [[ $(requests_from "$work/production.log" /after-rollback) == 10.200.1.1 ]] &&
    [[ ! -e $root/usr/local/lib/shadowproxy && ! -e $root/etc/systemd/system/shadowproxy.service ]]; then
    pass "rollback: install.sh --uninstall removes the redirect first; the client gets production directly"
else
    fail "rollback: install.sh --uninstall removes the redirect first; the client gets production directly" \
        "through the proxy before: $through, rules: $(rule_count)" "$(tail -5 "$install_log")"
fi
kill -TERM "$proxy_pid" 2>/dev/null
wait "$proxy_pid" 2>/dev/null

# ---- summary -------------------------------------------------------------------------------------------------------
echo "--- request lines written by the proxy (its stdout) ---"
cat "$requests_log"
echo "--- the redirect helper's messages (run as the unit's ExecStartPost/ExecStop/ExecStopPost) ---"
cat "$work/redirect.log"
echo "--- install.sh and install.sh --uninstall ---"
cat "$install_log"
if ((failures > 0)); then
    echo "--- proxy stderr (last run) ---"
    cat "$work/proxy-$proxy_runs.err"
    echo "netns-e2e: FAIL ($failures check(s) failed, iptables ${backend:-unknown}, $((SECONDS - started)) s)"
    exit 1
fi
echo "netns-e2e: PASS (all checks, iptables ${backend:-unknown}, $((SECONDS - started)) s)"
