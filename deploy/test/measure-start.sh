#!/bin/bash
# measure-start.sh: how long the proxy takes from exec to answering, for deploy/README.md.
#
#   deploy/test/measure-start.sh PROXY_COMMAND... [RUNS, default 5]   e.g.  src/ShadowProxy/bin/publish/linux-x64/ShadowProxy
#
# The proxy listens on MEASURE_PORT, or by default on a free port it picks in 20000-29999 (not a fixed one: the
# benchmark's proxies use 18080-18099). A port that something already answers on is refused: the time measured
# would be the other program's.
#
# Per run: the time until "Listening" appears on stderr, and until 127.0.0.1:PORT accepts a TCP connection (what the
# unit's ExecStartPost waits for), and the CPU time it used until then. Loopback only; the shadow address is never contacted.
set -euo pipefail
runs=5
if [[ ${*: -1} =~ ^[0-9]+$ ]]; then
    runs=${*: -1}
    set -- "${@:1:$#-1}"
fi
answers() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
port=${MEASURE_PORT:-}
for ((try = 0; try < 50 && ${#port} == 0; try++)); do
    candidate=$((20000 + RANDOM % 10000))
    answers "$candidate" || port=$candidate
done
[[ -n $port ]] || { echo "measure-start.sh: found no free port in 20000-29999; set MEASURE_PORT" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
now() { date +%s.%N; }

for ((run = 1; run <= runs; run++)); do
    if answers "$port"; then
        echo "measure-start.sh: 127.0.0.1:$port is taken by another program; set MEASURE_PORT to a free port" >&2
        exit 1
    fi
    start=$(now)
    "$@" --listen "127.0.0.1:$port" --shadow 127.0.0.1:9 >/dev/null 2>"$work/err" &
    pid=$!
    listening="" answering=""
    while [[ -z $answering ]]; do
        # A proxy that exits (a bad option, a taken port) will never answer: say why and stop.
        kill -0 "$pid" 2>/dev/null || { echo "measure-start.sh: the proxy exited before answering:" >&2; cat "$work/err" >&2; exit 1; }
        [[ -z $listening ]] && grep -q Listening "$work/err" && listening=$(now)
        answers "$port" && answering=$(now)
        sleep 0.005
    done
    [[ -z $listening ]] && listening=$answering
    # CPU time (user + system) spent by then: on a loaded machine this varies far less than the wall clock.
    cpu_ticks=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
    kill -TERM "$pid"
    wait "$pid" || true
    awk -v s="$start" -v l="$listening" -v a="$answering" -v r="$run" -v c="$cpu_ticks" -v hz="$(getconf CLK_TCK)" \
        'BEGIN { printf "run %d: Listening after %.0f ms, port answers after %.0f ms, %.0f ms of CPU\n", r, (l - s) * 1000, (a - s) * 1000, c * 1000 / hz }'
done
