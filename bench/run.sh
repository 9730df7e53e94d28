#!/usr/bin/env bash
# ShadowProxy side by side with nginx's mirror module and with no proxy at all, on loopback only.
# Usage: bench/run.sh [--quick] [--rounds N] [--duration SECONDS] [--scenarios a,b] [--connections N] [--keep]
#                     [--variant 'NAME|PUBLISH ARGS or @DIR|ENV=V ...|PROXY ARGS']...
# See bench/README.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=5
DURATION=4
WARMUP=5
SCENARIOS=close-100b,close-64k,keepalive-100b
CONNECTIONS=${BENCH_CONNECTIONS:-50}
PORT_BASE=${BENCH_PORT_BASE:-18080}
KEEP=0
VARIANTS=()

usage() {   # $1: the exit code; on stdout for --help, on stderr after a bad argument
    if [[ $1 == 0 ]]; then
        sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
    else
        sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//' >&2
    fi
    exit "$1"
}

while [[ $# -gt 0 ]]; do
    case $1 in
        --quick) ROUNDS=2; DURATION=1; WARMUP=1; shift ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --scenarios) SCENARIOS=$2; shift 2 ;;
        --connections) CONNECTIONS=$2; shift 2 ;;
        --variant) VARIANTS+=("$2"); shift 2 ;;
        --keep) KEEP=1; shift ;;
        -h|--help) usage 0 ;;
        *) echo "run.sh: unknown argument '$1'" >&2; usage 2 ;;
    esac
done

HOST=127.0.0.1   # every byte of this benchmark stays on loopback
PROD_PORT=$PORT_BASE
SHADOW_PORT=$((PORT_BASE + 1))
MIRROR_PORT=$((PORT_BASE + 2))
SP_PORT_BASE=$((PORT_BASE + 10))
TICKS=$(getconf CLK_TCK)
STARTED=$(date +%s)

log() { echo "[bench $(( $(date +%s) - STARTED ))s] $*" >&2; }

