#!/bin/bash
# bulkheadctl posture offline (--policy, --inventory, --date): the golden
# outputs of a fixture with every kind of finding a policy and an
# inventory can give (tests/policy/posture/host.*), byte-identical
# whatever the inventory's order; a clean fixture exits 0; usage errors
# and --cluster without a daemon exit 2. The live paths (daemon + Podman,
# cluster) are tests/e2e/posture_podman.t and cluster_posture.t.
. "$(dirname "$0")/../lib/tap.sh"
cd "$BH_TOP" || exit 1
command -v jq >/dev/null || skip_all "jq missing"
tmp=$(mktemp -d /tmp/bh-posture.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
F=tests/policy/posture

run() { "$BH_CTL" posture --policy "$F/$1.yaml" --inventory "$2" --date 2026-12-07 "${@:3}"; }

run host "$F/host.json" --json >"$tmp/host.json" 2>"$tmp/err"
is $? 1 "posture of the fixture exits 1: it has findings"
diff -u "$F/host.expect.json" "$tmp/host.json" >"$tmp/diff"
ok $? "posture --json equals the golden $F/host.expect.json"
[ -s "$tmp/diff" ] && sed 's/^/# /' "$tmp/diff" | head -30
run host "$F/host.json" >"$tmp/host.txt" 2>/dev/null
diff -u "$F/host.expect.txt" "$tmp/host.txt" >"$tmp/diff"
ok $? "posture text equals the golden $F/host.expect.txt"
[ -s "$tmp/diff" ] && sed 's/^/# /' "$tmp/diff" | head -30

is "$(jq -r '[.findings[].kind] | unique | join(" ")' "$tmp/host.json")" \
	"audit-expired cross-sensitivity-flow mixing unassigned world-egress" \
	"every kind a policy and an inventory can give is there"
is "$(jq -r '[.findings[] | select(.quote == "" or .section == "" or .what_to_do == "")] | length' "$tmp/host.json")" \
	0 "every finding has a section, a quote and what to do"
is "$(jq -r '.findings[] | select(.kind == "mixing") | .section' "$tmp/host.json")" \
	4.3.4 "mixing answers to 4.3.4"
is "$(jq -r '.findings[] | select(.kind == "world-egress") | .section' "$tmp/host.json" | sort -u)" \
	4.4.2 "world egress answers to 4.4.2"

# the same containers in another order: the same bytes
jq 'reverse' "$F/host.json" >"$tmp/rev.json"
run host "$tmp/rev.json" --json >"$tmp/rev.out" 2>/dev/null
cmp -s "$tmp/host.json" "$tmp/rev.out"
ok $? "the inventory's order does not change the output"

# a later date: the second audit group ran out too
run host "$F/host.json" --json --date 2027-02-01 2>/dev/null |
	jq -r '[.findings[] | select(.kind == "audit-expired") | .subjects[0]] | join(",")' >"$tmp/exp"
is "$(cat "$tmp/exp")" "metrics,batch" "--date 2027-02-01: both audits ran out"

run clean "$F/clean.json" >"$tmp/clean.txt" 2>&1
is $? 0 "a clean host exits 0"
grep -q ": 0 findings;" "$tmp/clean.txt"; ok $? "  and says 0 findings"

"$BH_CTL" --socket "$tmp/nosock" posture --cluster >"$tmp/out" 2>"$tmp/err"
is $? 2 "posture --cluster without a daemon exits 2"
grep -q "posture --cluster: " "$tmp/err"
ok $? "  saying why"
"$BH_CTL" posture --cluster --policy "$F/host.yaml" >/dev/null 2>"$tmp/err"
is $? 2 "posture --cluster with --policy exits 2"
"$BH_CTL" posture --bogus >/dev/null 2>&1; is $? 2 "an unknown option exits 2"
"$BH_CTL" posture --policy "$F/host.yaml" --date 2026-02-30 >/dev/null 2>&1
is $? 2 "a date that is not one exits 2"
"$BH_CTL" posture --inventory "$F/host.json" >/dev/null 2>&1
is $? 2 "--inventory without --policy exits 2"
"$BH_CTL" posture --policy tests/policy/bad/port_zero.yaml >/dev/null 2>"$tmp/err"
is $? 2 "a policy with errors exits 2"
grep -q "port_zero.yaml:.*error" "$tmp/err"; ok $? "  with its findings"
"$BH_CTL" --socket "$tmp/none.sock" posture >/dev/null 2>&1
is $? 2 "no daemon to ask exits 2"
done_testing
