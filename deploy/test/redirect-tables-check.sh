#!/bin/bash
# redirect-tables-check.sh: shadowproxy-redirect's status and remove against nat tables that list, that hold a rule,
# and that cannot be listed, without root or a kernel table: stand-in iptables and ip6tables first in PATH, each
# serving a nat table from a file (-S, -C, -D) or failing the way the real one fails.
#
# The case it was written for: a box with IPv6 and ip6tables whose kernel has no IPv6 nat table (no ip6table_nat
# module), where ip6tables says "can't initialize ip6tables table `nat': Table does not exist" and add could not
# have put an IPv6 rule. status and remove must take that for "no IPv6 rule" (and say so once), not fail; any other
# failure to list, and any failure to list the IPv4 table, must still fail them.
#
# Usage: deploy/test/redirect-tables-check.sh        Prints PASS or FAIL per case; exits 1 when any failed.
#        REDIRECT_HELPER=PATH runs another copy of the helper (an older one, to see a case fail).
# Needs a box with IPv6 (/proc/net/if_inet6): without it the helper never lists the IPv6 table.
set -uo pipefail

helper=${REDIRECT_HELPER:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/systemd/shadowproxy-redirect}
work=$(mktemp -d "${TMPDIR:-/tmp}/redirect-tables-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
. "$(dirname "${BASH_SOURCE[0]}")/pass-fail.sh"   # pass, fail, $failed

if [[ ! -e /proc/net/if_inet6 ]]; then
    echo "FAIL redirect-tables-check needs a box with IPv6 (/proc/net/if_inet6): the helper lists ip6tables only there"
    exit 1
fi

# The stand-in: TABLE.rules holds the table's "-A PREROUTING ..." lines; TABLE.fails, when present, is "EXIT MESSAGE"
# for every call; TABLE.waits, when present, is a line written to stderr before a listing that then succeeds (as the
# real one writes while it waits for the xtables lock).
mkdir -p "$work/bin"
cat >"$work/bin/iptables" <<'SH'
#!/bin/bash
table=$WORK/${0##*/}
args=" $* "
if [[ -e $table.fails ]]; then
    read -r rc message <"$table.fails"
    echo "$message" >&2
    exit "$rc"
fi
case $args in
    *" -S PREROUTING "*)
        [[ ! -e $table.waits ]] || cat "$table.waits" >&2
        echo "-P PREROUTING ACCEPT"
        cat "$table.rules" ;;
    *" -C "*)
        rule="-A ${args#* -C }"
        grep -qxF -- "${rule% }" "$table.rules" || exit 1 ;;
    *" -D "*)
        rule="-A ${args#* -D }"
        grep -qxF -- "${rule% }" "$table.rules" || exit 1
        grep -vxF -- "${rule% }" "$table.rules" >"$table.left"
        mv "$table.left" "$table.rules" ;;
    *) echo "stand-in ${0##*/}: unexpected $*" >&2; exit 2 ;;
esac
SH
chmod 0755 "$work/bin/iptables"
cp "$work/bin/iptables" "$work/bin/ip6tables"

rule='-A PREROUTING -i eth0 -p tcp -m tcp --dport 80 -m addrtype --dst-type LOCAL -m comment --comment shadowproxy-redirect -j REDIRECT --to-ports 8001'
other='-A PREROUTING -p tcp -m tcp --dport 8080 -j REDIRECT --to-ports 9000'
no_nat6="3 ip6tables v1.8.9 (legacy): can't initialize ip6tables table \`nat': Table does not exist (do you need to insmod?)"
no_nat4="3 iptables v1.8.9 (legacy): can't initialize iptables table \`nat': Table does not exist (do you need to insmod?)"
denied6="3 ip6tables v1.8.9 (legacy): can't initialize ip6tables table \`nat': Permission denied (you must be root)"
locked6="4 Another app is currently holding the xtables lock. Stopped waiting after 5s."

# tables IPV4 IPV6: each "rule", "none", or "fails:EXIT MESSAGE"; a table's rules also hold a rule that is not ours.
tables() {
    rm -f "$work"/ip*tables.*
    local name spec
    for name in iptables ip6tables; do
        spec=$1
        shift
        printf '%s\n' "$other" >"$work/$name.rules"
        case $spec in
            rule) printf '%s\n' "$rule" >>"$work/$name.rules" ;;
            fails:*) printf '%s\n' "${spec#fails:}" >"$work/$name.fails" ;;
        esac
    done
}

