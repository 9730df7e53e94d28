#!/usr/bin/env bash
# Browser check of `ShadowProxy report --html`: generates a report from a sample log, opens it in headless Chromium
# and fails (non-zero exit) unless the page loads with no console message at all (the page has no script, so any
# message is a blocked load or an error), the three charts are in the DOM with their bars, and the screenshot
# shows the bars' colours (they were painted, not only parsed).
#
# Usage: tests/browser/report-page.sh
#   SHADOWPROXY_DLL=path/ShadowProxy.dll   use this build instead of building src/ShadowProxy (CONFIGURATION, default Debug)
#   REPORT_PAGE_OUT=dir                    keep report.html, dom.html, screenshot.png and chromium.log there
# Needs root (or an installed chromium) on Debian: installs chromium and python3 with apt-get when missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
out="${REPORT_PAGE_OUT:-$work}"
mkdir -p "$out"

fail() { echo "report-page: FAIL: $*" >&2; exit 1; }

if ! command -v chromium >/dev/null; then
    echo "report-page: installing chromium" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if ! command -v python3 >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-minimal >/dev/null
fi

dll="${SHADOWPROXY_DLL:-}"
if [[ -z "$dll" ]]; then
    configuration="${CONFIGURATION:-Debug}"
    dotnet build "$root/src/ShadowProxy" -c "$configuration" -nologo -v quiet >&2
    dll="$root/src/ShadowProxy/bin/$configuration/net10.0/ShadowProxy.dll"
fi
[[ -f "$dll" ]] || fail "no ShadowProxy.dll at $dll"

# A json log and a text log, each with one line that is not a request line.
"$here/make-sample-log.sh" json 3000 > "$work/shadow.json.log"
"$here/make-sample-log.sh" text 1000 > "$work/shadow.text.log"
page="$out/report.html"
dotnet "$dll" report "$work/shadow.json.log" "$work/shadow.text.log" --html "$page" > "$out/report.txt" \
    || fail "report exited with $?"
grep -q '^Status: production' "$out/report.txt" || fail "no status matrix in the text report"
grep -q '^Malformed lines: 2$' "$out/report.txt" || fail "expected 2 malformed lines in the text report"
[[ -s "$page" ]] || fail "no page written"
if grep -Eiq '<script|<link|@import|url\(' "$page"; then fail "the page refers to something outside itself"; fi

browse() {   # browse PROFILE ARGS...: one headless run with a fresh profile; its log goes to $out/chromium-PROFILE.log
    local profile="$1"; shift
    timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run --user-data-dir="$work/profile-$profile" \
        --enable-logging=stderr --v=0 "$@" "file://$page" 2> "$out/chromium-$profile.log"
}
browse dom --dump-dom > "$out/dom.html" || fail "chromium --dump-dom failed (see $out/chromium-dom.log)"
browse shot --window-size=1280,3200 --screenshot="$out/screenshot.png" > /dev/null \
    || fail "chromium --screenshot failed (see $out/chromium-shot.log)"

# Console messages are logged as INFO:CONSOLE lines (errors, CSP violations, console.* calls).
if grep -h 'CONSOLE' "$out"/chromium-*.log; then fail "the page logged to the console"; fi

# Each chart is in the DOM the browser built, with bars in it.
for chart in status-chart delta-chart path-chart; do
    bars="$(python3 - "$out/dom.html" "$chart" <<'PY'
import re, sys
dom, chart = open(sys.argv[1], encoding="utf-8").read(), sys.argv[2]
match = re.search(r'<svg id="%s".*?</svg>' % re.escape(chart), dom, re.S)
print(len(re.findall(r"<rect ", match.group(0))) if match else -1)
PY
)"
    [[ "$bars" -gt 0 ]] || fail "$chart: $bars bars in the DOM"
    echo "report-page: $chart has $bars bars" >&2
done

# The bars were painted: the screenshot has enough pixels of the status, delta and per-path colours.
[[ -s "$out/screenshot.png" ]] || fail "no screenshot"
while read -r colour count; do
    [[ "$count" -ge 200 ]] || fail "colour #$colour: only $count pixels in the screenshot"
done < <(python3 "$here/png-colors.py" "$out/screenshot.png" 2e7d32 e4572e 1565c0 d84315)

echo "report-page: OK${REPORT_PAGE_OUT:+ (page, DOM, screenshot kept in $out)}" >&2
