# pass-fail.sh: sourced by the deploy checks that print one PASS or FAIL line per case and exit 1 when any failed
# (install-check.sh, redirect-tables-check.sh). They end with: exit "$failed".
failed=0

# pass NAME
pass() { echo "PASS $1"; }

# fail NAME [DETAIL...]: the case's line, then each detail indented under it
fail() {
    echo "FAIL $1"
    shift
    printf '        %s\n' "$@"
    failed=1
}
