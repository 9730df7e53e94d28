#!/bin/bash
# impairment-check.sh: ShadowProxy under real network impairments on the backend links, inside network namespaces.
#
# Usage (as root):
#   deploy/test/impairment-check.sh PROXY_COMMAND...
#   deploy/test/impairment-check.sh dotnet src/ShadowProxy/bin/Release/net10.0/ShadowProxy.dll
# IMPAIRMENT_PROXY_ARGS="--backend-keep-alive on" adds options to the proxy's command line.
# Needs iproute2, iptables and python3. Takes about three minutes. Not in CI (too long): run it by hand after a change to
# the transport, the timeouts or the shadow's exchange.
#
# Topology (private addresses, namespaces this script creates and deletes):
#
#   box ns: client and ShadowProxy 127.0.0.1:8001
#           p0 10.201.1.1 --------------- p0 10.201.1.2   production ns: app :80
#           s0 10.201.2.1 --------------- s0 10.201.2.2   shadow ns:     app :8080
#
# Each impairment is put on one backend's namespace alone (both directions), then taken off:
#   delay, jitter (which reorders), loss and corruption: a netem stand-in over NFQUEUE (nfq.py below; kernels built
#     without sch_netem, as this box's, have no "tc qdisc ... netem"), with "tc qdisc ... netem" preferred if present;
#   duplication: iptables TEE (a copy of each packet sent on to the same address);
#   rate: tc tbf on the backend's egress, and on the box's egress towards it (the request side);
#   blackholes: iptables DROP of SYNs (nothing accepts) or of everything once established (a silent peer);
#   reset: iptables REJECT --reject-with tcp-reset of SYNs.
# Checks: (1) the client's latency with an impaired shadow stays within generous bounds of the unimpaired one;
# (2) every request gets exactly one request line, with the shadow's error word and time as documented;
# (3) an impaired production gives the documented 502/504 after the documented timeouts;
# (4) after the impairments, the proxy's sockets return to their baseline and its RSS stays near it.
# Prints PASS or FAIL per check and the measured numbers; exits 1 when any check failed.
set -uo pipefail