# --- what it needs, from Debian ----------------------------------------------------------------
missing=()
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
command -v wrk >/dev/null || missing+=(wrk)
command -v pgrep >/dev/null || missing+=(procps)   # nginx-mirror's workers are found with pgrep: without it their CPU would go uncounted
if [[ ${#missing[@]} -gt 0 ]]; then
    log "installing ${missing[*]} from Debian"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

WORK=$(mktemp -d /tmp/shadowproxy-bench.XXXXXX)
chmod 755 "$WORK"
PIDS=()

cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    if [[ $KEEP == 0 ]]; then rm -rf "$WORK"; else log "kept $WORK"; fi
}
trap cleanup EXIT

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

wait_for_port() {
    for _ in $(seq 100); do
        port_open "$1" && return 0
        sleep 0.1
    done
    echo "run.sh: nothing listens on $HOST:$1 after 10 s (see $WORK/*.err, $WORK/*/error.log)" >&2
    KEEP=1
    exit 1
}

for port in $PROD_PORT $SHADOW_PORT $MIRROR_PORT; do
    if port_open "$port"; then
        echo "run.sh: $HOST:$port is taken; set BENCH_PORT_BASE to a free range" >&2
        exit 1
    fi
done

# --- the backends and nginx-mirror ---------------------------------------------------------------
mkdir -p "$WORK/www"
head -c 99 /dev/zero | tr '\0' 'a' > "$WORK/www/100b" && echo >> "$WORK/www/100b"
head -c 65535 /dev/zero | tr '\0' 'b' > "$WORK/www/64k" && echo >> "$WORK/www/64k"
chmod -R a+rX "$WORK/www"

# $1 name, $2 events+http body; writes $WORK/$1/nginx.conf and starts it in the foreground (daemon off) in the background.
start_nginx() {
    local name=$1 body=$2 dir="$WORK/$1"
    mkdir -p "$dir/temp"
    chmod 777 "$dir/temp"
    cat > "$dir/nginx.conf" <<EOF
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
$body
EOF
    "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" 2>>"$dir/error.log" &
    PIDS+=($!)
    eval "${name//-/_}_PID=$!"
}

backend_conf() {   # $1 name, $2 port: one worker, one unbuffered access-log line per request
    cat <<EOF
worker_processes 1;
events { worker_connections 4096; }
http {
    client_body_temp_path $WORK/$1/temp;
    log_format line '\$request';
    access_log $WORK/$1/access.log line;
    sendfile on;
    tcp_nopush on;
    open_file_cache max=16;
    keepalive_requests 1000000;
    server {
        listen $HOST:$2 backlog=4096;
        root $WORK/www;
    }
}
EOF
}

start_nginx production "$(backend_conf production "$PROD_PORT")"
start_nginx shadow "$(backend_conf shadow "$SHADOW_PORT")"

# nginx-mirror: what a user would run instead of ShadowProxy. One worker per core, one buffered access-log line per
# request, HTTP/1.0 and Connection: close to both backends (as ShadowProxy does), buffers large enough that a
# 64 KiB answer never goes to a temp file.
start_nginx nginx-mirror "$(cat <<EOF
worker_processes auto;
events { worker_connections 4096; }
http {
    client_body_temp_path $WORK/nginx-mirror/temp;
    proxy_temp_path $WORK/nginx-mirror/temp;
    log_format line '\$request_uri \$upstream_response_time \$status';
    access_log $WORK/nginx-mirror/access.log line buffer=64k flush=1s;
    keepalive_requests 1000000;
    proxy_http_version 1.0;
    proxy_set_header Connection close;
    proxy_buffer_size 8k;
    proxy_buffers 16 8k;
    server {
        listen $HOST:$MIRROR_PORT backlog=4096;
        location / {
            mirror /__mirror;
            mirror_request_body on;
            proxy_pass http://$HOST:$PROD_PORT;
        }
        location = /__mirror {
            internal;
            proxy_pass http://$HOST:$SHADOW_PORT\$request_uri;
        }
    }
}
EOF
)"

wait_for_port "$PROD_PORT"
wait_for_port "$SHADOW_PORT"
wait_for_port "$MIRROR_PORT"

# --- ShadowProxy, published Release, one process per variant --------------------------------------
# Without publish arguments a row runs what deploy/ installs: the linux-x64 profile (self-contained single file,
# trimmed, ReadyToRun).
DEPLOYMENT_PUBLISH=-p:PublishProfile=linux-x64
VARIANTS=("shadowproxy||" "${VARIANTS[@]}")
SP_NAMES=()
declare -A SP_PID SP_OUT PUBLISHED
index=0
for spec in "${VARIANTS[@]}"; do
    IFS='|' read -r name publish_args env_assignments proxy_args <<< "$spec"
    publish_args=${publish_args:-$DEPLOYMENT_PUBLISH}
    key=$publish_args
    if [[ $publish_args == @* ]]; then
        PUBLISHED[$key]=${publish_args#@}   # '@DIR': an already published ShadowProxy (e.g. a Native AOT build)
    elif [[ -z ${PUBLISHED[$key]:-} ]]; then
        out="$WORK/publish-$index"
        log "publishing ShadowProxy (Release${publish_args:+ $publish_args})"
        # shellcheck disable=SC2086
        dotnet publish "$ROOT/src/ShadowProxy" -c Release -o "$out" --nologo -v quiet $publish_args >"$WORK/publish.log" 2>&1 \
            || { cat "$WORK/publish.log" >&2; exit 1; }
        PUBLISHED[$key]=$out
    fi
    port=$((SP_PORT_BASE + index))
    if port_open "$port"; then
        echo "run.sh: $HOST:$port is taken; set BENCH_PORT_BASE to a free range" >&2
        exit 1
    fi
    # shellcheck disable=SC2086
    env $env_assignments "${PUBLISHED[$key]}/ShadowProxy" --listen "$HOST:$port" \
        --production "$HOST:$PROD_PORT" --shadow "$HOST:$SHADOW_PORT" $proxy_args >"$WORK/$name.out" 2>"$WORK/$name.err" &
    PIDS+=($!)
    SP_PID[$name]=$!
    SP_OUT[$name]="$WORK/$name.out"
    SP_NAMES+=("$name")
    wait_for_port "$port"
    eval "PORT_$index=$port"
    index=$((index + 1))
done

target_port() {
    case $1 in
        direct) echo "$PROD_PORT" ;;
        nginx-mirror) echo "$MIRROR_PORT" ;;
        *) for i in "${!SP_NAMES[@]}"; do
               if [[ ${SP_NAMES[$i]} == "$1" ]]; then eval "echo \$PORT_$i"; fi
           done ;;
    esac
}

# The processes whose CPU and memory count as "the proxy".
target_pids() {
    case $1 in
        direct) ;;
        nginx-mirror) echo "$nginx_mirror_PID" $(pgrep -P "$nginx_mirror_PID" || true) ;;
        *) echo "${SP_PID[$1]}" ;;
    esac
}

