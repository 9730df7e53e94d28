#!/usr/bin/env bash
# Writes a made-up request-line log to stdout: a shadow running a new release in which /api/search got slower,
# /checkout sometimes answers 500, /api/cart returns different bodies, and a few shadow requests time out.
# Usage: make-sample-log.sh [text|json] [REQUESTS]   (default: json 5000). Deterministic: same seed, same log.
set -euo pipefail
format="${1:-json}"
requests="${2:-5000}"
case "$format" in text|json) ;; *) echo "make-sample-log.sh: format must be text or json" >&2; exit 2 ;; esac

awk -v format="$format" -v n="$requests" '
function seconds(ms) { return sprintf("%.3f", ms / 1000) }
function num(ms) { return ms == "" ? "null" : seconds(ms) }
function status(s) { return s == "" ? "-" : s }
function jstatus(s) { return s == "" ? "null" : s }
BEGIN {
  srand(42)
  split("/ /products /api/search /checkout /api/cart /api/users /static/app.js", paths, " ")
  # weights, out of 100
  split("10 30 20 8 12 10 10", weights, " ")
  for (i = 1; i <= n; i++) {
    r = rand() * 100; acc = 0
    for (p = 1; p <= 7; p++) { acc += weights[p]; if (r < acc) break }
    path = paths[p]; url = path; method = "GET"
    if (path == "/products") url = path "?id=" int(rand() * 500)
    if (path == "/api/search") url = path "?q=shoes&page=" int(rand() * 4)
    if (path == "/api/users") url = path "/" int(rand() * 50)
    if (path == "/checkout") method = "POST"
    prod = int(8 + rand() * 30 + (rand() < 0.02 ? 400 : 0))
    shadow = int(prod + rand() * 10 - 5)
    if (shadow < 1) shadow = 1
    if (path == "/api/search") shadow = int(prod + 100 + rand() * 60)
    ps = 200; ss = 200; diff = "same"; err = ""
    if (path == "/products" && rand() < 0.03) { ps = 404; ss = 404 }
    if (path == "/" ) { ps = 304; ss = 304 }
    if (path == "/checkout" && rand() < 0.08) { ss = 500; diff = "status" }
    if (path == "/api/cart" && rand() < 0.25) diff = "body"
    if (rand() < 0.005) { ss = ""; shadow = ""; diff = "shadow_error"; err = "timeout" }
    if (format == "text") {
      delta = shadow == "" ? "-" : seconds(shadow - prod)
      print url, seconds(prod), (shadow == "" ? "-" : seconds(shadow)), delta, status(ps), status(ss)
    } else {
      ts = sprintf("2026-11-26T10:%02d:%02d.%03dZ", int(i / 600) % 60, int(i / 10) % 60, (i * 37) % 1000)
      printf "{\"@timestamp\":\"%s\",\"method\":\"%s\",\"url\":\"%s\",\"production_status\":%s,\"shadow_status\":%s,", ts, method, url, ps, jstatus(ss)
      printf "\"production_time\":%s,\"shadow_time\":%s,\"delta\":%s,", num(prod), num(shadow), (shadow == "" ? "null" : seconds(shadow - prod))
      printf "\"production_bytes\":%d,\"shadow_bytes\":%d,\"production_error\":null,\"shadow_error\":%s,", 512 + length(url), (shadow == "" ? 0 : 512 + length(url) + (diff == "body" ? 3 : 0)), (err == "" ? "null" : "\"" err "\"")
      printf "\"status_match\":%s,\"body_match\":%s,\"diff\":\"%s\"}\n", (ps == ss ? "true" : "false"), (diff == "same" ? "true" : diff == "body" ? "false" : "null"), diff
    }
    if (i == int(n / 2)) print "ShadowProxy: listening on 0.0.0.0:8001"
  }
}'