if (($# == 0)); then
    sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
fi
proxy_cmd=("$@")
if [[ $(id -u) -ne 0 ]]; then
    echo "impairment-check: run as root (network namespaces, iptables, tc)" >&2
    exit 2
fi
python=/usr/bin/python3
[[ -x $python ]] || python=$(command -v python3)
for tool in ip tc iptables "$python"; do
    command -v "$tool" >/dev/null || { echo "impairment-check: $tool is missing" >&2; exit 2; }
done
source "$(dirname "${BASH_SOURCE[0]}")/pass-fail.sh"

work=$(mktemp -d /tmp/shadowproxy-impair.XXXXXX)
box=spx-ibox-$$
prod=spx-iprod-$$
shadow=spx-ishadow-$$
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
    wait 2>/dev/null
    ip netns del "$box" 2>/dev/null
    ip netns del "$prod" 2>/dev/null
    ip netns del "$shadow" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the helpers: a netem stand-in, the backends, the client -------------------------------------------------------
cat >"$work/nfq.py" <<'PY'
# netem over NFQUEUE: each packet queued to QUEUE is dropped (LOSS %), or held DELAY_MS +- JITTER_MS (uniform, so
# packets overtake each other) and has one byte of its TCP payload flipped (CORRUPT %). Raw netlink, no library.
import heapq, random, select, socket, struct, sys, time

queue, delay, jitter, loss, corrupt = int(sys.argv[1]), *map(float, sys.argv[2:6])
SUBSYS = 3 << 8  # NFNL_SUBSYS_QUEUE
sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
sock.bind((0, 0))

def attr(kind, data):
    return struct.pack("=HH", 4 + len(data), kind) + data + b"\0" * (-len(data) % 4)

def send(msg, *attrs):
    body = struct.pack("=BBH", 0, 0, socket.htons(queue)) + b"".join(attrs)
    sock.send(struct.pack("=IHHII", 16 + len(body), SUBSYS | msg, 1, 0, 0) + body)

def verdict(packet_id, accept, payload=None):
    send(1, attr(2, struct.pack("!II", 1 if accept else 0, packet_id)), *([attr(10, payload)] if payload else []))

send(2, attr(1, struct.pack("!BBH", 1, 0, 0)))        # bind the queue
send(2, attr(2, struct.pack("!IB", 0xFFFF, 2)))       # copy whole packets
send(2, attr(3, struct.pack("!I", 100000)))           # queue length
print("ready", flush=True)
held, order = [], 0
while True:
    now = time.monotonic()
    while held and held[0][0] <= now:
        _, _, packet_id, payload = heapq.heappop(held)
        verdict(packet_id, True, payload)
    if not select.select([sock], [], [], max(0.0, held[0][0] - now) if held else 1.0)[0]:
        continue
    data, offset = sock.recv(1 << 20), 0
    while offset + 16 <= len(data):
        length, kind = struct.unpack_from("=IH", data, offset)
        if length < 16:
            break
        if kind == SUBSYS:  # a packet
            packet_id, payload, pos = None, None, offset + 20
            while pos + 4 <= offset + length:
                alen, atype = struct.unpack_from("=HH", data, pos)
                if alen < 4:
                    break
                if atype & 0x7FFF == 1:
                    packet_id = struct.unpack_from("!I", data, pos + 4)[0]
                elif atype & 0x7FFF == 10:
                    payload = data[pos + 4:pos + alen]
                pos += (alen + 3) & ~3
            if packet_id is not None:
                if random.random() * 100 < loss:
                    verdict(packet_id, False)
                else:
                    mangled = None
                    if payload and random.random() * 100 < corrupt:
                        start = (payload[0] & 15) * 4 + (payload[(payload[0] & 15) * 4 + 12] >> 4) * 4
                        if len(payload) > start:
                            mangled = bytearray(payload)
                            mangled[random.randrange(start, len(mangled))] ^= 0xFF
                            mangled = bytes(mangled)
                    order += 1
                    wait = max(0.0, delay + random.uniform(-jitter, jitter)) / 1000
                    heapq.heappush(held, (time.monotonic() + wait, order, packet_id, mangled))
        offset += (length + 3) & ~3
PY

cat >"$work/app.py" <<'PY'
# The backends: GET /big is 256 KiB, any other GET a short text, POST answers with the size of the body it read.
# Production and shadow answer alike, so an unimpaired request's diff is "same".
import http.server, sys

class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.answer(b"x" * 262144 if self.path.split("?")[0] == "/big" else f"hello {self.path}\n".encode())

    def do_POST(self):
        left = int(self.headers.get("Content-Length", "0"))
        while left > 0:
            chunk = self.rfile.read(min(left, 65536))
            if not chunk:
                break
            left -= len(chunk)
        self.answer(f"read {self.headers.get('Content-Length')}\n".encode())

    def log_message(self, *args):
        pass

class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 256
    daemon_threads = True

Server((sys.argv[1], int(sys.argv[2])), Handler).serve_forever()
PY

cat >"$work/client.py" <<'PY'
# client.py N PATH [BODY_BYTES] [PARALLEL] [keep]: N requests to the proxy, PARALLEL at a time, each on a new
# connection, or with "keep" each worker's on one kept-alive connection; prints "p50 p95 max" of the client's latency
# in ms and the statuses seen ("200x20 504x2").
import collections, concurrent.futures, http.client, sys, threading, time

n, path = int(sys.argv[1]), sys.argv[2]
size = int(sys.argv[3]) if len(sys.argv) > 3 else 0
parallel = int(sys.argv[4]) if len(sys.argv) > 4 else 1
keep = len(sys.argv) > 5 and sys.argv[5] == "keep"
body = b"b" * size
local = threading.local()

def one(i):
    started = time.monotonic()
    try:
        c = getattr(local, "c", None) if keep else None
        if c is None:
            c = local.c = http.client.HTTPConnection("127.0.0.1", 8001, timeout=30)
        c.request("POST" if size else "GET", f"{path}?i={i}", body=body if size else None)
        r = c.getresponse()
        r.read()
        status = str(r.status)
        if not keep or r.will_close:
            c.close()
            local.c = None
    except Exception as e:
        status = type(e).__name__
        local.c = None
    return (time.monotonic() - started) * 1000, status

with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
    results = list(pool.map(one, range(n)))
times = sorted(t for t, _ in results)
counts = collections.Counter(s for _, s in results)
# p95 is the sample 95 % of them reach (ceiling): of 20, the 19th, so that one stray slow answer on the shared box
# does not decide it alone
print(f"{times[len(times) // 2]:.1f} {times[max(0, -(-len(times) * 95 // 100) - 1)]:.1f} {times[-1]:.1f}",
      " ".join(f"{s}x{c}" for s, c in sorted(counts.items())))
PY

cat >"$work/lines.py" <<'PY'
# lines.py LOG FIRST: summarises the json request lines from line FIRST (1-based) on: how many, the production
# statuses and errors, the shadow's statuses and errors, and the shadow's time range ("min-max" or "-").
import collections, json, sys

rows = [json.loads(l) for l in open(sys.argv[1]).read().splitlines()[int(sys.argv[2]) - 1:]]
def words(key):
    c = collections.Counter(str(r[key]) for r in rows)
    return ",".join(f"{k}x{v}" for k, v in sorted(c.items()))
times = [r["shadow_time"] for r in rows if r["shadow_time"] is not None]
ok = all((r["shadow_time"] is None) == (r["shadow_status"] is None or r["shadow_error"] is not None) for r in rows)
print(len(rows), words("production_status"), words("production_error"), words("shadow_status"), words("shadow_error"),
      words("diff"), f"{min(times):.3f}-{max(times):.3f}" if times else "-",
      f"{max((r['production_time'] or 0) for r in rows):.3f}", "consistent" if ok else "inconsistent")
PY

# ---- topology ------------------------------------------------------------------------------------------------------
ip netns add "$box" && ip netns add "$prod" && ip netns add "$shadow" || { echo "impairment-check: ip netns add failed" >&2; exit 2; }
ip -n "$box" link add p0 type veth peer name p0 netns "$prod"
ip -n "$box" link add s0 type veth peer name s0 netns "$shadow"
ip -n "$box" addr add 10.201.1.1/24 dev p0
ip -n "$prod" addr add 10.201.1.2/24 dev p0
ip -n "$box" addr add 10.201.2.1/24 dev s0
ip -n "$shadow" addr add 10.201.2.2/24 dev s0
for ns in "$box" "$prod" "$shadow"; do ip -n "$ns" link set lo up; done
ip -n "$box" link set p0 up
ip -n "$box" link set s0 up
ip -n "$prod" link set p0 up
ip -n "$shadow" link set s0 up

ip netns exec "$prod" "$python" "$work/app.py" 10.201.1.2 80 2>"$work/production.err" &
pids+=($!)
ip netns exec "$shadow" "$python" "$work/app.py" 10.201.2.2 8080 2>"$work/shadow.err" &
pids+=($!)

wait_port() {   # wait_port NS HOST PORT
    local i
    for ((i = 0; i < 100; i++)); do
        ip netns exec "$1" timeout 1 bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
wait_port "$prod" 10.201.1.2 80 && wait_port "$shadow" 10.201.2.2 8080 || { echo "impairment-check: the backends did not start" >&2; exit 2; }

# Short timeouts, so that a run takes a minute and a half: connect 1 s, production 2 s, shadow 2 s.
connect_timeout=1
production_timeout=2
shadow_timeout=2
ip netns exec "$box" "${proxy_cmd[@]}" --listen 127.0.0.1:8001 --production 10.201.1.2:80 --shadow 10.201.2.2:8080 \
    --format json --connect-timeout $connect_timeout --production-timeout $production_timeout \
    --shadow-timeout $shadow_timeout ${IMPAIRMENT_PROXY_ARGS:-} >"$work/lines.log" 2>"$work/proxy.err" &
proxy_pid=$!
pids+=($proxy_pid)
wait_port "$box" 127.0.0.1 8001 || { echo "impairment-check: the proxy did not start" >&2; cat "$work/proxy.err" >&2; exit 2; }

in_box() { ip netns exec "$box" "$@"; }
netem_native=no
if ip netns exec "$shadow" tc qdisc add dev s0 root netem delay 1ms 2>/dev/null; then
    netem_native=yes
    ip netns exec "$shadow" tc qdisc del dev s0 root
fi
echo "impairment-check: proxy: ${proxy_cmd[*]} (pid $proxy_pid); tc netem: $netem_native"

# ---- impairments: on NS (the backend's namespace) and, for rates, on the box's side of its link --------------------
# impair NS KIND ARGS...; unimpair NS undoes every kind.
impair() {
    local ns=$1 kind=$2 dev
    shift 2
    dev=$([[ $ns == "$prod" ]] && echo p0 || echo s0)
    case $kind in
    netem)   # DELAY_MS JITTER_MS LOSS% CORRUPT%
        if [[ $netem_native == yes ]]; then
            ip netns exec "$ns" tc qdisc add dev "$dev" root netem delay "$1ms" "$2ms" loss "$3%" corrupt "$4%"
            ip netns exec "$box" tc qdisc add dev "$dev" root netem delay "$1ms" "$2ms" loss "$3%" corrupt "$4%"
        else
            ip netns exec "$ns" "$python" "$work/nfq.py" 7 "$@" >"$work/nfq.out" &
            nfq_pid=$!
            pids+=($nfq_pid)
            for _ in 1 2 3 4 5 6 7 8 9 10; do [[ -s $work/nfq.out ]] && break; sleep 0.1; done
            ip netns exec "$ns" iptables -w 5 -I INPUT -p tcp -j NFQUEUE --queue-num 7 --queue-bypass
            ip netns exec "$ns" iptables -w 5 -I OUTPUT -p tcp -j NFQUEUE --queue-num 7 --queue-bypass
        fi ;;
    duplicate)   # every packet the backend sends and receives, twice
        ip netns exec "$ns" iptables -w 5 -t mangle -I OUTPUT -p tcp -d "$(peer_of "$ns")" -j TEE --gateway "$(peer_of "$ns")"
        in_box iptables -w 5 -t mangle -I OUTPUT -p tcp -d "$(address_of "$ns")" -j TEE --gateway "$(address_of "$ns")" ;;
    rate)   # RATE (tbf), both ways
        ip netns exec "$ns" tc qdisc add dev "$dev" root tbf rate "$1" burst 16kb latency 10s
        in_box tc qdisc add dev "$dev" root tbf rate "$1" burst 16kb latency 10s ;;
    syn-drop) ip netns exec "$ns" iptables -w 5 -I INPUT -p tcp --syn -j DROP ;;
    syn-reset) ip netns exec "$ns" iptables -w 5 -I INPUT -p tcp --syn -j REJECT --reject-with tcp-reset ;;
    silent)   # connections are accepted (SYN and SYN-ACK pass), then nothing more gets through either way
        ip netns exec "$ns" iptables -w 5 -I INPUT -p tcp ! --syn -j DROP
        ip netns exec "$ns" iptables -w 5 -I OUTPUT -p tcp --tcp-flags SYN,ACK ACK -j DROP ;;
    esac
}
address_of() { [[ $1 == "$prod" ]] && echo 10.201.1.2 || echo 10.201.2.2; }
peer_of() { [[ $1 == "$prod" ]] && echo 10.201.1.1 || echo 10.201.2.1; }
unimpair() {
    local ns=$1 dev
    dev=$([[ $ns == "$prod" ]] && echo p0 || echo s0)
    for table in filter mangle; do
        ip netns exec "$ns" iptables -w 5 -t $table -F
        in_box iptables -w 5 -t $table -F
    done
    ip netns exec "$ns" tc qdisc del dev "$dev" root 2>/dev/null
    in_box tc qdisc del dev "$dev" root 2>/dev/null
    if [[ -n ${nfq_pid:-} ]]; then
        kill "$nfq_pid" 2>/dev/null
        wait "$nfq_pid" 2>/dev/null
        nfq_pid=
    fi
}