cpu_ticks() {   # utime + stime, fields 14 and 15 of /proc/PID/stat (after the command name, which may hold spaces)
    local total=0 pid stat
    for pid in "$@"; do
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        stat=${stat##*) }
        read -r -a fields <<< "$stat"
        total=$((total + fields[11] + fields[12]))
    done
    echo $total
}

peak_rss_kib() {
    local total=0 pid hwm
    for pid in "$@"; do
        hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
        total=$((total + ${hwm:-0}))
    done
    echo $total
}

reset_peak_rss() {   # Linux >= 4.0: writing 5 to clear_refs resets VmHWM to the current RSS
    local pid
    for pid in "$@"; do echo 5 > "/proc/$pid/clear_refs" 2>/dev/null || true; done
}

lines_of() { [[ -f $1 ]] && wc -l < "$1" || echo 0; }

request_lines() {   # nginx-mirror's log is buffered: flush_mirror_log first when an exact count is wanted
    case $1 in
        direct) echo 0 ;;
        nginx-mirror) lines_of "$WORK/nginx-mirror/access.log" ;;
        *) lines_of "${SP_OUT[$1]}" ;;
    esac
}

flush_mirror_log() {   # USR1 reopens the log files, which writes out the buffer
    [[ $1 == nginx-mirror ]] || return 0
    kill -USR1 "$nginx_mirror_PID"
    sleep 0.1
}

scenario_path() { case $1 in *-64k) echo /64k ;; *) echo /100b ;; esac; }
scenario_headers() { case $1 in close-*) echo "Connection: close" ;; *) echo "" ;; esac; }

# $1 target, $2 scenario, $3 seconds; prints wrk's output.
run_wrk() {
    local port path header
    port=$(target_port "$1")
    path=$(scenario_path "$2")
    header=$(scenario_headers "$2")
    local args=(-t1 -c"$CONNECTIONS" -d"${3}s" --latency --timeout 2s)
    [[ -n $header ]] && args+=(-H "$header")
    timeout $(( $3 + 15 )) wrk "${args[@]}" "http://$HOST:$port$path"
}

to_ms() {   # wrk prints 812.00us, 1.23ms, 2.01s, 1.50m
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000
        printf "%.3f", n }'
}

RESULTS="$WORK/results.tsv"
printf 'round\tscenario\ttarget\trps\tp50\tp99\trequests\tcpu_s\tpeak_kib\tprod\tshadow\tlines\terrors\n' > "$RESULTS"

measure() {   # $1 round, $2 scenario, $3 target
    local round=$1 scenario=$2 target=$3 pids out
    pids=$(target_pids "$target")
    # shellcheck disable=SC2086
    reset_peak_rss $pids
    local prod0 shadow0 lines0 cpu0
    prod0=$(lines_of "$WORK/production/access.log")
    shadow0=$(lines_of "$WORK/shadow/access.log")
    flush_mirror_log "$target"
    lines0=$(request_lines "$target")
    # shellcheck disable=SC2086
    cpu0=$(cpu_ticks $pids)
    out=$(run_wrk "$target" "$scenario" "$DURATION")
    # Let the last requests in flight reach both backends and their lines: at most 5 s.
    local prod shadow lines previous=-1
    flush_mirror_log "$target"
    local waited
    for waited in $(seq 50); do
        prod=$(( $(lines_of "$WORK/production/access.log") - prod0 ))
        shadow=$(( $(lines_of "$WORK/shadow/access.log") - shadow0 ))
        lines=$(( $(request_lines "$target") - lines0 ))
        if [[ $prod == "$previous" ]] && { [[ $target == direct ]] || { [[ $shadow -ge $prod ]] && [[ $lines -ge $prod ]]; }; }; then
            break
        fi
        [[ $prod == "$previous" ]] && flush_mirror_log "$target"
        previous=$prod
        sleep 0.1
    done
    log "  $scenario $target: $prod to production, $shadow to the shadow, $lines request lines (settled after $waited polls)"
    local cpu peak
    # shellcheck disable=SC2086
    cpu=$(( $(cpu_ticks $pids) - cpu0 ))
    # shellcheck disable=SC2086
    peak=$(peak_rss_kib $pids)
    local rps p50 p99 requests errors
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<< "$out")
    p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' <<< "$out")")
    p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<< "$out")")
    requests=$(awk '/requests in/ { print $1 }' <<< "$out")
    errors=$(awk '/Socket errors:/ { gsub(",", ""); e += $4 + $6 + $8 + $10 } /Non-2xx or 3xx responses:/ { e += $5 } END { print e + 0 }' <<< "$out")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$scenario" "$target" "${rps:-0}" "$p50" "$p99" \
        "${requests:-0}" "$(awk -v t="$cpu" -v hz="$TICKS" 'BEGIN { printf "%.2f", t / hz }')" "$peak" "$prod" "$shadow" "$lines" "$errors" >> "$RESULTS"
    echo "$out" > "$WORK/wrk-$round-$scenario-$target.txt"
}

TARGETS=(direct nginx-mirror "${SP_NAMES[@]}")
IFS=',' read -r -a SCENARIO_LIST <<< "$SCENARIOS"