# run COMMAND: the helper with the stand-ins; sets rc, out, err.
run() {
    rc=0
    out=$(env WORK="$work" PATH="$work/bin:$PATH" "$helper" "$1" 2>"$work/err") || rc=$?
    err=$(cat "$work/err")
}

said_once() { [[ $(grep -c -- "$1" <<<"$err") == 1 ]]; }

# ---- no IPv6 nat table: no IPv6 rule can be there ------------------------------------------------------------------
tables none "fails:$no_nat6"
run status
if [[ $rc == 1 && -z $out ]] && said_once 'no IPv6 redirect can be in place' && said_once 'no redirect in place'; then
    pass "status, no IPv6 nat table and no IPv4 rule: no redirect (exit 1), the missing table said once"
else
    fail "status, no IPv6 nat table and no IPv4 rule: no redirect (exit 1), the missing table said once" "exit $rc" "$err"
fi

tables rule "fails:$no_nat6"
run status
if [[ $rc == 0 && $out == "$rule" ]] && said_once 'no IPv6 redirect can be in place'; then
    pass "status, no IPv6 nat table and an IPv4 rule: the rule (exit 0)"
else
    fail "status, no IPv6 nat table and an IPv4 rule: the rule (exit 0)" "exit $rc: $out" "$err"
fi

run remove
if [[ $rc == 0 && $(cat "$work/iptables.rules") == "$other" ]] && said_once 'no IPv6 redirect can be in place' &&
    said_once 'redirect removed (1 rule'; then
    pass "remove, no IPv6 nat table: removes the IPv4 rule (and no other) and succeeds"
else
    fail "remove, no IPv6 nat table: removes the IPv4 rule (and no other) and succeeds" "exit $rc" "$err" \
        "left: $(paste -sd'|' "$work/iptables.rules")"
fi

tables none "fails:$no_nat6"
run remove
if [[ $rc == 0 ]] && said_once 'no IPv6 redirect can be in place'; then
    pass "remove, no IPv6 nat table and no rule: a no-op that succeeds"
else
    fail "remove, no IPv6 nat table and no rule: a no-op that succeeds" "exit $rc" "$err"
fi

# ---- any other table that cannot be listed: an error, never "no rule" ---------------------------------------------
for case in "permission denied:$denied6" "the xtables lock held:$locked6"; do
    what=${case%%:*} failure=${case#*:}
    tables rule "fails:$failure"
    run status
    status_rc=$rc status_err=$err
    run remove
    if [[ $status_rc == 2 && $rc == 1 && $(cat "$work/iptables.rules") == "$other" ]] &&
        grep -q 'cannot list the nat rules (ipt6)' <<<"$err" && grep -qF -- "${failure#* }" <<<"$err"; then
        pass "ip6tables fails otherwise ($what): status exits 2; remove removes the IPv4 rule, then fails"
    else
        fail "ip6tables fails otherwise ($what): status exits 2; remove removes the IPv4 rule, then fails" \
            "status: exit $status_rc: $status_err" "remove: exit $rc: $err"
    fi
done

tables "fails:$no_nat4" none
run status
status_rc=$rc status_err=$err
run remove
if [[ $status_rc == 2 && $rc == 1 ]] && grep -q 'cannot list the nat rules (ipt)' <<<"$err"; then
    pass "no IPv4 nat table: status exits 2 and remove fails (IPv4 is never taken for no rule)"
else
    fail "no IPv4 nat table: status exits 2 and remove fails (IPv4 is never taken for no rule)" \
        "status: exit $status_rc: $status_err" "remove: exit $rc: $err"
fi

# ---- both tables there ---------------------------------------------------------------------------------------------
tables rule rule
echo "Another app is currently holding the xtables lock; still 4s 0us time ahead to have a chance to grab the lock..." \
    >"$work/ip6tables.waits"
run status
if [[ $rc == 0 && $out == "$rule"$'\n'"ipv6 $rule" ]] && said_once 'still 4s' && ! grep -q 'IPv6 redirect can' <<<"$err"; then
    pass "status, a rule in each table: both, the IPv6 one marked; a wait for the lock goes to stderr, not among the rules"
else
    fail "status, a rule in each table: both, the IPv6 one marked; a wait for the lock goes to stderr, not among the rules" \
        "exit $rc: $out" "$err"
fi

run remove
if [[ $rc == 0 && $(cat "$work/iptables.rules") == "$other" && $(cat "$work/ip6tables.rules") == "$other" ]] &&
    said_once 'redirect removed (2 rule'; then
    pass "remove, a rule in each table: both removed, no other rule"
else
    fail "remove, a rule in each table: both removed, no other rule" "exit $rc" "$err"
fi

exit "$failed"