# ---- measuring -----------------------------------------------------------------------------------------------------
sockets() { find /proc/$proxy_pid/fd -lname 'socket:*' 2>/dev/null | wc -l; }
rss_kb() { awk '/^VmRSS/ { print $2 }' /proc/$proxy_pid/status; }
line_count() { wc -l <"$work/lines.log"; }
# settle N: waits until the log has N lines (the shadow's timeout and a little more at most), prints the count
settle() {
    local i
    for ((i = 0; i < 60; i++)); do
        (($(line_count) >= $1)) && break
        sleep 0.1
    done
    sleep 0.3
    line_count
}
# run NAME N PATH [BODY] [PARALLEL]: sends, waits for the lines, sets $client (p50 p95 max statuses) and $summary
# (lines.py's words for this batch), and prints both
run() {
    local name=$1 n=$2 first
    first=$(($(line_count) + 1))
    client=$(in_box "$python" "$work/client.py" "$n" "${@:3}")
    sleep $((shadow_timeout + 1))
    settle $((first - 1 + n)) >/dev/null
    summary=$("$python" "$work/lines.py" "$work/lines.log" "$first")
    printf '  %-28s client ms p50 p95 max, statuses: %-28s lines: %s\n' "$name" "$client" "$summary"
}
p50() { echo "$1" | cut -d' ' -f1; }
p95() { echo "$1" | cut -d' ' -f2; }
# within IMPAIRED BASE: the impaired p95 is at most 3x the base p95 plus 50 ms (the shadow's delay here is 200 ms and
# more, and its timeouts 1-2 s, so a proxy that waited for it would be far outside)
within() { awk -v a="$(p95 "$1")" -v b="$(p95 "$2")" 'BEGIN { exit !(a <= 3 * b + 50) }'; }
field() { echo "$summary" | cut -d' ' -f"$1"; }   # 1 lines, 2 prod statuses, 3 prod errors, 4 shadow statuses,
                                                  # 5 shadow errors, 6 diffs, 7 shadow time range, 8 max production time