# Waits (at most 5 s) until neither backend's log has grown for 0.3 s: the requests a warm-up left in flight must
# not land in the first measurement's counts. With thousands of connections they are hundreds.
wait_for_backends_quiet() {
    local before now quiet=0
    before=$(( $(lines_of "$WORK/production/access.log") + $(lines_of "$WORK/shadow/access.log") ))
    for _ in $(seq 50); do
        sleep 0.1
        now=$(( $(lines_of "$WORK/production/access.log") + $(lines_of "$WORK/shadow/access.log") ))
        if [[ $now == "$before" ]]; then quiet=$((quiet + 1)); else quiet=0; fi
        [[ $quiet -ge 3 ]] && return 0
        before=$now
    done
}

log "warming up (JIT, caches): ${WARMUP}s per proxy"
for target in "${TARGETS[@]:1}"; do
    run_wrk "$target" "${SCENARIO_LIST[0]}" "$WARMUP" >/dev/null
done
wait_for_backends_quiet

for round in $(seq "$ROUNDS"); do
    log "round $round of $ROUNDS"
    for scenario in "${SCENARIO_LIST[@]}"; do
        # A new order in every round and scenario: no target always runs first, or right after the same neighbour
        # (whose TIME_WAIT sockets and backend log writes it would inherit).
        for target in $(printf '%s\n' "${TARGETS[@]}" | shuf); do
            measure "$round" "$scenario" "$target"
        done
    done
done

# --- the table ------------------------------------------------------------------------------------
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
column_of() { awk -F'\t' -v s="$1" -v t="$2" -v c="$3" 'NR > 1 && $2 == s && $3 == t { print $c }' "$RESULTS"; }
ratio_per_round() {   # median over rounds of target rps / reference rps in the same round
    awk -F'\t' -v s="$1" -v t="$2" -v r="$3" 'NR > 1 && $2 == s { if ($3 == t) a[$1] = $4; if ($3 == r) b[$1] = $4 }
        END { for (k in a) if (b[k] > 0) print a[k] / b[k] }' "$RESULTS" | median
}

echo
echo "ShadowProxy benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)),"
echo "$ROUNDS interleaved rounds of ${DURATION}s, medians; wrk -t1 -c$CONNECTIONS; nginx $("$NGINX" -v 2>&1 | sed 's|.*/||'), $(dotnet --version 2>/dev/null | sed 's/^/SDK /')"
if [[ ${#VARIANTS[@]} -gt 1 ]]; then
    for spec in "${VARIANTS[@]:1}"; do echo "variant: $spec"; done
fi
echo
echo "| scenario | target | req/s | p50 ms | p99 ms | × direct | × nginx-mirror | CPU s / 1000 req | peak RSS MiB | shadow / prod | lines / prod | errors |"
echo "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
for scenario in "${SCENARIO_LIST[@]}"; do
    for target in "${TARGETS[@]}"; do
        rps=$(column_of "$scenario" "$target" 4 | median)
        p50=$(column_of "$scenario" "$target" 5 | median)
        p99=$(column_of "$scenario" "$target" 6 | median)
        errors=$(column_of "$scenario" "$target" 13 | awk '{ s += $1 } END { print s + 0 }')
        if [[ $target == direct ]]; then
            x_direct=1.00; x_mirror="–"; cpu="–"; peak="–"; shadow_ratio="–"; lines_ratio="–"
        else
            x_direct=$(ratio_per_round "$scenario" "$target" direct | xargs printf '%.2f')
            x_mirror=$([[ $target == nginx-mirror ]] && echo 1.00 || ratio_per_round "$scenario" "$target" nginx-mirror | xargs printf '%.2f')
            cpu=$(awk -F'\t' -v s="$scenario" -v t="$target" 'NR > 1 && $2 == s && $3 == t && $7 > 0 { print $8 * 1000 / $7 }' "$RESULTS" \
                | median | xargs printf '%.3f')
            peak=$(column_of "$scenario" "$target" 9 | sort -g | tail -1 | awk '{ printf "%.1f", $1 / 1024 }')
            read -r shadow_ratio lines_ratio < <(awk -F'\t' -v s="$scenario" -v t="$target" 'NR > 1 && $2 == s && $3 == t {
                p += $10; sh += $11; l += $12 } END { if (p > 0) printf "%.3f %.3f\n", sh / p, l / p; else print "nan nan" }' "$RESULTS")
        fi
        printf '| %s | %s | %.0f | %.2f | %.2f | %s | %s | %s | %s | %s | %s | %s |\n' "$scenario" "$target" "$rps" "$p50" "$p99" \
            "$x_direct" "$x_mirror" "$cpu" "$peak" "$shadow_ratio" "$lines_ratio" "$errors"
    done
done
echo
log "done in $(( $(date +%s) - STARTED ))s; raw numbers: $RESULTS$([[ $KEEP == 1 ]] || echo ' (removed; --keep keeps them)')"
