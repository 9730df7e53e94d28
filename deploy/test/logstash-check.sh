#!/bin/bash
# logstash-check.sh: the Logstash pipelines of deploy/logstash/ keep to their own events, read without Logstash (the
# box has none). Logstash runs every file of one pipeline as one (all of /etc/logstash/conf.d/ on a stock install):
# each filter and output sees every input's events. So a file placed beside others must mark its input's events and
# act on those only: its input adds "[@metadata][pipeline]" => "NAME" (NAME: the file's name without .conf), and its
# filter and output sections hold one statement each, `if [@metadata][pipeline] == "NAME" { ... }`.
#
# Usage: deploy/test/logstash-check.sh [FILE.conf...]     (default: deploy/logstash/*.conf)
# Prints PASS or FAIL per file; exits 1 when any failed. No root needed.
set -uo pipefail

if (($# == 0)); then
    set -- "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"/logstash/*.conf
fi
failed=0

# sections FILE: each top-level section as "NAME: TEXT", TEXT being what stands directly in it (nested blocks as {}),
# with comments gone and runs of white space made one space. Strings are kept whole, braces in them are no block.
sections() {
    awk '
        { text = text $0 "\n" }
        END {
            depth = 0; instr = 0; comment = 0; head = ""; top = ""
            for (i = 1; i <= length(text); i++) {
                c = substr(text, i, 1)
                if (comment) { if (c != "\n") continue; comment = 0 }
                if (instr) { if (depth == 1) top = top c; if (c == "\"") instr = 0; continue }
                if (c == "#") { comment = 1; continue }
                if (c == "\"") { instr = 1 }
                if (c == "{") {
                    depth++
                    if (depth == 1) { name = head; top = "" } else if (depth == 2) top = top "{"
                } else if (c == "}") {
                    depth--
                    if (depth == 1) top = top "}"
                    if (depth == 0) { print squeeze(name) ": " squeeze(top); head = "" }
                } else if (depth == 0) head = head c
                else if (depth == 1) top = top c
            }
        }
        function squeeze(s) { gsub(/[ \t\n]+/, " ", s); sub(/^ /, "", s); sub(/ $/, "", s); return s }' "$1"
}

for file in "$@"; do
    name=$(basename "$file" .conf)
    problems=()
    listing=$(sections "$file")
    guard="if [@metadata][pipeline] == \"$name\" {}"
    for section in filter output; do
        body=$(sed -n "s/^$section: //p" <<<"$listing")
        [[ $body == "$guard" ]] ||
            problems+=("$section holds \"$body\", not only $guard")
    done
    # The input's mark, anywhere in the input section's blocks (the file input's add_field).
    if ! tr -s ' \t\n' ' ' <"$file" | grep -qF "add_field => { \"[@metadata][pipeline]\" => \"$name\" }"; then
        problems+=("its input does not add \"[@metadata][pipeline]\" => \"$name\"")
    fi
    if ((${#problems[@]} == 0)); then
        echo "PASS $name: the filter and the output act on its own input's events only"
    else
        echo "FAIL $name: the filter and the output act on its own input's events only"
        printf '        %s\n' "${problems[@]}"
        failed=1
    fi
done

exit "$failed"