# ---- warm-up and baseline ------------------------------------------------------------------------------------------
in_box "$python" "$work/client.py" 100 /warm >/dev/null
in_box "$python" "$work/client.py" 20 /big >/dev/null
in_box "$python" "$work/client.py" 20 /up 2000000 >/dev/null
sleep 1
base_sockets=$(sockets)
base_rss=$(rss_kb)
echo "impairment-check: baseline after warm-up: $base_sockets sockets, RSS $((base_rss / 1024)) MiB"

echo "--- no impairment"
run "small GET" 40 /small; base_small=$client
run "256 KiB GET" 20 /big; base_big=$client
run "2 MB POST" 10 /up 2000000; base_up=$client
run "small GET, 20 at once" 200 /par 0 20; base_par=$client
run "small GET, kept alive" 40 /keep 0 1 keep; base_keep=$client

# ---- shadow impairments: production's answer must not notice -------------------------------------------------------
echo "--- shadow impaired"
shadow_case() {   # shadow_case NAME "EXPECTED SHADOW ERRORS REGEX" BASE N PATH [BODY] [PARALLEL]
    local name=$1 errors=$2 base=$3
    shift 3
    run "$name" "$@"
    if within "$client" "$base" && [[ $(field 1) == "$1" && $(field 2) == "200x$1" && $(field 5) =~ ^($errors)$ ]] &&
        [[ $(field 9) == consistent ]]; then
        pass "shadow $name: client p95 $(p95 "$client") ms (unimpaired $(p95 "$base")), $1 of $1 lines, shadow errors $(field 5), shadow times $(field 7)"
    else
        fail "shadow $name" "client: $client; unimpaired: $base" "lines: $summary" "expected shadow errors: $errors"
    fi
}
impair "$shadow" netem 200 100 0 0
shadow_case "delay 200+-100ms" "Nonex40" "$base_small" 40 /small
shadow_case "delay 200+-100ms, kept alive" "Nonex40" "$base_keep" 40 /keep 0 1 keep
unimpair "$shadow"
impair "$shadow" netem 0 0 30 0
shadow_case "loss 30%" "Nonex[0-9]+|Nonex[0-9]+,timeoutx[0-9]+|timeoutx40" "$base_small" 40 /small
unimpair "$shadow"
impair "$shadow" netem 30 30 0 0
shadow_case "reorder (30+-30ms)" "Nonex20" "$base_big" 20 /big
unimpair "$shadow"
impair "$shadow" duplicate
shadow_case "duplication" "Nonex40" "$base_small" 40 /small
unimpair "$shadow"
impair "$shadow" netem 0 0 0 20
shadow_case "corruption 20%" "[A-Za-z_x0-9,]+" "$base_big" 20 /big
unimpair "$shadow"
impair "$shadow" rate 1mbit
shadow_case "rate 1mbit, 256 KiB answers" "Nonex20|Nonex[0-9]+,timeoutx[0-9]+|timeoutx20" "$base_big" 20 /big
shadow_case "rate 1mbit, 2 MB uploads" "overflowx10" "$base_up" 10 /up 2000000
unimpair "$shadow"
impair "$shadow" syn-drop
shadow_case "SYN blackhole" "timeoutx40" "$base_small" 40 /small
if [[ $(field 7) == - ]]; then pass "shadow SYN blackhole: no shadow time"; else fail "shadow SYN blackhole: no shadow time" "$summary"; fi
shadow_case "SYN blackhole, 20 at once" "timeoutx200" "$base_par" 200 /par 0 20
unimpair "$shadow"
check_no_orphans() {   # check_no_orphans WHAT: no connection the proxy gave up on is left in FIN-WAIT-1
    local orphans
    orphans=$(in_box ss -tanH state fin-wait-1 | wc -l)
    if ((orphans == 0)); then
        pass "$1: no closed connection left behind in FIN-WAIT-1"
    else
        fail "$1: no closed connection left behind in FIN-WAIT-1" "$orphans in FIN-WAIT-1"
    fi
}
impair "$shadow" silent
shadow_case "silent once connected" "timeoutx40" "$base_small" 40 /small
shadow_case "silent, kept alive" "timeoutx40" "$base_keep" 40 /keep 0 1 keep
shadow_case "silent, 2 MB uploads" "timeoutx10|overflowx10|overflowx[0-9]+,timeoutx[0-9]+" "$base_up" 10 /up 2000000
# The copies given up on are reset, not closed behind their unacknowledged bytes: no orphan stays in the kernel,
# resending them to the silent shadow for minutes (there were 90 here, one per copy, for about 100 s).
check_no_orphans "shadow silent"
unimpair "$shadow"
impair "$shadow" syn-reset
shadow_case "refused" "refusedx40" "$base_small" 40 /small
unimpair "$shadow"

# ---- production impairments: the documented 502 / 504 --------------------------------------------------------------
echo "--- production impaired"
prod_case() {   # prod_case NAME STATUSES PROD_ERRORS MIN_S MAX_S N PATH...: statuses and errors as lines.py prints them,
                # the client's max latency between MIN_S and MAX_S seconds
    local name=$1 statuses=$2 errors=$3 min=$4 max=$5
    shift 5
    run "$name" "$@"
    local worst
    worst=$(echo "$client" | cut -d' ' -f3)
    if [[ $(echo "$client" | cut -d' ' -f4-) =~ ^($statuses)$ && $(field 1) == "$1" && $(field 3) =~ ^($errors)$ ]] &&
        awk -v w="$worst" -v lo="$min" -v hi="$max" 'BEGIN { exit !(w >= lo * 1000 && w <= hi * 1000) }'; then
        pass "production $name: client $(echo "$client" | cut -d' ' -f4-), slowest $worst ms, lines $(field 1), production errors $(field 3)"
    else
        fail "production $name" "client: $client" "lines: $summary" "expected statuses $statuses, errors $errors, slowest within $min-$max s"
    fi
}
impair "$prod" syn-drop
prod_case "SYN blackhole" "504x10" "timeoutx10" $connect_timeout $((connect_timeout + 1)) 10 /small
unimpair "$prod"
impair "$prod" silent
prod_case "silent once connected" "504x10" "timeoutx10" $production_timeout $((production_timeout + 1)) 10 /small
check_no_orphans "production silent"
unimpair "$prod"
impair "$prod" syn-reset
prod_case "refused" "502x10" "refusedx10" 0 0.5 10 /small
unimpair "$prod"
impair "$prod" netem 200 0 0 0
prod_case "delay 200ms" "200x10" "Nonex10" 0.4 1.5 10 /small
unimpair "$prod"
impair "$prod" netem 0 0 20 0
prod_case "loss 20%" "200x[0-9]+|200x[0-9]+ 504x[0-9]+" "Nonex[0-9]+|Nonex[0-9]+,timeoutx[0-9]+" 0 $((production_timeout + 2)) 20 /small
unimpair "$prod"
impair "$prod" rate 1mbit
prod_case "rate 1mbit, 256 KiB answers" "200x5" "Nonex5" 1.5 4 5 /big
# 600 KB take production 4.8 s to receive, though the kernel buffers them at once: production is busy, not silent
# (a 504 at the 2 s timeout before the fix).
prod_case "rate 1mbit, 600 KB upload" "200x1" "Nonex1" 4 8 1 /up 600000
unimpair "$prod"

# ---- afterwards: back to the baseline ------------------------------------------------------------------------------
echo "--- impairments removed"
run "small GET" 40 /small
sleep 1
after_sockets=$(sockets)
after_rss=$(rss_kb)
if [[ $(field 6) == samex40 ]] && ((after_sockets <= base_sockets)); then
    pass "afterwards: every request answered alike again; sockets $after_sockets (baseline $base_sockets)"
else
    fail "afterwards: every request answered alike again; sockets back to baseline" "sockets $after_sockets (baseline $base_sockets)" "$summary"
    ls -l /proc/$proxy_pid/fd | grep socket | head
fi
if ((after_rss <= base_rss * 3 / 2 + 20480)); then
    pass "afterwards: RSS $((after_rss / 1024)) MiB (baseline $((base_rss / 1024)) MiB)"
else
    fail "afterwards: RSS $((after_rss / 1024)) MiB (baseline $((base_rss / 1024)) MiB), more than 1.5x + 20 MiB"
fi
if grep -vq '^{' "$work/lines.log"; then
    fail "stdout holds request lines only" "$(grep -v '^{' "$work/lines.log" | head -3)"
else
    pass "stdout holds request lines only ($(line_count) lines)"
fi
if ((failed)); then
    echo "--- proxy stderr"
    tail -20 "$work/proxy.err"
    echo "impairment-check: FAIL"
else
    echo "impairment-check: PASS"
fi
exit "$failed"
